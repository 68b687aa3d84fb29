/* stand_in_cuda.c: a stand-in libcuda for the CPU-only tests (loaded through
 * KGEN_CUDA_LIBRARY), in one of two modes fixed when it is built:
 *
 * fake (libkgen_fake_cuda.so; STAND_IN_MOCK=0): for the runtime's lookup
 *   and loading without a GPU or NVRTC. One device, "kgen fake GPU"
 *   ($FAKE_CUDA_NAME overrides it; "NVIDIA H200" also has an H200's memory
 *   bus and clock), sm_90, driver 13.0 ($FAKE_CUDA_DRIVER overrides the
 *   version). Launches only count. A "cubin" is text: "FAKECUBIN <kernel
 *   names>\n" then anything; cuModuleLoadData refuses any other image,
 *   cuModuleGetFunction finds the names of the first line.
 *   fake_cuda_stats() tells the test what happened; fake_cuda_count() how
 *   often a driver function that a launch path must not call (allocation,
 *   synchronous calls, events) was called.
 *
 * mock (libkgen_mock_cuda.so; STAND_IN_MOCK=1): for the tuner's GPU path.
 *   Streams are synchronous and time is virtual: every launch advances a
 *   per-thread clock by the kernel's made-up duration, and events read that
 *   clock, so timings are exact and repeatable. Cubins are real (NVRTC made
 *   them); a hash of each cubin's bytes decides its made-up attributes:
 *   about one in seven spills, one in eleven launches at most 256 threads,
 *   one in thirteen fits no CTA on a multiprocessor, and its duration. The
 *   one kernel actually computed is kgen_softmax_fwd (matched by prefix:
 *   generated names carry the variant; in fp64, rounded to the dtype), so
 *   softmax forward variants pass the tuner's check and every other
 *   kernel's output stays unwritten (a mismatch).
 *   Environment: KGEN_MOCK_COLS and KGEN_MOCK_DTYPE (the softmax problem;
 *   default 1024, bf16), KGEN_MOCK_SM (default 90), KGEN_MOCK_DEVICES
 *   (default 2), KGEN_MOCK_SLEEP_US (real microseconds slept per launch,
 *   default 0), KGEN_MOCK_TIME_PCT (every kernel's made-up duration in
 *   percent, default 100: a GPU that was faster or slower when a record
 *   was timed), KGEN_MOCK_COPY_US (the time of every device-to-device copy;
 *   default 3 TB/s moved: variants' times are 20-120 us, so none comes near
 *   the copy), KGEN_MOCK_LOG (a file: one line per cubin loaded, its hash),
 *   KGEN_MOCK_RESIDENT (mock: the CTAs of every kernel a multiprocessor
 *   holds at once, in place of the made-up 2 or 0; 0: a GPU that cannot
 *   keep a split row's CTAs resident).
 *
 * In both, "device" memory is host memory.
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

#ifndef STAND_IN_MOCK
#define STAND_IN_MOCK 0
#endif
enum { mock = STAND_IN_MOCK };

#define FAKE_NAME "kgen fake GPU"
#define FAKE_MAGIC "FAKECUBIN "

struct CUctx_st { int device; };
struct CUmod_st { uint64_t hash; char names[]; }; /* mock: the cubin's hash; fake: the image's first line */
struct CUfunc_st { uint64_t hash; char name[64]; }; /* mock only: a fake function points into its module's names */
struct CUevent_st { double t; };
struct CUstream_st { int unused; };

static struct CUctx_st contexts[64];
static CUcontext fake_current;                 /* fake: one current context for the process */
static _Thread_local CUcontext mock_current;   /* mock: per thread, as the driver's */
static _Thread_local double clock_us;          /* mock: virtual time of this thread's work */
static struct CUevent_st fake_event;           /* fake: every event and stream is this one */
static struct CUstream_st fake_stream;

/* Counted in fake mode only (the mock's threads would race on them):
 * modules loaded, launches, and the calls of the functions a captured
 * launch path must not make (and of cuMemsetD8Async, which it may). */
static int loads, launches;
static int n_alloc, n_memset, n_memset_async, n_record, n_wait, n_event_create, n_sync;
static int n_programmatic; /* launches as a programmatic dependent of the kernel before them */
static int n_cluster;      /* launches with a thread-block cluster attribute */
static int n_coop;         /* cooperative launches (every CTA resident at once) */
static void *last_xg;      /* the exchange area the last launch's arguments named (kg_args.xg) */

