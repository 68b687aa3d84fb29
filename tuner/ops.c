/* ops.c: test problems, references and checks for every op (see ops.h). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "ops.h"

static double uniform(uint64_t *s)
{
	return (double)(ref_rand_u64(s) >> 11) / 9007199254740992.0;
}

/* A parallel loop over [0, n): threads take chunks of rows until none is
 * left. Every row's work depends on the row alone (its random stream is
 * ref_row_seed's), so the result does not depend on the thread count. */
typedef void (*par_fn)(void *arg, long long i0, long long i1);

typedef struct par {
	long long n, next, chunk;
	par_fn fn;
	void *arg;
	pthread_mutex_t lock;
} par;

static void *par_worker(void *v)
{
	par *q = v;
	for (;;) {
		long long i0;
		pthread_mutex_lock(&q->lock);
		i0 = q->next;
		q->next = i0 + q->chunk < q->n ? i0 + q->chunk : q->n;
		pthread_mutex_unlock(&q->lock);
		if (i0 >= q->n)
			return NULL;
		q->fn(q->arg, i0, i0 + q->chunk < q->n ? i0 + q->chunk : q->n);
	}
}

int op_threads(int want)
{
	long n = want > 0 ? want : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > OPS_MAX_THREADS ? OPS_MAX_THREADS : (int)n;
}

static void par_for(int threads, long long n, par_fn fn, void *arg)
{
	pthread_t th[OPS_MAX_THREADS];
	par q = {n, 0, 1, fn, arg, PTHREAD_MUTEX_INITIALIZER};
	int nth = op_threads(threads), started = 0;
	if (nth > n)
		nth = (int)n;
	if (nth <= 1) {
		if (n > 0)
			fn(arg, 0, n);
		return;
	}
	/* about eight chunks per thread: an even finish without much locking */
	q.chunk = n / (8LL * nth) > 0 ? n / (8LL * nth) : 1;
	for (int i = 0; i < nth - 1; i++, started++)
		if (pthread_create(&th[i], NULL, par_worker, &q))
			break;
	par_worker(&q); /* this thread works too (and alone if none started) */
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&q.lock);
}

/* The random streams of a problem's tensors (ref_row_seed). */
enum { STREAM_IN0 = 1, STREAM_IN1, STREAM_FILL };

/* The inputs of rows [r0, r1): forward ops' logits per fill mode, backward
 * ops' y (positive values summing to about 1; their logs for log-softmax)
 * and dy (normal). Padding columns are zeroed. */
static void fill_rows(void *arg, long long r0, long long r1)
{
	op_data *d = arg;
	const op_problem *p = &d->p;
	const size_t es = (size_t)kg_dtype_size(p->dtype);
	const long long ld = p->ld_in;
	const double big = p->dtype == KGEN_F16 ? 20000.0 : 1000.0;
	const int bwd = p->op == KG_SOFTMAX_BWD || p->op == KG_LOGSOFTMAX_BWD;
	for (long long r = r0; r < r1; r++) {
		const size_t off = (size_t)(r * ld);
		uint64_t s0 = ref_row_seed(p->seed, STREAM_IN0, r), s1 = ref_row_seed(p->seed, STREAM_IN1, r);
		if (ld > p->cols) {
			memset((char *)d->h_in0 + (off + (size_t)p->cols) * es, 0, (size_t)(ld - p->cols) * es);
			if (d->h_in1)
				memset((char *)d->h_in1 + (off + (size_t)p->cols) * es, 0, (size_t)(ld - p->cols) * es);
		}
		if (bwd) {
			for (long long c = 0; c < p->cols; c++) {
				double y = (uniform(&s0) * 2 + 1e-3) / (double)p->cols;
				ref_set(d->h_in0, p->dtype, off + (size_t)c, p->op == KG_SOFTMAX_BWD ? y : log(y));
			}
			ref_fill_row(d->h_in1, p->dtype, off, p->cols, 1.0, &s1);
			continue;
		}
		if (p->fill == 1) {
			for (long long c = 0; c < p->cols; c++)
				ref_set(d->h_in0, p->dtype, off + (size_t)c, (uniform(&s0) * 2 - 1) * big);
			continue;
		}
		ref_fill_row(d->h_in0, p->dtype, off, p->cols, 3.0, &s0);
		if (p->fill == 2 && r % 3 == 1) {
			for (long long c = 0; c < p->cols; c++)
				ref_set(d->h_in0, p->dtype, off + (size_t)c, -INFINITY);
		} else if (p->fill == 3 && r % 3 == 1) {
			ref_set(d->h_in0, p->dtype, off + (size_t)(r % p->cols), INFINITY);
		} else if (p->fill == 4 && r % 3 == 1) {
			for (long long c = 0; c < p->cols * 2 / 3; c++)
				ref_set(d->h_in0, p->dtype, off + (size_t)c, -INFINITY);
		} else if (p->fill == 5 && r % 3 != 0) {
			/* masked as attention masks are: the dtype's lowest finite
			 * value over the first two thirds of a row, or (softmax and
			 * log-softmax) over all of it */
			const double lowest = p->dtype == KGEN_F16 ? -65504.0 : p->dtype == KGEN_BF16 ? -3.3895313892515355e38
			                                                                             : -3.4028234663852886e38;
			const long long n = r % 3 == 2 && !kg_ops[p->op].xent ? p->cols : p->cols * 2 / 3;
			for (long long c = 0; c < n; c++)
				ref_set(d->h_in0, p->dtype, off + (size_t)c, lowest);
		}
	}
}

