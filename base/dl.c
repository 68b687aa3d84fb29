/* dl.c: load libcuda and NVRTC with dlopen (see dl.h). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dl.h"
#include "err.h"

struct kg_cu_api kg_cu;
struct kg_nvrtc_api kg_nvrtc;

#define KG_XSTR(x) KG_STR(x)
#define KG_STR(x) #x

static pthread_once_t cu_once = PTHREAD_ONCE_INIT, nvrtc_once = PTHREAD_ONCE_INIT;
static int cu_status, nvrtc_status;
static char cu_msg[512], nvrtc_msg[512];

/* Open the first library of names[] that loads; the env variable, when set,
 * is the only candidate. */
static void *open_first(const char *env, const char *const *names, char *msg, size_t len)
{
	const char *forced = getenv(env);
	void *h;
	if (forced && *forced) {
		if (!(h = dlopen(forced, RTLD_NOW | RTLD_LOCAL)))
			snprintf(msg, len, "cannot load '%s' (from %s): %s", forced, env, dlerror());
		return h;
	}
	for (int i = 0; names[i]; i++)
		if ((h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)))
			return h;
	snprintf(msg, len, "cannot load %s: %s", names[0], dlerror());
	return NULL;
}

static void cu_load_once(void)
{
	static const char *const names[] = {"libcuda.so.1", "libcuda.so", NULL};
	void *h = open_first("KGEN_CUDA_LIBRARY", names, cu_msg, sizeof cu_msg);
	CUresult r;
	if (!h) {
		cu_status = KGEN_ENODRIVER;
		return;
	}
	/* The member names expand through cuda.h's macros, so dlsym asks for
	 * the versioned symbol (cuMemAlloc -> "cuMemAlloc_v2"). */
#define KG_DL_LOAD(f)                                                          \
	if (!(*(void **)&kg_cu.f = dlsym(h, KG_XSTR(f)))) {                       \
		snprintf(cu_msg, sizeof cu_msg, "libcuda lacks '%s' (driver too old)", KG_XSTR(f)); \
		cu_status = KGEN_ENODRIVER;                                            \
		return;                                                                \
	}
	KG_CU_FUNCS(KG_DL_LOAD)
#undef KG_DL_LOAD
	if ((r = kg_cu.cuInit(0)) != CUDA_SUCCESS) {
		snprintf(cu_msg, sizeof cu_msg, "cuInit failed: %s", kg_cu_errstr(r));
		cu_status = r == CUDA_ERROR_NO_DEVICE ? KGEN_ENODEVICE : KGEN_ENODRIVER;
	}
}

int kg_cu_load(void)
{
	pthread_once(&cu_once, cu_load_once);
	if (cu_status)
		return kg_err(cu_status, "%s", cu_msg);
	return 0;
}

static void nvrtc_load_once(void)
{
	static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", NULL};
	void *h = open_first("KGEN_NVRTC_LIBRARY", names, nvrtc_msg, sizeof nvrtc_msg);
	if (!h) {
		nvrtc_status = KGEN_ENONVRTC;
		return;
	}
#define KG_DL_LOAD(f)                                                          \
	if (!(*(void **)&kg_nvrtc.f = dlsym(h, KG_XSTR(f)))) {                    \
		snprintf(nvrtc_msg, sizeof nvrtc_msg, "NVRTC lacks '%s'", KG_XSTR(f)); \
		nvrtc_status = KGEN_ENONVRTC;                                          \
		return;                                                                \
	}
	KG_NVRTC_FUNCS(KG_DL_LOAD)
#undef KG_DL_LOAD
}

int kg_nvrtc_load(void)
{
	pthread_once(&nvrtc_once, nvrtc_load_once);
	if (nvrtc_status)
		return kg_err(nvrtc_status, "%s", nvrtc_msg);
	return 0;
}

const char *kg_cu_errstr(CUresult r)
{
	static _Thread_local char buf[256];
	const char *name = NULL, *str = NULL;
	if (kg_cu.cuGetErrorName)
		kg_cu.cuGetErrorName(r, &name);
	if (kg_cu.cuGetErrorString)
		kg_cu.cuGetErrorString(r, &str);
	snprintf(buf, sizeof buf, "%s: %s", name ? name : "CUDA_ERROR", str ? str : "unknown");
	return buf;
}

int kg_cu_fail(const char *call, CUresult r)
{
	return kg_err(KGEN_ECUDA, "%s failed: %s", call, kg_cu_errstr(r));
}