/* fake: the exchange area (kg_args.xg) of the last launch. */
void *fake_cuda_last_xg(void)
{
	return last_xg;
}

void fake_cuda_stats(int *nloads, int *nlaunches)
{
	*nloads = loads;
	*nlaunches = launches;
}

/* fake: the launches since the last call, in order, as "NAME/GRID/BLOCK"
 * and "/P" for a programmatic dependent, space-separated (the oldest
 * dropped past 1 KB), copied into buf; the log then starts anew. */
static char launch_log[1024];

void fake_cuda_launches(char *buf, size_t len)
{
	snprintf(buf, len, "%s", launch_log);
	launch_log[0] = 0;
}

static void log_launch(CUfunction f, unsigned grid, unsigned block, int programmatic)
{
	char one[256];
	const char *name = (const char *)f, *end = strchr(name, ' ');
	size_t n = strlen(launch_log), k;
	k = (size_t)snprintf(one, sizeof one, "%s%.*s/%u/%u%s", n ? " " : "", (int)(end ? end - name : 200), name, grid,
	                     block, programmatic ? "/P" : "");
	if (n + k >= sizeof launch_log) { /* drop the oldest */
		memmove(launch_log, launch_log + n / 2, n - n / 2 + 1);
		n = strlen(launch_log);
	}
	if (k < sizeof one && n + k < sizeof launch_log)
		memcpy(launch_log + n, one, k + 1);
}

int fake_cuda_count(const char *fn)
{
	return !strcmp(fn, "cuMemAlloc") ? n_alloc : !strcmp(fn, "cuMemsetD8") ? n_memset
	     : !strcmp(fn, "cuMemsetD8Async") ? n_memset_async : !strcmp(fn, "cuEventRecord") ? n_record
	     : !strcmp(fn, "cuStreamWaitEvent") ? n_wait : !strcmp(fn, "cuEventCreate") ? n_event_create
	     : !strcmp(fn, "synchronize") ? n_sync : !strcmp(fn, "programmatic") ? n_programmatic
	     : !strcmp(fn, "cluster") ? n_cluster : !strcmp(fn, "cooperative") ? n_coop : -1;
}

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

/* The devices: fake one, mock KGEN_MOCK_DEVICES. */
static int ndevices(void)
{
	return mock ? (int)env_int("KGEN_MOCK_DEVICES", 2) : 1;
}

/* fake: $FAKE_CUDA_NAME, else FAKE_NAME; mock: one model, as on a real
 * multi-GPU machine. */
static const char *device_name(void)
{
	const char *e = getenv("FAKE_CUDA_NAME");
	return mock ? "Mock GPU" : e && *e ? e : FAKE_NAME;
}

static int h200(void)
{
	return !mock && !strcmp(device_name(), "NVIDIA H200");
}