/* The reference on the sampled rows [i0, i1) of d->sample. */
typedef struct ref_arg {
	op_data *d;
	ref_xent o;
	double den[4];
	double *loss, *loss_scale; /* every row (total_ok) */
	int fail;
} ref_arg;

static void ref_sampled(void *arg, long long i0, long long i1)
{
	ref_arg *ra = arg;
	op_data *d = ra->d;
	const op_problem *p = &d->p;
	double *xr = malloc(sizeof *xr * (size_t)p->cols), *yr = malloc(sizeof *yr * (size_t)p->cols);
	if (!xr || !yr) {
		ra->fail = 1; /* a plain store: any thread's failure fails the whole */
		goto out;
	}
	for (long long i = i0; i < i1; i++) {
		long long rr = d->sample[i];
		double *w = d->want + (size_t)i * (size_t)p->cols, *sc = d->scale + (size_t)i * (size_t)p->cols;
		const size_t off = (size_t)(rr % d->h_rows * p->ld_in);
		for (long long c = 0; c < p->cols; c++) {
			xr[c] = ref_get(d->h_in0, p->dtype, off + (size_t)c);
			if (d->h_in1)
				yr[c] = ref_get(d->h_in1, p->dtype, off + (size_t)c);
		}
		switch (p->op) {
		case KG_SOFTMAX_FWD:
			ref_softmax_row(xr, w, p->cols);
			for (long long c = 0; c < p->cols; c++)
				sc[c] = fabs(w[c]);
			break;
		case KG_LOGSOFTMAX_FWD: ref_log_softmax_row(xr, w, sc, p->cols); break;
		case KG_SOFTMAX_BWD: ref_softmax_bwd_row(xr, yr, w, sc, p->cols); break;
		case KG_LOGSOFTMAX_BWD: ref_log_softmax_bwd_row(xr, yr, w, sc, p->cols); break;
		default: {
			/* reduction none: the per-row dloss; else the scalar 0.75 */
			double dl = p->reduction == KGEN_REDUCTION_NONE ? d->h_dloss[rr] : 0.75;
			ref_xent_row(&ra->o, ra->den, xr, p->cols, d->h_target[rr], dl, &d->want_lse[i], &d->want_loss[i],
			             &d->loss_scale[i], p->op == KG_XENT_FWD ? NULL : w, sc);
		}
		}
	}
out:
	free(xr);
	free(yr);
}

/* Rows [r0, r1)' logsumexp (bwd's input; from the tile's rows, a row's
 * lse is its tile row's) and, with ra->loss, loss. */
