/* overhead.c: the host cost of one kgen call that hits the in-process
 * table, against a bare cuLaunchKernel of the same kernel.
 *
 *   build/kgen_overhead [ROWS COLS]      (default 1 x 1024, bf16 softmax forward)
 *
 * Both loops enqueue CALLS launches of one tiny kernel back to back on one
 * stream and take the host's wall clock per launch (best of REPEATS); the
 * kernel is small enough that the host, not the GPU, sets the pace, so the
 * difference per call is kgen's lookup, argument checks and bookkeeping.
 * The bare launch uses the kernel kgen itself compiles for the problem (the
 * template's default configuration), loaded into the same context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"
#include "internal.h"
#include "kgen.h"

#define CALLS 20000
#define REPEATS 7

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int die(const char *what, int rc)
{
	fprintf(stderr, "kgen_overhead: error: %s: %s\n", what, kgen_last_error()[0] ? kgen_last_error() : kgen_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	long long rows = argc > 2 ? atoll(argv[1]) : 1, cols = argc > 2 ? atoll(argv[2]) : 1024;
	gen_problem p = {"softmax", "fwd", KGEN_BF16, cols, 0, NULL};
	gen_variant v;
	gen *g;
	kg_device dev;
	kgen_ctx *ctx;
	CUdevice d;
	CUcontext cu;
	CUmodule mod;
	CUstream s;
	CUdeviceptr x, y;
	kg_launch l;
	kg_args a;
	void *cubin, *args[] = {&a};
	size_t size;
	char *log = NULL, where[256];
	double best_kgen = 1e9, best_bare = 1e9;
	int rc;

	if (rows < 1 || cols < 1)
		return fprintf(stderr, "usage: kgen_overhead [ROWS COLS]\n"), 2;
	if ((rc = kg_cu_load()) || kg_cu.cuDeviceGet(&d, 0) || kg_cu.cuDevicePrimaryCtxRetain(&cu, d) ||
	    kg_cu.cuCtxSetCurrent(cu)) {
		printf("SKIP: no GPU: %s\n", kgen_last_error());
		return 77;
	}
	if ((rc = kg_device_query(d, &dev)))
		return die("device", rc);
	p.sm = dev.sm;
	if (kg_cu.cuMemAlloc(&x, 2 * rows * cols) || kg_cu.cuMemAlloc(&y, 2 * rows * cols) ||
	    kg_cu.cuMemsetD8(x, 0, 2 * rows * cols) || kg_cu.cuStreamCreate(&s, 0))
		return die("memory", KGEN_ECUDA);
	if ((rc = kgen_open(&ctx, NULL)))
		return die("kgen_open", rc);
	/* the first call loads (or compiles) the kernel; the table serves the rest */
	if ((rc = kgen_softmax_fwd(ctx, (void *)y, (void *)x, rows, cols, cols, cols, KGEN_BF16, s)))
		return die("kgen_softmax_fwd", rc);
	kgen_last_kernel(ctx, where, sizeof where);
	/* the bare kernel: the template's default, compiled and loaded here */
	if ((rc = gen_open(&g)) || (rc = gen_render(g, &p, NULL, &v)))
		return die("render", rc);
	if ((rc = kg_compile(v.source, "overhead.cu", p.sm, &cubin, &size, &log)))
		return die("compile", rc);
	if ((rc = kg_module_load(cubin, v.kernel, NULL, NULL, v.smem, v.cluster, &mod, &l)))
		return die("load", rc);
	l.block = v.block, l.smem = v.smem, l.rows_per_cta = v.rows_per_cta, l.cluster = v.cluster;
	memset(&a, 0, sizeof a);
	a.out = (void *)y, a.in0 = (const void *)x, a.rows = rows, a.ld_out = a.ld_in0 = cols;
	unsigned grid = (unsigned)((rows + l.rows_per_cta - 1) / l.rows_per_cta) * l.cluster;
	for (int r = 0; r < REPEATS; r++) {
		double t0;
		kg_cu.cuStreamSynchronize(s);
		t0 = now();
		for (int i = 0; i < CALLS; i++)
			if ((rc = kgen_softmax_fwd(ctx, (void *)y, (void *)x, rows, cols, cols, cols, KGEN_BF16, s)))
				return die("kgen_softmax_fwd", rc);
		t0 = (now() - t0) / CALLS;
		best_kgen = t0 < best_kgen ? t0 : best_kgen;
		kg_cu.cuStreamSynchronize(s);
		t0 = now();
		for (int i = 0; i < CALLS; i++)
			if (kg_cu.cuLaunchKernel(l.fn, grid, 1, 1, l.block, 1, 1, l.smem, s, args, NULL))
				return die("cuLaunchKernel", KGEN_ECUDA);
		t0 = (now() - t0) / CALLS;
		best_bare = t0 < best_bare ? t0 : best_bare;
	}
	kg_cu.cuStreamSynchronize(s);
	printf("GPU %s; softmax fwd %lldx%lld bf16 (%s); bare config %s\n", dev.name, rows, cols, where, v.config);
	printf("host time per launch, best of %d x %d: bare cuLaunchKernel %.3f us, kgen_softmax_fwd %.3f us: "
	       "kgen adds %.3f us\n", REPEATS, CALLS, best_bare * 1e6, best_kgen * 1e6, (best_kgen - best_bare) * 1e6);
	free(cubin);
	free(log);
	gen_variant_free(&v);
	gen_close(g);
	kgen_close(ctx);
	return 0;
}
