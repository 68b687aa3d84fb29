/* test_gpu_softmax.c (label gpu): on a GPU, every variant of the space and
 * the tuned kernel reached through the runtime match the fp64 reference,
 * for cols 1, 7, 1000, 1024, 3000, 8192, 32768 and rows 1, 3, 4096 in each
 * dtype. Without a driver or a device it prints why and exits 77 (skip).
 *
 * $KGEN_TEST_QUICK=1 keeps one column count per dtype (for quick runs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "ref.h"
#include "tune.h"

static int failures;

#define CHECK(cond, ...)                                                                          \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			failures++;                                                               \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
			fprintf(stderr, __VA_ARGS__);                                             \
			fputc('\n', stderr);                                                      \
		}                                                                                 \
	} while (0)

/* Softmax through the public API with padded row strides and (optionally)
 * x shifted by one element, then compared with the reference on every
 * sampled row; the padding must stay untouched. */
static void check_runtime(kgen_ctx *ctx, int dtype, long long rows, long long cols, int shift,
                          const char *want_origin, uint64_t *seed)
{
	size_t es = (size_t)kg_dtype_size(dtype);
	long long ld_x = cols + 16 + shift, ld_y = cols + 16;
	size_t xn = (size_t)(rows * ld_x + 1), yn = (size_t)(rows * ld_y);
	void *hx = malloc(xn * es), *hy = malloc(yn * es);
	double *xr = malloc(sizeof(double) * (size_t)cols), *want = malloc(sizeof(double) * (size_t)cols);
	CUdeviceptr dx, dy;
	char used[200];
	long long samp[64];
	int ns, rc;
	memset(hx, 0, xn * es);
	ref_fill((char *)hx + (size_t)shift * es, dtype, rows, cols, ld_x, 3.0, seed);
	CHECK(!kg_cu.cuMemAlloc(&dx, xn * es) && !kg_cu.cuMemAlloc(&dy, yn * es), "alloc");
	kg_cu.cuMemcpyHtoD(dx, hx, xn * es);
	kg_cu.cuMemsetD8(dy, 0x5a, yn * es);
	rc = kgen_softmax_fwd(ctx, (void *)(uintptr_t)dy, (void *)(uintptr_t)(dx + (CUdeviceptr)(shift * (int)es)), rows,
	                      cols, ld_x, ld_y, dtype, NULL);
	CHECK(rc == 0, "kgen_softmax_fwd %s %lldx%lld: %s", kg_dtype_names[dtype], rows, cols, kgen_last_error());
	CHECK(kg_cu.cuCtxSynchronize() == 0, "kernel failed");
	kgen_last_kernel(ctx, used, sizeof used);
	if (want_origin)
		CHECK(!strncmp(used, want_origin, strlen(want_origin)), "%s %lldx%lld shift %d used '%s', want '%s'",
		      kg_dtype_names[dtype], rows, cols, shift, used, want_origin);
	kg_cu.cuMemcpyDtoH(hy, dy, yn * es);
	ns = ref_sample_rows(rows, samp, 64);
	for (int i = 0; i < ns; i++) {
		long long r = samp[i], col;
		for (long long c = 0; c < cols; c++)
			xr[c] = ref_get((char *)hx + (size_t)shift * es, dtype, (size_t)(r * ld_x + c));
		ref_softmax_row(xr, want, cols);
		double e = ref_compare_row((char *)hy + (size_t)(r * ld_y) * es, dtype, want, cols, &col);
		CHECK(e <= 1, "%s %lldx%lld shift %d (%s): row %lld col %lld off by %.3g tolerances",
		      kg_dtype_names[dtype], rows, cols, shift, used, r, col, e);
		for (long long c = cols; c < ld_y; c++) {
			unsigned char *pad = (unsigned char *)hy + (size_t)(r * ld_y + c) * es;
			if (pad[0] != 0x5a) {
				CHECK(0, "%s %lldx%lld: padding at row %lld col %lld written", kg_dtype_names[dtype], rows,
				      cols, r, c);
				break;
			}
		}
	}
	kg_cu.cuMemFree(dx);
	kg_cu.cuMemFree(dy);
	free(hx);
	free(hy);
	free(xr);
	free(want);
}