static void ref_all_rows(void *arg, long long r0, long long r1)
{
	ref_arg *ra = arg;
	op_data *d = ra->d;
	const op_problem *p = &d->p;
	double *xr = malloc(sizeof *xr * (size_t)p->cols);
	if (!xr) {
		ra->fail = 1;
		return;
	}
	for (long long rr = r0; rr < r1; rr++) {
		double lse, loss, ls;
		const size_t off = (size_t)(rr % d->h_rows * p->ld_in);
		for (long long c = 0; c < p->cols; c++)
			xr[c] = ref_get(d->h_in0, p->dtype, off + (size_t)c);
		ref_xent_row(&ra->o, ra->den, xr, p->cols, d->h_target[rr], 1, &lse, &loss, &ls, NULL, NULL);
		if (d->h_lse)
			d->h_lse[rr] = (float)lse;
		if (ra->loss) {
			ra->loss[rr] = loss;
			ra->loss_scale[rr] = ls;
		}
	}
	free(xr);
}

size_t op_problem_bytes(const op_problem *p)
{
	size_t in = (size_t)p->rows * (size_t)p->cols * (size_t)kg_dtype_size(p->dtype);
	return in * (size_t)(kg_ops[p->op].inputs + (p->op == KG_XENT_FWD ? 0 : 1));
}

int op_data_host(op_data *d, const op_problem *prob)
{
	const kg_opinfo *info = &kg_ops[prob->op];
	op_problem *p = &d->p;
	uint64_t seed;
	size_t es, in_n;
	memset(d, 0, sizeof *d);
	*p = *prob;
	if (!p->seed)
		p->seed = 1;
	if (!p->ld_in)
		p->ld_in = p->cols;
	if (!p->ld_out)
		p->ld_out = p->inplace ? p->ld_in : p->cols;
	if (p->reduction < 0)
		p->reduction = p->op == KG_XENT_FWD ? KGEN_REDUCTION_NONE : KGEN_REDUCTION_MEAN;
	es = (size_t)kg_dtype_size(p->dtype);
	d->in_bytes = (size_t)p->rows * (size_t)p->cols * es;
	d->bytes = op_problem_bytes(p);

	d->h_rows = p->rows < OPS_TILE_ROWS ? p->rows : OPS_TILE_ROWS;
	in_n = (size_t)(d->h_rows * p->ld_in);
	if (!(d->h_in0 = malloc(in_n * es)) || (info->inputs > 1 && !(d->h_in1 = malloc(in_n * es))))
		return kg_err(KGEN_ENOMEM, "out of host memory for the test data");
	par_for(p->threads, d->h_rows, fill_rows, d);
	seed = ref_row_seed(p->seed, STREAM_FILL, 0);
	if (info->xent) {
		if (!(d->h_target = malloc(sizeof *d->h_target * (size_t)p->rows)))
			return kg_err(KGEN_ENOMEM, "out of host memory");
		for (long long rr = 0; rr < p->rows; rr++) {
			double u = uniform(&seed);
			long long t = (long long)(uniform(&seed) * (double)p->cols);
			if (u < p->ignore_frac)
				t = -100;
			else if (u < p->ignore_frac + p->bad_frac)
				t = rr % 2 ? p->cols + rr % 7 : -1 - rr % 5;
			d->h_target[rr] = t;
			d->want_bad += t != -100 && (t < 0 || t >= p->cols);
		}
		if (p->opts & KG_XO_WEIGHT) {
			if (!(d->h_weight = malloc(sizeof *d->h_weight * (size_t)p->cols)))
				return kg_err(KGEN_ENOMEM, "out of host memory");
			for (long long c = 0; c < p->cols; c++)
				d->h_weight[c] = (double)(float)(0.5 + uniform(&seed));
		}
		/* dloss: per row in [0.5, 1.5], or one scalar 0.75 */
		d->n_dloss = p->reduction == KGEN_REDUCTION_NONE ? (size_t)p->rows : 1;
		if (!(d->h_dloss = malloc(sizeof *d->h_dloss * d->n_dloss)))
			return kg_err(KGEN_ENOMEM, "out of host memory");
		for (size_t i = 0; i < d->n_dloss; i++)
			d->h_dloss[i] = d->n_dloss > 1 ? (float)(0.5 + uniform(&seed)) : 0.75f;
	}

	/* The reference on a sample of rows. */
	d->ns = ref_sample_rows(p->rows, d->sample, OPS_SAMPLE_ROWS);
	size_t cells = (size_t)d->ns * (size_t)p->cols;
	d->want = calloc(cells ? cells : 1, sizeof *d->want); /* xent fwd writes no rows */
	d->scale = calloc(cells ? cells : 1, sizeof *d->scale);
	d->want_lse = calloc((size_t)d->ns, sizeof *d->want_lse);
	d->want_loss = calloc((size_t)d->ns, sizeof *d->want_loss);
	d->loss_scale = calloc((size_t)d->ns, sizeof *d->loss_scale);
	if (!d->want || !d->scale || !d->want_lse || !d->want_loss || !d->loss_scale)
		return kg_err(KGEN_ENOMEM, "out of host memory for the reference");
	ref_arg ra = {d, {d->h_weight, p->opts & KG_XO_SMOOTH ? (double)(float)p->eps : 0,
	                  p->opts & KG_XO_ZLOSS ? (double)(float)p->zloss : 0,
	                  p->opts & KG_XO_SOFTCAP ? (double)(float)p->softcap : 0, -100, p->reduction,
	                  p->reduction == KGEN_REDUCTION_SUM_OVER ? (double)(float)(1.0 / p->denominator) : 1.0},
	              {1, 1, (double)p->cols, 1}, NULL, NULL, 0};
	if (info->xent)
		ref_xent_denoms(&ra.o, d->h_target, p->rows, p->cols, ra.den);
	par_for(p->threads, d->ns, ref_sampled, &ra);
	if (info->xent && p->reduction != KGEN_REDUCTION_NONE && p->op != KG_XENT_BWD &&
	    (double)p->rows * (double)p->cols <= 3.4e7) {
		/* the reduced loss over every row: summed in row order */
		d->total_ok = 1;
		ra.loss = malloc(sizeof *ra.loss * (size_t)p->rows);
		ra.loss_scale = malloc(sizeof *ra.loss_scale * (size_t)p->rows);
		if (ra.loss && ra.loss_scale)
			par_for(p->threads, p->rows, ref_all_rows, &ra);
		else
			ra.fail = 1;
		for (long long rr = 0; !ra.fail && rr < p->rows; rr++) {
			d->want_total += ra.loss[rr];
			d->total_scale += ra.loss_scale[rr];
		}
		free(ra.loss);
		free(ra.loss_scale);
		ra.loss = ra.loss_scale = NULL;
		if (p->reduction == KGEN_REDUCTION_MEAN && ra.den[1] == 0)
			d->want_total = NAN;
	}
	if (p->op == KG_XENT_BWD) {
		/* bwd takes the forward's logsumexp: every row's, in fp32 (the
		 * tile's rows', repeated as the inputs are) */
		if (!(d->h_lse = malloc(sizeof *d->h_lse * (size_t)p->rows)))
			return kg_err(KGEN_ENOMEM, "out of host memory");
		par_for(p->threads, d->h_rows, ref_all_rows, &ra);
		for (long long rr = d->h_rows; rr < p->rows; rr++)
			d->h_lse[rr] = d->h_lse[rr % d->h_rows];
	}
	return ra.fail ? kg_err(KGEN_ENOMEM, "out of host memory for the reference") : 0;
}