CUresult CUDAAPI cuInit(unsigned int flags)
{
	(void)flags;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int *v)
{
	*v = mock ? 13000 : (int)env_int("FAKE_CUDA_DRIVER", 13000);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *n)
{
	*n = ndevices();
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *d, int ordinal)
{
	if (ordinal < 0 || ordinal >= ndevices() || ordinal >= 64)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = ordinal;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d)
{
	int sm = mock ? (int)env_int("KGEN_MOCK_SM", 90) : 90;
	(void)d;
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = sm / 10; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = sm % 10; break;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 132; break;
	case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *v = mock ? 1 << 20 : 50 << 20; break;
	/* fake: an H100 80GB HBM3's memory (3352 GB/s), an H200's (4917) under that name */
	case CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH: *v = mock ? 0 : h200() ? 6144 : 5120; break;
	case CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE: *v = mock ? 0 : h200() ? 3201000 : 2619000; break;
	case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = mock ? 232448 : 0; break;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = mock ? 1024 : 0; break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice d)
{
	(void)d;
	snprintf(name, (size_t)len, "%s", device_name());
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(size_t *bytes, CUdevice d)
{
	(void)d;
	*bytes = (size_t)80 << 30;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d)
{
	contexts[d].device = d;
	*c = &contexts[d];
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice d)
{
	(void)d;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext c)
{
	*(mock ? &mock_current : &fake_current) = c;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *c)
{
	*c = mock ? mock_current : fake_current;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *d)
{
	if (!mock) {
		*d = 0;
		return CUDA_SUCCESS;
	}
	if (!mock_current)
		return CUDA_ERROR_INVALID_CONTEXT;
	*d = mock_current->device;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetId(CUcontext c, unsigned long long *id)
{
	*id = (unsigned long long)(uintptr_t)c;
	return CUDA_SUCCESS;
}

/* fake: push and pop leave the current context alone. */
CUresult CUDAAPI cuCtxPushCurrent(CUcontext c)
{
	if (mock)
		mock_current = c;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxPopCurrent(CUcontext *c)
{
	if (c)
		*c = mock ? mock_current : fake_current;
	if (mock)
		mock_current = NULL;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	n_wait += !mock;
	(void)s, (void)e, (void)flags;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize(void)
{
	n_sync += !mock;
	return CUDA_SUCCESS;
}

/* mock: a module is its cubin's hash (logged to KGEN_MOCK_LOG);
 * fake: the first line of a FAKECUBIN image. */
CUresult CUDAAPI cuModuleLoadData(CUmodule *m, const void *image)
{
	if (mock) {
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
	} else {
		const char *s = image, *nl;
		size_t n;
		if (strncmp(s, FAKE_MAGIC, strlen(FAKE_MAGIC)) || !(nl = memchr(s, '\n', 256)))
			return CUDA_ERROR_INVALID_IMAGE;
		n = (size_t)(nl - s);
		if (!(*m = calloc(1, sizeof **m + n + 2)))
			return CUDA_ERROR_OUT_OF_MEMORY;
		memcpy((*m)->names, s, n);
		(*m)->names[n] = ' ';
		(*m)->names[n + 1] = 0;
	}
	loads += !mock;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule m)
{
	free(m);
	return CUDA_SUCCESS;
}

/* mock: functions live as long as the process (a module's unload does not
 * free them); fake: a function is its name in the module's names. */
CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	if (mock) {
		if (!(*f = calloc(1, sizeof **f)))
			return CUDA_ERROR_OUT_OF_MEMORY;
		(*f)->hash = m->hash;
		snprintf((*f)->name, sizeof (*f)->name, "%s", name);
	} else {
		char word[200];
		const char *at;
		snprintf(word, sizeof word, " %s ", name);
		if (!(at = strstr(m->names, word)))
			return CUDA_ERROR_NOT_FOUND;
		*f = (CUfunction)(uintptr_t)(at + 1);
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v)
{
	(void)f, (void)a, (void)v;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncGetAttribute(int *v, CUfunction_attribute a, CUfunction f)
{
	*v = 0;
	if (a == CU_FUNC_ATTRIBUTE_BINARY_VERSION) { /* kernels for sm_90 */
		*v = 90;
		return CUDA_SUCCESS;
	}
	if (!mock)
		return CUDA_SUCCESS;
	switch (a) {
	/* (mock: made up from the cubin's hash, so that some variants are pruned;
	 * $KGEN_MOCK_NO_PRUNE=1: none, for tests that pick variants by name) */
	case CU_FUNC_ATTRIBUTE_NUM_REGS: *v = 24 + (int)(f->hash % 64); break;
	case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES: *v = f->hash % 7 == 0 && !env_int("KGEN_MOCK_NO_PRUNE", 0) ? 16 : 0; break;
	case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
		*v = f->hash % 11 == 0 && !env_int("KGEN_MOCK_NO_PRUNE", 0) ? 256 : 1024;
		break;
	default: *v = 0;
	}
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveClusters(int *n, CUfunction f, const CUlaunchConfig *config)
{
	(void)f;
	*n = mock ? 132 / (int)config->attrs[0].value.clusterDim.x : 1;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t smem)
{
	(void)block, (void)smem;
	*n = !mock ? 1 : f->hash % 13 == 0 && !env_int("KGEN_MOCK_NO_PRUNE", 0) ? 0 : 2;
	if (mock && env_int("KGEN_MOCK_RESIDENT", -1) >= 0)
		*n = (int)env_int("KGEN_MOCK_RESIDENT", 2);
	return CUDA_SUCCESS;
}

/* mock: y = softmax(x) of every row, as the real kernel would write it. */
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
	long sleep_us;
	if (!mock) {
		launches++;
		last_xg = ((const kg_args *)params[0])->xg;
		return CUDA_SUCCESS;
	}
	sleep_us = env_int("KGEN_MOCK_SLEEP_US", 0);
	if (!strncmp(f->name, "kgen_softmax_fwd", 16) && (!f->name[16] || f->name[16] == '_')) /* named by its variant */
		softmax_fwd((const kg_args *)params[0]);
	clock_us += (20.0 + (double)(f->hash % 1000) / 10.0) * env_int("KGEN_MOCK_TIME_PCT", 100) / 100.0;
	if (sleep_us > 0)
		usleep((useconds_t)sleep_us);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                                unsigned int by, unsigned int bz, unsigned int smem, CUstream s, void **params,
                                void **extra)
{
	(void)gy, (void)gz, (void)by, (void)bz, (void)smem, (void)s, (void)extra;
	if (!mock)
		log_launch(f, gx, bx, 0);
	return launch(f, params);
}

CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra)
{
	int programmatic = 0;
	(void)extra;
	for (unsigned i = 0; !mock && i < config->numAttrs; i++) {
		programmatic |= config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION &&
		                config->attrs[i].value.programmaticStreamSerializationAllowed;
		n_cluster += config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
		n_coop += config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE && config->attrs[i].value.cooperative;
	}
	if (!mock) {
		n_programmatic += programmatic;
		log_launch(f, config->gridDimX, config->blockDimX, programmatic);
	}
	return launch(f, params);
}

/* fake: zeroed; mock: 256-byte aligned, as the driver's. */
CUresult CUDAAPI cuMemAlloc(CUdeviceptr *p, size_t n)
{
	void *m = mock ? aligned_alloc(256, (n + 255) / 256 * 256) : calloc(1, n ? n : 1);
	n_alloc += !mock;
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*p = (CUdeviceptr)(uintptr_t)m;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr p)
{
	free((void *)(uintptr_t)p);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n)
{
	memcpy((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n)
{
	memcpy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	(void)s;
	memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	/* mock: 1.5 TB/s each way (3 TB/s moved), or KGEN_MOCK_COPY_US */
	if (mock)
		clock_us += env_int("KGEN_MOCK_COPY_US", 0) > 0 ? (double)env_int("KGEN_MOCK_COPY_US", 0)
		                                                : 2.0 + (double)n / 1.5e6;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
	n_memset_async += !mock;
	(void)s;
	memset((void *)(uintptr_t)dst, v, n);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr dst, unsigned char v, size_t n)
{
	n_memset += !mock;
	memset((void *)(uintptr_t)dst, v, n);
	return CUDA_SUCCESS;
}

/* mock: an event holds the virtual time it was recorded at; fake: events
 * and streams are one static handle, and every span is 1 us. */
CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int flags)
{
	n_event_create += !mock;
	(void)flags;
	if (!mock) {
		*e = &fake_event;
		return CUDA_SUCCESS;
	}
	return (*e = calloc(1, sizeof **e)) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult CUDAAPI cuEventRecord(CUevent e, CUstream s)
{
	n_record += !mock;
	(void)s;
	if (mock)
		e->t = clock_us;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventSynchronize(CUevent e)
{
	n_sync += !mock;
	(void)e;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
	*ms = mock ? (float)((b->t - a->t) / 1000.0) : 0.001f;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy(CUevent e)
{
	if (mock)
		free(e);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int flags)
{
	(void)flags;
	if (!mock) {
		*s = &fake_stream;
		return CUDA_SUCCESS;
	}
	return (*s = calloc(1, sizeof **s)) ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

CUresult CUDAAPI cuStreamDestroy(CUstream s)
{
	if (mock)
		free(s);
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamSynchronize(CUstream s)
{
	n_sync += !mock;
	(void)s;
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult r, const char **s)
{
	if (mock)
		*s = r == CUDA_ERROR_INVALID_DEVICE ? "CUDA_ERROR_INVALID_DEVICE" : "CUDA_ERROR_MOCK";
	else
		*s = r == CUDA_ERROR_INVALID_IMAGE ? "CUDA_ERROR_INVALID_IMAGE"
		   : r == CUDA_ERROR_NOT_FOUND ? "CUDA_ERROR_NOT_FOUND" : "CUDA_ERROR_FAKE";
	return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult r, const char **s)
{
	if (mock)
		*s = r == CUDA_ERROR_INVALID_DEVICE ? "invalid device ordinal" : "mock error";
	else
		*s = r == CUDA_ERROR_INVALID_IMAGE ? "device kernel image is invalid"
		   : r == CUDA_ERROR_NOT_FOUND ? "named symbol not found" : "fake error";
	return CUDA_SUCCESS;
}