int main(void)
{
	static const long long all_cols[] = {1, 7, 1000, 1024, 3000, 8192, 32768};
	static const long long rows_list[] = {1, 3, 4096};
	char dir[] = "/tmp/kgen_test_gpu_XXXXXX";
	int ncols = getenv("KGEN_TEST_QUICK") ? 2 : (int)(sizeof all_cols / sizeof all_cols[0]);
	int rc, checked = 0;
	uint64_t seed = 12345;
	kgen_ctx *ctx;
	CUdevice dev;
	CUcontext cuctx;

	if ((rc = kg_cu_load()) || (rc = kg_cu.cuDeviceGet(&dev, 0) ? KGEN_ENODEVICE : 0)) {
		printf("SKIP: no GPU: %s\n", rc == KGEN_ENODEVICE && !kgen_last_error()[0] ? "no CUDA device"
		                                                                          : kgen_last_error());
		return 77;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	kg_cu.cuDevicePrimaryCtxRetain(&cuctx, dev);
	kg_cu.cuCtxSetCurrent(cuctx);
	for (int d = 0; d < 3; d++)
		for (int k = 0; k < ncols; k++) {
			long long cols = all_cols[getenv("KGEN_TEST_QUICK") ? k * 5 : k];
			/* Every variant, checked on fresh data at each row count. */
			for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++) {
				tune_opts o = {0};
				tune_result res;
				o.op = "softmax";
				o.pass = "fwd";
				o.dtype = d;
				o.cols = cols;
				o.rows = rows_list[ri];
				o.cache_dir = dir;
				o.no_time = 1;
				o.seed = ++seed;
				rc = tune_run(&o, &res);
				CHECK(rc == 0, "check %s cols=%lld rows=%lld: %s", kg_dtype_names[d], cols, o.rows,
				      kgen_last_error());
				for (int i = 0; i < res.n; i++) {
					CHECK(!strcmp(res.trials[i].status, "checked"), "%s cols=%lld rows=%lld %s: %s %s (err %.3g)",
					      kg_dtype_names[d], cols, o.rows, res.trials[i].config, res.trials[i].status,
					      res.trials[i].detail, res.trials[i].max_err);
					checked++;
				}
				tune_result_free(&res);
			}
			/* Tune for real (few repetitions), then call through the runtime. */
			tune_opts o = {0};
			tune_result res;
			o.op = "softmax";
			o.pass = "fwd";
			o.dtype = d;
			o.cols = cols;
			o.rows = 4096;
			o.cache_dir = dir;
			o.reps = 5;
			o.seed = ++seed;
			rc = tune_run(&o, &res);
			CHECK(rc == 0 && res.stored, "tune %s cols=%lld: rc %d stored %d: %s", kg_dtype_names[d], cols, rc,
			      res.stored, kgen_last_error());
			tune_result_free(&res);
			CHECK(kgen_open(&ctx, dir) == 0, "kgen_open: %s", kgen_last_error());
			for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
				check_runtime(ctx, d, rows_list[ri], cols, 0, ri == 2 ? "cache" : NULL, &seed);
			/* Shifted by one element: only narrower accesses are legal. */
			if (cols > 1)
				check_runtime(ctx, d, 3, cols, 1, d == KGEN_F32 && cols % 4 && cols % 2 ? NULL : "fallback",
				              &seed);
			/* The second call of a problem hits the in-process table. */
			check_runtime(ctx, d, 4096, cols, 0, "table", &seed);
			kgen_close(ctx);
			printf("%s cols=%lld: ok so far (%d failures)\n", kg_dtype_names[d], cols, failures);
			fflush(stdout);
		}
	kg_cu.cuDevicePrimaryCtxRelease(dev);
	printf("test_gpu_softmax: %d variant checks, %d failures\n", checked, failures);
	return failures ? 1 : 0;
}
