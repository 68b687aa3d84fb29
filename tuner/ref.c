/* ref.c: fp64 references and comparisons (see ref.h). */
#include <math.h>
#include <string.h>

#include "kgen.h"
#include "ref.h"

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline uint16_t to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet NaN, sign kept */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

uint16_t ref_f32_to_bf16(float f)
{
	return to_bf16(f);
}

float ref_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

static inline uint16_t to_f16(float f)
{
	uint32_t x = f32_bits(f), sign = (x >> 16) & 0x8000u;
	x &= 0x7fffffffu;
	if (x > 0x7f800000u)
		return (uint16_t)(sign | 0x7e00u);
	if (x >= 0x477ff000u) /* >= 65520 rounds to infinity */
		return (uint16_t)(sign | 0x7c00u);
	if (x < 0x38800000u) /* below 2^-14: subnormal (or the smallest normal after rounding) */
		return (uint16_t)(sign | (uint32_t)nearbyintf(bits_f32(x) * 16777216.0f));
	x += 0xfffu + ((x >> 13) & 1u);
	return (uint16_t)(sign | ((x - 0x38000000u) >> 13));
}

uint16_t ref_f32_to_f16(float f)
{
	return to_f16(f);
}

float ref_f16_to_f32(uint16_t h)
{
	int e = (h >> 10) & 0x1f, m = h & 0x3ff;
	float v;
	if (e == 0)
		v = ldexpf((float)m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexpf((float)(1024 + m), e - 25);
	return (h & 0x8000) ? -v : v;
}

double ref_get(const void *buf, int dtype, size_t i)
{
	switch (dtype) {
	case KGEN_F32: return ((const float *)buf)[i];
	case KGEN_F16: return ref_f16_to_f32(((const uint16_t *)buf)[i]);
	default: return ref_bf16_to_f32(((const uint16_t *)buf)[i]);
	}
}

/* v rounded to dtype, stored (inline: the fill of every test tensor) */
static inline void store(void *buf, int dtype, size_t i, float v)
{
	switch (dtype) {
	case KGEN_F32: ((float *)buf)[i] = v; break;
	case KGEN_F16: ((uint16_t *)buf)[i] = to_f16(v); break;
	default: ((uint16_t *)buf)[i] = to_bf16(v); break;
	}
}

void ref_set(void *buf, int dtype, size_t i, double v)
{
	store(buf, dtype, i, (float)v);
}

double ref_rand_normal(uint64_t *s)
{
	double u1 = ((double)(ref_rand_u64(s) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = (double)(ref_rand_u64(s) >> 11) / 9007199254740992.0;
	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t ref_row_seed(uint64_t seed, uint64_t stream, long long row)
{
	uint64_t s = seed ^ (stream * 0xd1b54a32d192ed03ull) ^ ((uint64_t)row * 0x9e3779b97f4a7c15ull);
	return ref_rand_u64(&s);
}

void ref_fill_row(void *buf, int dtype, size_t off, long long n, double scale, uint64_t *state)
{
	/* Marsaglia's polar method in single precision (the values are stored
	 * as fp32 at most): one 64-bit draw gives both uniforms of a pair, and
	 * an accepted pair gives two normals for one log and one square root. */
	const float k = 2.0f / 16777216.0f, sc = (float)scale;
	for (long long c = 0; c < n; c += 2) {
		float u, v, s;
		do {
			uint64_t r = ref_rand_u64(state);
			u = (float)(r >> 40) * k - 1.0f;
			v = (float)((r >> 16) & 0xffffff) * k - 1.0f;
			s = u * u + v * v;
		} while (s >= 1.0f || s == 0.0f);
		s = sqrtf(-2.0f * logf(s) / s) * sc;
		store(buf, dtype, off + (size_t)c, u * s);
		if (c + 1 < n)
			store(buf, dtype, off + (size_t)c + 1, v * s);
	}
}

void ref_fill(void *buf, int dtype, long long rows, long long cols, long long ld,
              double scale, uint64_t *state)
{
	for (long long r = 0; r < rows; r++)
		ref_fill_row(buf, dtype, (size_t)(r * ld), cols, scale, state);
}

void ref_softmax_row(const double *x, double *y, long long n)
{
	double m = -INFINITY, s = 0;
	for (long long i = 0; i < n; i++)
		m = isnan(x[i]) || isnan(m) ? NAN : fmax(m, x[i]);
	for (long long i = 0; i < n; i++)
		s += (y[i] = exp(x[i] - m));
	for (long long i = 0; i < n; i++)
		y[i] /= s;
}

void ref_tolerance(int dtype, double *atol, double *rtol)
{
	switch (dtype) {
	case KGEN_F32: /* fp32 math: ex2.approx, one fma per exponent, fp32 sums */
		*atol = 1e-12;
		*rtol = 1e-5;
		break;
	case KGEN_F16: /* rounding to 11 significant bits: half an ulp is 2^-11 */
		*atol = 6e-8; /* half the subnormal spacing, 2^-25, with margin */
		*rtol = 1e-3;
		break;
	default: /* bf16: 8 significant bits, half an ulp is 2^-8 */
		*atol = 1e-12;
		*rtol = 8e-3;
		break;
	}
}

double ref_compare_row(const void *got, int dtype, const double *want, const double *scale, long long n,
                       long long *worst_col)
{
	double atol, rtol, worst = 0;
	ref_tolerance(dtype, &atol, &rtol);
	*worst_col = -1;
	for (long long i = 0; i < n; i++) {
		double g = ref_get(got, dtype, (size_t)i), w = want[i], e;
		if (isnan(w) || isnan(g))
			e = isnan(w) && isnan(g) ? 0 : INFINITY;
		else if (isinf(w) || isinf(g))
			e = g == w ? 0 : INFINITY;
		else
			e = fabs(g - w) / (atol + rtol * (scale ? scale[i] : fabs(w)));
		if (e > worst || *worst_col < 0) {
			worst = e;
			*worst_col = i;
		}
	}
	return worst;
}

int ref_sample_rows(long long rows, long long *out, int max)
{
	int n = 0, q = max / 4;
	if (rows <= max) {
		for (long long r = 0; r < rows; r++)
			out[n++] = r;
		return n;
	}
	for (int i = 0; i < q; i++)
		out[n++] = i;
	for (int i = 0; i < max - 2 * q; i++)
		out[n++] = q + (rows - 2 * q) * i / (max - 2 * q);
	for (int i = q; i > 0; i--)
		out[n++] = rows - i;
	return n;
}

double ref_compare_f32(float got, double want, double scale)
{
	double g = got;
	if (isnan(want) || isnan(g))
		return isnan(want) && isnan(g) ? 0 : INFINITY;
	if (isinf(want) || isinf(g))
		return g == want ? 0 : INFINITY;
	return fabs(g - want) / (1e-30 + 1e-4 * scale);
}

void ref_log_softmax_row(const double *x, double *y, double *scale, long long n)
{
	double m = -INFINITY, s = 0, lse;
	for (long long i = 0; i < n; i++)
		m = isnan(x[i]) || isnan(m) ? NAN : fmax(m, x[i]);
	for (long long i = 0; i < n; i++)
		s += exp(x[i] - m);
	lse = m + log(s);
	for (long long i = 0; i < n; i++) {
		y[i] = x[i] - lse;
		scale[i] = fabs(x[i]) + fabs(lse);
	}
}

void ref_softmax_bwd_row(const double *y, const double *dy, double *dx, double *scale, long long n)
{
	double dot = 0, mag = 0;
	for (long long i = 0; i < n; i++) {
		dot += y[i] * dy[i];
		mag += fabs(y[i] * dy[i]);
	}
	for (long long i = 0; i < n; i++) {
		dx[i] = y[i] * (dy[i] - dot);
		scale[i] = fabs(y[i]) * (fabs(dy[i]) + mag);
	}
}

void ref_log_softmax_bwd_row(const double *y, const double *dy, double *dx, double *scale, long long n)
{
	double sdy = 0, mag = 0;
	for (long long i = 0; i < n; i++) {
		sdy += dy[i];
		mag += fabs(dy[i]);
	}
	for (long long i = 0; i < n; i++) {
		dx[i] = dy[i] - exp(y[i]) * sdy;
		/* exp(y) in fp32 is off by about |y| ulps: count |y| in the scale */
		scale[i] = fabs(dy[i]) + exp(y[i]) * mag * (1 + fabs(y[i]));
	}
}

void ref_xent_denoms(const ref_xent *o, const long long *target, long long rows, long long cols, double d[4])
{
	double cnt = 0, sw = 0, w = 0;
	for (long long r = 0; r < rows; r++) {
		long long t = target[r];
		if (t == o->ignore_index)
			continue;
		cnt += 1;
		sw += o->weight && t >= 0 && t < cols ? o->weight[t] : 1;
	}
	for (long long c = 0; o->weight && c < cols; c++)
		w += o->weight[c];
	d[0] = o->weight ? sw : cnt;
	d[1] = cnt;
	d[2] = o->weight ? w : (double)cols;
	d[3] = d[0]; /* torch 2.x: the smoothing term has the nll term's denominator */
}

static double cap(const ref_xent *o, double x)
{
	return o->softcap > 0 ? o->softcap * tanh(x / o->softcap) : x;
}

void ref_xent_row(const ref_xent *o, const double d[4], const double *x, long long cols, long long t, double dl,
                  double *lse_out, double *loss, double *loss_scale, double *grad, double *grad_scale)
{
	const int valid = t != o->ignore_index, bad = valid && (t < 0 || t >= cols);
	double m = -INFINITY, s = 0, sz = 0, szabs = 0, lse, zt, wt, inv_nll = 1, inv_s = 1, inv_z = 1;
	for (long long c = 0; c < cols; c++) {
		double z = cap(o, x[c]);
		m = isnan(z) || isnan(m) ? NAN : fmax(m, z);
	}
	for (long long c = 0; c < cols; c++) {
		double z = cap(o, x[c]), w = o->weight ? o->weight[c] : 1;
		s += exp(z - m);
		sz += w * z;
		szabs += fabs(w * z);
	}
	lse = m + log(s);
	*lse_out = lse;
	zt = valid && !bad ? cap(o, x[t]) : 0;
	wt = o->weight && valid && !bad ? o->weight[t] : 1;
	if (o->reduction == 2) {
		inv_nll = 1 / d[0];
		inv_z = 1 / d[1];
		inv_s = 1 / d[3];
	} else if (o->reduction == 3) {
		inv_nll = inv_s = inv_z = o->inv_den;
	}
	*loss = wt * (1 - o->eps) * (lse - zt) * inv_nll;
	*loss_scale = fabs(wt * (1 - o->eps) * inv_nll) * (fabs(lse) + fabs(zt) + 1);
	if (o->eps > 0) {
		*loss += o->eps / (double)cols * (lse * d[2] - sz) * inv_s;
		*loss_scale += o->eps / (double)cols * (fabs(lse * d[2]) + szabs) * inv_s;
	}
	if (o->zloss > 0) {
		*loss += o->zloss * lse * lse * inv_z;
		*loss_scale += o->zloss * lse * lse * inv_z * 2;
	}
	if (!valid)
		*loss = *loss_scale = 0;
	if (bad)
		*loss = NAN;
	if (!grad)
		return;
	{
		const double ca = valid ? (bad ? NAN : wt * (1 - o->eps) * inv_nll * dl) : 0;
		const double cb = valid && o->eps > 0 ? o->eps / (double)cols * inv_s * dl : 0;
		const double cg = valid && o->zloss > 0 ? 2 * o->zloss * inv_z * dl * lse : 0;
		const double kp = ca + cb * d[2] + cg, kabs = fabs(ca) + fabs(cb * d[2]) + fabs(cg);
		for (long long c = 0; c < cols; c++) {
			double z = cap(o, x[c]), p = exp(z - lse), w = o->weight ? o->weight[c] : 1;
			/* p = exp(z - lse) in fp32 is off by about (|z - lse| + |lse|) ulps: lse
			 * itself is an fp32 value (torch's fp32 log_softmax shares this) */
			double g = p * kp - cb * w - (c == t ? ca : 0),
			       sc = p * kabs * (1 + fabs(z - lse) + fabs(lse)) + fabs(cb * w) + (c == t ? fabs(ca) : 0);
			if (o->softcap > 0) {
				double dz = 1 - (z / o->softcap) * (z / o->softcap);
				g *= dz;
				sc *= fabs(dz) + 0.05; /* fp32 computes dz with cancellation near saturation */
			}
			grad[c] = valid ? g : 0;
			grad_scale[c] = valid ? sc : 0;
		}
	}
}
