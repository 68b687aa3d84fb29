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

/* A small deterministic generator (splitmix64) for test data. */
uint64_t ref_rand_u64(uint64_t *state);
double ref_rand_normal(uint64_t *state);

/* Fill rows x cols (row stride ld) with normal(0, 1) * scale values. */
void ref_fill(void *buf, int dtype, long long rows, long long cols, long long ld,
              double scale, uint64_t *state);

/* y = softmax(x) of one row in fp64 (torch's semantics: a row with NaN or
 * all -inf gives NaN). */
void ref_softmax_row(const double *x, double *y, long long n);

/* Tolerance of dtype outputs: |got - want| <= atol + rtol * |want|. */
void ref_tolerance(int dtype, double *atol, double *rtol);

/* Compare one output row of dtype with the fp64 reference. NaN must meet
 * NaN, infinities must be equal. Returns the worst error as a fraction of
 * the tolerance (<= 1 passes) and the column where it was seen. */
double ref_compare_row(const void *got, int dtype, const double *want, long long n,
                       long long *worst_col);

/* Rows to check of a [rows, *] output: all when rows <= max, else the
 * first and last quarter of max and an even spread between. Returns the
 * count written to out (at most max). */
int ref_sample_rows(long long rows, long long *out, int max);

#endif
