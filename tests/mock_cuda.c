/* mock_cuda.c: a stand-in libcuda for testing the tuner's GPU path on a
 * machine without a GPU (KGEN_CUDA_LIBRARY=libkgen_mock_cuda.so).
 *
 * "Device" memory is host memory, streams are synchronous, and time is
 * virtual: every launch advances a per-thread clock by the kernel's
 * made-up duration, and events read that clock, so timings are exact and
 * repeatable. Cubins are real (NVRTC made them); a hash of each cubin's
 * bytes decides its made-up attributes: about one in seven spills, one in
 * eleven launches at most 256 threads, one in thirteen fits no CTA on a
 * multiprocessor, and its duration. The one kernel actually computed is
 * kgen_softmax_fwd (in fp64, rounded to the dtype), so softmax forward
 * variants pass the tuner's check and every other kernel's output stays
 * unwritten (a mismatch).
 *
 * Environment: KGEN_MOCK_COLS and KGEN_MOCK_DTYPE (the softmax problem;
 * default 1024, bf16), KGEN_MOCK_SM (default 90), KGEN_MOCK_DEVICES (default
 * 2), KGEN_MOCK_SLEEP_US (real microseconds slept per launch, default 0),
 * KGEN_MOCK_COPY_US (the time of every device-to-device copy; default 3 TB/s
 * moved: variants' times are 20-120 us, so none comes near the copy),
 * KGEN_MOCK_LOG (a file: one line per cubin loaded, its hash).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cuda.h>

#include "internal.h"
#include "ref.h"

struct CUctx_st { int device; };
struct CUmod_st { uint64_t hash; };
struct CUfunc_st { uint64_t hash; char name[64]; };
struct CUevent_st { double t; };
struct CUstream_st { int unused; };

static struct CUctx_st contexts[64];
static _Thread_local double clock_us; /* virtual time of this thread's work */
static _Thread_local CUcontext current;

