/* fake_cuda.c: a stand-in for libcuda, for testing the runtime's lookup
 * and loading without a GPU (KGEN_CUDA_LIBRARY=libkgen_fake_cuda.so).
 *
 * One device, "kgen fake GPU" ($FAKE_CUDA_NAME overrides it; "NVIDIA H200"
 * also has an H200's memory bus and clock), sm_90, driver 13.0
 * ($FAKE_CUDA_DRIVER overrides the version). Memory is host memory; launches only count.
 * A "cubin" is text: "FAKECUBIN <kernel names>\n" then anything;
 * cuModuleLoadData refuses any other image, cuModuleGetFunction finds the
 * names of the first line. fake_cuda_stats() tells the test what happened;
 * fake_cuda_count() how often a driver function that a launch path must
 * not call (allocation, synchronous calls, events) was called.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#define FAKE_NAME "kgen fake GPU"
#define FAKE_MAGIC "FAKECUBIN "

static int loads, launches, current_set;
static CUcontext current;
static int primary; /* the address is the context handle */

void fake_cuda_stats(int *nloads, int *nlaunches)
{
	*nloads = loads;
	*nlaunches = launches;
}

/* Calls of the functions a captured launch path must not make (and of
 * cuMemsetD8Async, which it may). */
static int n_alloc, n_memset, n_memset_async, n_record, n_wait, n_event_create, n_sync;

int fake_cuda_count(const char *fn)
{
	return !strcmp(fn, "cuMemAlloc") ? n_alloc : !strcmp(fn, "cuMemsetD8") ? n_memset
	     : !strcmp(fn, "cuMemsetD8Async") ? n_memset_async : !strcmp(fn, "cuEventRecord") ? n_record
	     : !strcmp(fn, "cuStreamWaitEvent") ? n_wait : !strcmp(fn, "cuEventCreate") ? n_event_create
	     : !strcmp(fn, "synchronize") ? n_sync : -1;
}

CUresult CUDAAPI cuInit(unsigned int flags)
{
	(void)flags;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int *v)
{
	const char *e = getenv("FAKE_CUDA_DRIVER");
	*v = e && *e ? atoi(e) : 13000;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *n)
{
	*n = 1;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *d, int ordinal)
{
	if (ordinal != 0)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = 0;
	return CUDA_SUCCESS;
}

/* $FAKE_CUDA_NAME: the device's name instead of FAKE_NAME. */
static const char *fake_name(void)
{
	const char *e = getenv("FAKE_CUDA_NAME");
	return e && *e ? e : FAKE_NAME;
}

static int h200(void)
{
	return !strcmp(fake_name(), "NVIDIA H200");
}

CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev)
{
	(void)dev;
	switch (attrib) {
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *pi = 9; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *pi = 0; break;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *pi = 132; break;
	case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *pi = 50 << 20; break;
	/* an H100 80GB HBM3's memory (3352 GB/s), an H200's (4917) under that name */
	case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *pi = h200() ? 6144 : 5120; break;
	case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *pi = h200() ? 3201000 : 2619000; break;
	default: *pi = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
	(void)dev;
	strncpy(name, fake_name(), (size_t)len);
	name[len - 1] = 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice dev)
{
	(void)dev;
	*bytes = (size_t)80 << 30;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev)
{
	(void)dev;
	*ctx = (CUcontext)&primary;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice dev)
{
	(void)dev;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext ctx)
{
	current = ctx;
	current_set = 1;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *ctx)
{
	*ctx = current_set ? current : NULL;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *d)
{
	*d = 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetId(CUcontext ctx, unsigned long long *id)
{
	*id = (unsigned long long)(size_t)ctx;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx)
{
	(void)ctx;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *ctx)
{
	if (ctx)
		*ctx = current;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	n_wait++;
	(void)s, (void)e, (void)flags;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void)
{
	n_sync++;
	return CUDA_SUCCESS;
}

/* A module: the first line of its image. */
CUresult CUDAAPI cuModuleLoadData(CUmodule *mod, const void *image)
{
	const char *s = image, *nl;
	char *m;
	size_t n;
	if (strncmp(s, FAKE_MAGIC, strlen(FAKE_MAGIC)) || !(nl = memchr(s, '\n', 256)))
		return CUDA_ERROR_INVALID_IMAGE;
	n = (size_t)(nl - s);
	if (!(m = malloc(n + 2)))
		return CUDA_ERROR_OUT_OF_MEMORY;
	memcpy(m, s, n);
	m[n] = ' ';
	m[n + 1] = 0;
	*mod = (CUmodule)m;
	loads++;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule mod)
{
	free(mod);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction *fn, CUmodule mod, const char *name)
{
	char word[200];
	const char *at;
	snprintf(word, sizeof word, " %s ", name);
	if (!(at = strstr((const char *)mod, word)))
		return CUDA_ERROR_NOT_FOUND;
	*fn = (CUfunction)(at + 1);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction fn, CUfunction_attribute attrib, int value)
{
	(void)fn, (void)attrib, (void)value;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction fn)
{
	(void)attrib, (void)fn;
	*pi = 0;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void **params,
                                void **extra)
{
	(void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)smem, (void)s, (void)params,
		(void)extra;
	launches++;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra)
{
	(void)config, (void)f, (void)params, (void)extra;
	launches++;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr *p, size_t n)
{
	n_alloc++;
	void *m = calloc(1, n ? n : 1);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*p = (CUdeviceptr)(size_t)m;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p)
{
	free((void *)(size_t)p);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n)
{
	memcpy((void *)(size_t)dst, src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n)
{
	memcpy(dst, (const void *)(size_t)src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	(void)s;
	memcpy((void *)(size_t)dst, (const void *)(size_t)src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
	n_memset_async++;
	(void)s;
	memset((void *)(size_t)dst, v, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n)
{
	n_memset++;
	memset((void *)(size_t)dst, v, n);
	return CUDA_SUCCESS;
}

static int events_and_streams; /* their handles point here */

CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int flags)
{
	n_event_create++;
	(void)flags;
	*e = (CUevent)&events_and_streams;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s)
{
	n_record++;
	(void)e, (void)s;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventSynchronize(CUevent e)
{
	n_sync++;
	(void)e;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
	(void)a, (void)b;
	*ms = 0.001f;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy(CUevent e)
{
	(void)e;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int flags)
{
	(void)flags;
	*s = (CUstream)&events_and_streams;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy(CUstream s)
{
	(void)s;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream s)
{
	n_sync++;
	(void)s;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult r, const char **s)
{
	*s = r == CUDA_ERROR_INVALID_IMAGE ? "CUDA_ERROR_INVALID_IMAGE" :
	     r == CUDA_ERROR_NOT_FOUND ? "CUDA_ERROR_NOT_FOUND" : "CUDA_ERROR_FAKE";
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult r, const char **s)
{
	*s = r == CUDA_ERROR_INVALID_IMAGE ? "device kernel image is invalid" :
	     r == CUDA_ERROR_NOT_FOUND ? "named symbol not found" : "fake error";
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *n, CUfunction f, const CUlaunchConfig *config)
{
	(void)f, (void)config;
	*n = 1;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t smem)
{
	(void)f, (void)block, (void)smem;
	*n = 1;
	return CUDA_SUCCESS;
}