/* The host tile to dev, then repeated down the rows on the device on
 * stream s: each copy doubles the rows that hold data. A copy from
 * pageable memory may return before its data reach the device, and the
 * tuner's stream does not wait for the legacy stream the copy runs on: the
 * context is synchronized before anything on s reads the tile. */
static CUresult upload_tiled(const op_data *d, CUdeviceptr dev, const void *host, CUstream s)
{
	const size_t row = (size_t)d->p.ld_in * (size_t)kg_dtype_size(d->p.dtype);
	CUresult r = kg_cu.cuMemcpyHtoD(dev, host, (size_t)d->h_rows * row);
	if (!r)
		r = kg_cu.cuCtxSynchronize();
	for (long long have = d->h_rows; !r && have < d->p.rows;) {
		long long n = have < d->p.rows - have ? have : d->p.rows - have;
		r = kg_cu.cuMemcpyDtoDAsync(dev + (CUdeviceptr)((size_t)have * row), dev, (size_t)n * row, s);
		have += n;
	}
	return r;
}

/* Device copies of the host data, and the arguments as the runtime fills them. */
static int op_data_upload(op_data *d)
{
	const kg_opinfo *info = &kg_ops[d->p.op];
	const op_problem *p = &d->p;
	size_t es = (size_t)kg_dtype_size(p->dtype);
	size_t in_n = (size_t)(p->rows * p->ld_in), out_n = (size_t)(p->rows * p->ld_out);
	CUresult r;
	if ((r = kg_cu.cuMemAlloc(&d->d_in0, in_n * es)) || (d->h_in1 && (r = kg_cu.cuMemAlloc(&d->d_in1, in_n * es))))
		return kg_cu_fail("cuMemAlloc (inputs)", r);
	if ((r = upload_tiled(d, d->d_in0, d->h_in0, NULL)) || (d->h_in1 && (r = upload_tiled(d, d->d_in1, d->h_in1, NULL))) ||
	    (r = kg_cu.cuCtxSynchronize()))
		return kg_cu_fail("uploading the inputs", r);
	if ((r = kg_cu.cuMemAlloc(&d->d_xg, KG_XG_BYTES)) || (r = kg_cu.cuMemsetD8(d->d_xg, 0, KG_XG_BYTES)))
		return kg_cu_fail("cuMemAlloc (exchange area)", r);
	if (p->op != KG_XENT_FWD) {
		if (p->inplace)
			d->d_out = d->d_in0;
		else if ((r = kg_cu.cuMemAlloc(&d->d_out, out_n * es)))
			return kg_cu_fail("cuMemAlloc (output)", r);
	}
	if (info->xent) {
		size_t tsz = p->opts & KG_XO_I32 ? 4 : 8;
		void *ht = malloc(tsz * (size_t)p->rows);
		float *hw = NULL;
		size_t nl = d->n_dloss;
		if (!ht)
			return kg_err(KGEN_ENOMEM, "out of host memory");
		for (long long rr = 0; rr < p->rows; rr++) {
			if (tsz == 4)
				((int *)ht)[rr] = (int)d->h_target[rr];
			else
				((long long *)ht)[rr] = d->h_target[rr];
		}
		r = kg_cu.cuMemAlloc(&d->d_target, tsz * (size_t)p->rows);
		if (!r)
			r = kg_cu.cuMemcpyHtoD(d->d_target, ht, tsz * (size_t)p->rows);
		free(ht);
		if (r)
			return kg_cu_fail("cuMemAlloc (targets)", r);
		if (d->h_weight) {
			if (!(hw = malloc(sizeof *hw * (size_t)p->cols)))
				return kg_err(KGEN_ENOMEM, "out of host memory");
			for (long long c = 0; c < p->cols; c++)
				hw[c] = (float)d->h_weight[c];
			r = kg_cu.cuMemAlloc(&d->d_weight, sizeof *hw * (size_t)p->cols);
			if (!r)
				r = kg_cu.cuMemcpyHtoD(d->d_weight, hw, sizeof *hw * (size_t)p->cols);
			free(hw);
			if (r)
				return kg_cu_fail("cuMemAlloc (weights)", r);
		}
		if ((r = kg_cu.cuMemAlloc(&d->d_loss, 4 * (nl > 1 ? nl : 2))) ||
		    (r = kg_cu.cuMemAlloc(&d->d_lse, 4 * (size_t)p->rows)) || (r = kg_cu.cuMemAlloc(&d->d_bad, 8)) ||
		    (r = kg_cu.cuMemAlloc(&d->d_scratch, KGEN_XENT_WORKSPACE_BYTES)) ||
		    (r = kg_cu.cuMemAlloc(&d->d_dloss, 4 * nl)))
			return kg_cu_fail("cuMemAlloc (losses)", r);
		/* the prep kernel's accumulators and CTA counter start at zero (it leaves them so) */
		if ((r = kg_cu.cuMemsetD8(d->d_scratch, 0, KGEN_XENT_WORKSPACE_BYTES)))
			return kg_cu_fail("cuMemsetD8 (scratch)", r);
		if ((r = kg_cu.cuMemcpyHtoD(d->d_dloss, d->h_dloss, 4 * nl)))
			return kg_cu_fail("cuMemcpyHtoD (dloss)", r);
		if (d->h_lse && (r = kg_cu.cuMemcpyHtoD(d->d_lse, d->h_lse, 4 * (size_t)p->rows)))
			return kg_cu_fail("cuMemcpyHtoD (lse)", r);
	}

	d->a.out = (void *)(uintptr_t)d->d_out;
	d->a.in0 = (void *)(uintptr_t)d->d_in0;
	d->a.in1 = (void *)(uintptr_t)d->d_in1;
	d->a.target = (void *)(uintptr_t)d->d_target;
	d->a.weight = (float *)(uintptr_t)d->d_weight;
	d->a.loss = p->op == KG_XENT_BWD ? NULL : (float *)(uintptr_t)d->d_loss;
	d->a.lse = (float *)(uintptr_t)d->d_lse;
	d->a.dloss = (float *)(uintptr_t)d->d_dloss;
	d->a.bad = (unsigned long long *)(uintptr_t)d->d_bad;
	d->a.scratch = (float *)(uintptr_t)d->d_scratch;
	d->a.xg = (unsigned *)(uintptr_t)d->d_xg;
	d->a.rows = p->rows;
	d->a.ld_out = p->ld_out;
	d->a.ld_in0 = d->a.ld_in1 = p->ld_in;
	d->a.ignore_index = -100;
	d->a.eps = p->opts & KG_XO_SMOOTH ? (float)p->eps : 0.f;
	d->a.zloss = p->opts & KG_XO_ZLOSS ? (float)p->zloss : 0.f;
	d->a.softcap = p->opts & KG_XO_SOFTCAP ? (float)p->softcap : 0.f;
	d->a.inv_den = p->reduction == KGEN_REDUCTION_SUM_OVER ? (float)(1.0 / p->denominator) : 1.f;
	d->a.reduction = p->reduction;
	d->with_prep = kg_xent_with_prep(p->op, p->opts, p->reduction, p->rows);
	return 0;
}