static long env_int(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static uint64_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The size of an ELF64 image: its section headers come last. */
static size_t elf_size(const unsigned char *e)
{
	uint64_t shoff;
	uint16_t shentsize, shnum;
	if (memcmp(e, "\177ELF", 4) || e[4] != 2)
		return 64;
	memcpy(&shoff, e + 0x28, 8);
	memcpy(&shentsize, e + 0x3a, 2);
	memcpy(&shnum, e + 0x3c, 2);
	return (size_t)shoff + (size_t)shentsize * shnum;
}

CUresult CUDAAPI cuInit(unsigned int flags) { (void)flags; return CUDA_SUCCESS; }
CUresult CUDAAPI cuDriverGetVersion(int *v) { *v = 13000; return CUDA_SUCCESS; }
CUresult CUDAAPI cuDeviceGetCount(int *n) { *n = (int)env_int("KGEN_MOCK_DEVICES", 2); return CUDA_SUCCESS; }

CUresult CUDAAPI cuDeviceGet(CUdevice *d, int ordinal)
{
	if (ordinal < 0 || ordinal >= env_int("KGEN_MOCK_DEVICES", 2) || ordinal >= 64)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = ordinal;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d)
{
	int sm = (int)env_int("KGEN_MOCK_SM", 90);
	(void)d;
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = sm / 10; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = sm % 10; break;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
	case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *v = 1 << 20; break;
	case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 232448; break;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice d)
{
	(void)d; /* one model, as on a real multi-GPU machine */
	snprintf(name, (size_t)len, "Mock GPU");
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice d) { (void)d; *bytes = (size_t)80 << 30; return CUDA_SUCCESS; }

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d)
{
	contexts[d].device = d;
	*c = &contexts[d];
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice d) { (void)d; return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxSetCurrent(CUcontext c) { current = c; return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxGetCurrent(CUcontext *c) { *c = current; return CUDA_SUCCESS; }

CUresult CUDAAPI cuCtxGetDevice(CUdevice *d)
{
	if (!current)
		return CUDA_ERROR_INVALID_CONTEXT;
	*d = current->device;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetId(CUcontext c, unsigned long long *id) { *id = (unsigned long long)(uintptr_t)c; return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPushCurrent(CUcontext c) { current = c; return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPopCurrent(CUcontext *c) { if (c) *c = current; current = NULL; return CUDA_SUCCESS; }
CUresult CUDAAPI cuStreamWaitEvent(CUstream s, CUevent e, unsigned int f) { (void)s; (void)e; (void)f; return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxSynchronize(void) { return CUDA_SUCCESS; }

CUresult CUDAAPI cuModuleLoadData(CUmodule *m, const void *image)
{
	const char *log = getenv("KGEN_MOCK_LOG");
	if (!(*m = calloc(1, sizeof **m)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	(*m)->hash = fnv(image, elf_size(image));
	if (log && *log) {
		static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
		FILE *f;
		pthread_mutex_lock(&lock);
		if ((f = fopen(log, "a"))) {
			fprintf(f, "load %016llx\n", (unsigned long long)(*m)->hash);
			fclose(f);
		}
		pthread_mutex_unlock(&lock);
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule m) { free(m); return CUDA_SUCCESS; }

/* Functions live as long as the process (a module's unload does not free them). */
CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	if (!(*f = calloc(1, sizeof **f)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	(*f)->hash = m->hash;
	snprintf((*f)->name, sizeof (*f)->name, "%s", name);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) { (void)f; (void)a; (void)v; return CUDA_SUCCESS; }

CUresult CUDAAPI cuFuncGetAttribute(int *v, CUfunction_attribute a, CUfunction f)
{
	switch (a) {
	case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 24 + (int)(f->hash % 64); break;
	case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *v = f->hash % 7 == 0 ? 16 : 0; break;
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = f->hash % 11 == 0 ? 256 : 1024; break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *n, CUfunction f, const CUlaunchConfig *config)
{
	(void)f;
	*n = 132 / (int)config->attrs[0].value.clusterDim.x;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t smem)
{
	(void)block;
	(void)smem;
	*n = f->hash % 13 == 0 ? 0 : 2;
	return CUDA_SUCCESS;
}

/* y = softmax(x) of every row, as the real kernel would write it. */
static void softmax_fwd(const kg_args *a)
{
	long long cols = env_int("KGEN_MOCK_COLS", 1024);
	const char *dt = getenv("KGEN_MOCK_DTYPE");
	int dtype = !dt || !*dt || !strcmp(dt, "bf16") ? KGEN_BF16 : !strcmp(dt, "f16") ? KGEN_F16 : KGEN_F32;
	double *x = malloc(sizeof *x * (size_t)cols), *y = malloc(sizeof *y * (size_t)cols);
	for (long long r = 0; x && y && r < a->rows; r++) {
		for (long long c = 0; c < cols; c++)
			x[c] = ref_get(a->in0, dtype, (size_t)(r * a->ld_in0 + c));
		ref_softmax_row(x, y, cols);
		for (long long c = 0; c < cols; c++)
			ref_set(a->out, dtype, (size_t)(r * a->ld_out + c), y[c]);
	}
	free(x);
	free(y);
}

static CUresult launch(CUfunction f, void **params)
{
	long sleep_us = env_int("KGEN_MOCK_SLEEP_US", 0);
	if (!strncmp(f->name, "kgen_softmax_fwd", 16) && (!f->name[16] || f->name[16] == '_')) /* named by its variant */
		softmax_fwd((const kg_args *)params[0]);
	clock_us += 20.0 + (double)(f->hash % 1000) / 10.0;
	if (sleep_us > 0)
		usleep((useconds_t)sleep_us);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                unsigned bz, unsigned smem, CUstream s, void **params, void **extra)
{
	(void)gx; (void)gy; (void)gz; (void)bx; (void)by; (void)bz; (void)smem; (void)s; (void)extra;
	return launch(f, params);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra)
{
	(void)cfg;
	(void)extra;
	return launch(f, params);
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr *p, size_t n)
{
	void *m = aligned_alloc(256, (n + 255) / 256 * 256);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*p = (CUdeviceptr)(uintptr_t)m;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p) { free((void *)(uintptr_t)p); return CUDA_SUCCESS; }
CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr d, const void *h, size_t n) { memcpy((void *)(uintptr_t)d, h, n); return CUDA_SUCCESS; }
CUresult CUDAAPI cuMemcpyDtoH(void *h, CUdeviceptr d, size_t n) { memcpy(h, (void *)(uintptr_t)d, n); return CUDA_SUCCESS; }

CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
	(void)st;
	memcpy((void *)(uintptr_t)d, (void *)(uintptr_t)s, n);
	/* 1.5 TB/s each way (3 TB/s moved), or KGEN_MOCK_COPY_US */
	clock_us += env_int("KGEN_MOCK_COPY_US", 0) > 0 ? (double)env_int("KGEN_MOCK_COPY_US", 0)
	                                                : 2.0 + (double)n / 1.5e6;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s)
{
	(void)s;
	memset((void *)(uintptr_t)d, v, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) { memset((void *)(uintptr_t)d, v, n); return CUDA_SUCCESS; }

CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int flags)
{
	(void)flags;
	return (*e = calloc(1, sizeof **e)) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s) { (void)s; e->t = clock_us; return CUDA_SUCCESS; }
CUresult CUDAAPI cuEventSynchronize(CUevent e) { (void)e; return CUDA_SUCCESS; }
CUresult CUDAAPI cuEventElapsedTime(float *ms, CUevent a, CUevent b) { *ms = (float)((b->t - a->t) / 1000.0); return CUDA_SUCCESS; }
CUresult CUDAAPI cuEventDestroy(CUevent e) { free(e); return CUDA_SUCCESS; }
CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int flags) { (void)flags; return (*s = calloc(1, sizeof **s)) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY; }
CUresult CUDAAPI cuStreamDestroy(CUstream s) { free(s); return CUDA_SUCCESS; }
CUresult CUDAAPI cuStreamSynchronize(CUstream s) { (void)s; return CUDA_SUCCESS; }

CUresult CUDAAPI cuGetErrorName(CUresult r, const char **s)
{
	*s = r == CUDA_ERROR_INVALID_DEVICE ? "CUDA_ERROR_INVALID_DEVICE" : "CUDA_ERROR_MOCK";
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult r, const char **s)
{
	*s = r == CUDA_ERROR_INVALID_DEVICE ? "invalid device ordinal" : "mock error";
	return CUDA_SUCCESS;
}
