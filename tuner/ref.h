/* ref.h: fp64 CPU references, element conversions, random data and the
 * comparison every kernel passes before it is timed or cached. */
#ifndef KGEN_REF_H
#define KGEN_REF_H

#include <stddef.h>
#include <stdint.h>

/* Round-to-nearest-even conversions, as the GPU does them. */
uint16_t ref_f32_to_f16(float f);
uint16_t ref_f32_to_bf16(float f);
float ref_f16_to_f32(uint16_t h);
float ref_bf16_to_f32(uint16_t h);

/* Element i of a buffer of dtype, as double; store a double rounded to dtype. */
double ref_get(const void *buf, int dtype, size_t i);
void ref_set(void *buf, int dtype, size_t i, double v);

/* A small deterministic generator (splitmix64) for test data (inline:
 * it draws every element of every test tensor). */
static inline uint64_t ref_rand_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
double ref_rand_normal(uint64_t *state);

/* An independent generator state for one row of one stream (tensor) of a
 * seeded problem: rows can be filled in any order, by any thread, with the
 * same result. */
uint64_t ref_row_seed(uint64_t seed, uint64_t stream, long long row);

/* Fill n elements from element off with normal(0, 1) * scale values. */
void ref_fill_row(void *buf, int dtype, size_t off, long long n, double scale, uint64_t *state);

/* Fill rows x cols (row stride ld) with normal(0, 1) * scale values. */
void ref_fill(void *buf, int dtype, long long rows, long long cols, long long ld,
              double scale, uint64_t *state);

/* y = softmax(x) of one row in fp64 (torch's semantics: a row with NaN or
 * all -inf gives NaN). */
void ref_softmax_row(const double *x, double *y, long long n);

/* y = log_softmax(x) of one row; scale[i] bounds the rounding error's
 * magnitude (|x_i| + |lse|), for ref_compare_row. */
void ref_log_softmax_row(const double *x, double *y, double *scale, long long n);

/* Backward from the forward output y and dy: dx and the error scale. */
void ref_softmax_bwd_row(const double *y, const double *dy, double *dx, double *scale, long long n);
void ref_log_softmax_bwd_row(const double *y, const double *dy, double *dx, double *scale, long long n);

/* Cross-entropy: the options of a problem, as the kernels take them. */
typedef struct ref_xent {
	const double *weight; /* [cols] or NULL */
	double eps, zloss, softcap; /* 0: off */
	long long ignore_index;
	int reduction;        /* kgen_reduction */
	double inv_den;       /* reduction sum_over */
} ref_xent;

/* The denominators over all targets: d[0] = D_nll, d[1] = D_z,
 * d[2] = the sum of class weights (cols without weights), d[3] = D_smooth
 * (= D_nll, as in torch 2.x). */
void ref_xent_denoms(const ref_xent *o, const long long *target, long long rows, long long cols, double d[4]);

/* One row: lse, the row's loss (scaled by the reduction's denominators:
 * its contribution to the reduced loss; unscaled for reduction none) with
 * an error scale, and when grad is not NULL the gradient for upstream
 * gradient dl with its error scale. */
void ref_xent_row(const ref_xent *o, const double d[4], const double *x, long long cols, long long t, double dl,
                  double *lse, double *loss, double *loss_scale, double *grad, double *grad_scale);

/* Tolerance of dtype outputs: |got - want| <= atol + rtol * |want|. */
void ref_tolerance(int dtype, double *atol, double *rtol);

/* Compare one output row of dtype with the fp64 reference: the bound of
 * element i is atol + rtol * scale[i] (scale NULL: |want[i]|). NaN must
 * meet NaN, infinities must be equal. Returns the worst error as a fraction
 * of the bound (<= 1 passes) and the column where it was seen. */
double ref_compare_row(const void *got, int dtype, const double *want, const double *scale, long long n,
                       long long *worst_col);

/* The same for one fp32 value (losses, logsumexps): rtol 1e-4. */
double ref_compare_f32(float got, double want, double scale);

/* Rows to check of a [rows, *] output: all when rows <= max, else the
 * first and last quarter of max and an even spread between. Returns the
 * count written to out (at most max). */
int ref_sample_rows(long long rows, long long *out, int max);

#endif