int op_data_make(op_data *d, const op_problem *p)
{
	int rc = op_data_host(d, p);
	return rc ? rc : op_data_upload(d);
}

void op_data_free(op_data *d)
{
	CUdeviceptr *ptrs[] = {&d->d_in0, &d->d_in1, &d->d_out, &d->d_target, &d->d_weight,
	                       &d->d_loss, &d->d_lse, &d->d_dloss, &d->d_bad, &d->d_scratch, &d->d_xg};
	if (d->p.inplace)
		d->d_out = 0;
	for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++)
		if (*ptrs[i])
			kg_cu.cuMemFree(*ptrs[i]);
	free(d->h_in0);
	free(d->h_in1);
	free(d->h_target);
	free(d->h_weight);
	free(d->want);
	free(d->scale);
	free(d->want_lse);
	free(d->want_loss);
	free(d->loss_scale);
	free(d->h_dloss);
	free(d->h_lse);
	free(d->h_got);
	memset(d, 0, sizeof *d);
}

int op_data_reset(op_data *d, CUstream s)
{
	size_t es = (size_t)kg_dtype_size(d->p.dtype);
	CUresult r = CUDA_SUCCESS;
	if (d->p.inplace)
		r = upload_tiled(d, d->d_in0, d->h_in0, s);
	else if (d->d_out)
		r = kg_cu.cuMemsetD8Async(d->d_out, 0xff, (size_t)(d->p.rows * d->p.ld_out) * es, s);
	if (!r && d->d_loss && d->p.op != KG_XENT_BWD)
		r = kg_cu.cuMemsetD8Async(d->d_loss, 0xff, 4 * (d->p.reduction ? 2 : (size_t)d->p.rows), s);
	if (!r && d->d_lse && d->p.op != KG_XENT_BWD)
		r = kg_cu.cuMemsetD8Async(d->d_lse, 0xff, 4 * (size_t)d->p.rows, s);
	if (!r && d->d_bad)
		r = kg_cu.cuMemsetD8Async(d->d_bad, 0, 8, s);
	return r ? kg_cu_fail("op_data_reset", r) : 0;
}

