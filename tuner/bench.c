/* bench.c: L2-flushed, event-timed medians (see bench.h). */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "err.h"

#define BENCH_MAX_REPS 1000

struct bench {
	CUstream s;
	CUdeviceptr flush;
	size_t flush_bytes;
	CUevent ev[2 * BENCH_MAX_REPS];
	CUfunction empty;
	CUmodule empty_mod;
};

int bench_open(bench **out, const kg_device *dev)
{
	bench *b = calloc(1, sizeof *b);
	CUresult r;
	if (!b)
		return kg_err(KGEN_ENOMEM, "out of memory");
	b->flush_bytes = (size_t)(dev->l2_bytes > 0 ? dev->l2_bytes : 64 << 20) * 2;
	if ((r = kg_cu.cuStreamCreate(&b->s, CU_STREAM_NON_BLOCKING)))
		goto fail;
	if ((r = kg_cu.cuMemAlloc(&b->flush, b->flush_bytes)))
		goto fail;
	for (int i = 0; i < 2 * BENCH_MAX_REPS; i++)
		if ((r = kg_cu.cuEventCreate(&b->ev[i], CU_EVENT_DEFAULT)))
			goto fail;
	*out = b;
	return 0;
fail:
	bench_close(b);
	return kg_cu_fail("bench_open", r);
}

void bench_close(bench *b)
{
	if (!b)
		return;
	for (int i = 0; i < 2 * BENCH_MAX_REPS; i++)
		if (b->ev[i])
			kg_cu.cuEventDestroy(b->ev[i]);
	if (b->flush)
		kg_cu.cuMemFree(b->flush);
	if (b->empty_mod)
		kg_cu.cuModuleUnload(b->empty_mod);
	if (b->s)
		kg_cu.cuStreamDestroy(b->s);
	free(b);
}

CUstream bench_stream(bench *b)
{
	return b->s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int bench_run(bench *b, bench_fn fn, void *arg, int reps, bench_stats *st)
{
	double *t;
	CUresult r;
	int rc;
	if (reps < 1 || reps > BENCH_MAX_REPS)
		return kg_err(KGEN_EINVAL, "reps must be in 1..%d (got %d)", BENCH_MAX_REPS, reps);
	for (int i = 0; i < 3; i++)
		if ((rc = fn(arg, b->s)))
			return rc;
	for (int i = 0; i < reps; i++) {
		/* Flush outside the timed window: the work starts with a cold L2. */
		if ((r = kg_cu.cuMemsetD8Async(b->flush, (unsigned char)i, b->flush_bytes, b->s)) ||
		    (r = kg_cu.cuEventRecord(b->ev[2 * i], b->s)))
			return kg_cu_fail("bench_run", r);
		if ((rc = fn(arg, b->s)))
			return rc;
		if ((r = kg_cu.cuEventRecord(b->ev[2 * i + 1], b->s)))
			return kg_cu_fail("cuEventRecord", r);
	}
	if ((r = kg_cu.cuStreamSynchronize(b->s)))
		return kg_cu_fail("cuStreamSynchronize", r);
	if (!(t = malloc(sizeof *t * (size_t)reps)))
		return kg_err(KGEN_ENOMEM, "out of memory");
	for (int i = 0; i < reps; i++) {
		float ms;
		if ((r = kg_cu.cuEventElapsedTime(&ms, b->ev[2 * i], b->ev[2 * i + 1]))) {
			free(t);
			return kg_cu_fail("cuEventElapsedTime", r);
		}
		t[i] = ms * 1e3;
	}
	qsort(t, (size_t)reps, sizeof *t, cmp_double);
	st->reps = reps;
	st->min_us = t[0];
	st->p10_us = t[reps / 10];
	st->p90_us = t[reps - 1 - reps / 10];
	st->median_us = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
	free(t);
	return 0;
}

struct copy_arg {
	CUdeviceptr dst, src;
	size_t bytes;
};

static int copy_fn(void *arg, CUstream s)
{
	struct copy_arg *a = arg;
	CUresult r = kg_cu.cuMemcpyDtoDAsync(a->dst, a->src, a->bytes, s);
	return r ? kg_cu_fail("cuMemcpyDtoDAsync", r) : 0;
}

int bench_copy(bench *b, size_t bytes, int reps, bench_stats *st)
{
	struct copy_arg a = {0, 0, bytes};
	CUresult r;
	int rc;
	if ((r = kg_cu.cuMemAlloc(&a.src, bytes)) || (r = kg_cu.cuMemAlloc(&a.dst, bytes))) {
		rc = kg_cu_fail("cuMemAlloc (copy buffers)", r);
		goto out;
	}
	kg_cu.cuMemsetD8Async(a.src, 1, bytes, b->s);
	rc = bench_run(b, copy_fn, &a, reps, st);
out:
	if (a.src)
		kg_cu.cuMemFree(a.src);
	if (a.dst)
		kg_cu.cuMemFree(a.dst);
	return rc;
}

static int empty_fn(void *arg, CUstream s)
{
	bench *b = arg;
	CUresult r = kg_cu.cuLaunchKernel(b->empty, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL);
	return r ? kg_cu_fail("cuLaunchKernel (empty)", r) : 0;
}

int bench_empty(bench *b, int reps, bench_stats *st)
{
	static const char src[] = "extern \"C\" __global__ void kgen_empty() {}\n";
	int rc;
	if (!b->empty) {
		void *cubin;
		size_t size;
		int major, minor;
		CUdevice d;
		kg_cu.cuCtxGetDevice(&d);
		kg_cu.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
		kg_cu.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
		if ((rc = kg_compile(src, "kgen_empty.cu", major * 10 + minor, &cubin, &size, NULL)))
			return rc;
		kg_launch l = {0};
		rc = kg_module_load(cubin, "kgen_empty", NULL, NULL, 0, 1, &b->empty_mod, &l);
		b->empty = l.fn;
		free(cubin);
		if (rc)
			return rc;
	}
	return bench_run(b, empty_fn, b, reps, st);
}