int op_data_launch(op_data *d, const kg_launch *l, CUstream s)
{
	return kg_launch_rows(l, &d->a, d->with_prep, s);
}

/* Compare the sampled output rows [i0, i1) (copied to d->h_got) with the reference. */
typedef struct cmp_arg {
	op_data *d;
	double *err;
	long long *col;
} cmp_arg;

static void compare_rows(void *arg, long long i0, long long i1)
{
	cmp_arg *ca = arg;
	op_data *d = ca->d;
	const size_t cols = (size_t)d->p.cols, es = (size_t)kg_dtype_size(d->p.dtype);
	for (long long i = i0; i < i1; i++)
		ca->err[i] = ref_compare_row((const char *)d->h_got + (size_t)i * cols * es, d->p.dtype,
		                             d->want + (size_t)i * cols, d->scale + (size_t)i * cols, d->p.cols, &ca->col[i]);
}

int op_data_check(op_data *d, double *max_err, char *detail, size_t len)
{
	const op_problem *p = &d->p;
	size_t es = (size_t)kg_dtype_size(p->dtype), rowb = es * (size_t)p->cols;
	double err[OPS_SAMPLE_ROWS];
	long long cols[OPS_SAMPLE_ROWS];
	CUresult r;
	*max_err = 0;
	if ((r = kg_cu.cuCtxSynchronize()))
		return kg_cu_fail("kernel", r);
	if (p->op != KG_XENT_FWD) {
		/* the sampled rows to the host, then compared on every core */
		cmp_arg ca = {d, err, cols};
		if (!d->h_got && !(d->h_got = malloc(rowb * (size_t)(d->ns > 0 ? d->ns : 1))))
			return kg_err(KGEN_ENOMEM, "out of host memory");
		for (int i = 0; i < d->ns; i++)
			if ((r = kg_cu.cuMemcpyDtoH((char *)d->h_got + (size_t)i * rowb,
			                            d->d_out + (CUdeviceptr)((size_t)(d->sample[i] * p->ld_out) * es), rowb)))
				return kg_cu_fail("cuMemcpyDtoH (output)", r);
		par_for(p->threads, d->ns, compare_rows, &ca);
	}
	for (int i = 0; i < d->ns; i++) {
		long long rr = d->sample[i];
		double e;
		if (p->op != KG_XENT_FWD) {
			e = err[i];
			if (e > *max_err) {
				*max_err = e;
				if (e > 1)
					snprintf(detail, len, "row %lld col %lld: got %.9g, want %.9g", rr, cols[i],
					         ref_get((const char *)d->h_got + (size_t)i * rowb, p->dtype, (size_t)cols[i]),
					         d->want[(size_t)i * (size_t)p->cols + (size_t)cols[i]]);
			}
		}
		if (p->op == KG_XENT_FWD || p->op == KG_XENT_FUSED) {
			float lse, loss;
			kg_cu.cuMemcpyDtoH(&lse, d->d_lse + (CUdeviceptr)(4 * rr), 4);
			e = ref_compare_f32(lse, d->want_lse[i], fabs(d->want_lse[i]) + 1);
			if (e > *max_err) {
				*max_err = e;
				if (e > 1)
					snprintf(detail, len, "row %lld: lse %.9g, want %.9g", rr, lse, d->want_lse[i]);
			}
			if (p->reduction == KGEN_REDUCTION_NONE) {
				kg_cu.cuMemcpyDtoH(&loss, d->d_loss + (CUdeviceptr)(4 * rr), 4);
				e = ref_compare_f32(loss, d->want_loss[i], d->loss_scale[i]);
				if (e > *max_err) {
					*max_err = e;
					if (e > 1)
						snprintf(detail, len, "row %lld: loss %.9g, want %.9g", rr, loss, d->want_loss[i]);
				}
			}
		}
	}
	if (d->total_ok) {
		float total;
		double e;
		kg_cu.cuMemcpyDtoH(&total, d->d_loss, 4);
		e = ref_compare_f32(total, d->want_total, d->total_scale + 1e-30);
		if (e > *max_err) {
			*max_err = e;
			if (e > 1)
				snprintf(detail, len, "reduced loss %.9g, want %.9g", total, d->want_total);
		}
	}
	if (d->d_bad) {
		unsigned long long bad;
		kg_cu.cuMemcpyDtoH(&bad, d->d_bad, 8);
		if (p->op != KG_XENT_BWD && bad != d->want_bad) {
			*max_err = INFINITY;
			snprintf(detail, len, "bad-target count %llu, want %llu", bad, d->want_bad);
		}
	}
	return 0;
}
