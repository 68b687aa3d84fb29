/* dl.h: libcuda and NVRTC, loaded at run time.
 *
 * Every binary of kgen starts without a GPU driver or NVRTC present; the
 * first use of either loads it with dlopen and resolves the entry points
 * named below. The prototypes come from cuda.h / nvrtc.h at build time, and
 * cuda.h's versioning macros (cuMemAlloc -> cuMemAlloc_v2, ...) pick the
 * symbol names, so the table always matches the header it was built with.
 */
#ifndef KGEN_DL_H
#define KGEN_DL_H

#include <cuda.h>
#include <nvrtc.h>

#define KG_CU_FUNCS(X)                                                         \
	X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet)         \
	X(cuDeviceGetAttribute) X(cuDeviceGetName) X(cuDeviceTotalMem)             \
	X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease)                   \
	X(cuCtxSetCurrent) X(cuCtxGetCurrent) X(cuCtxGetDevice) X(cuCtxGetId)      \
	X(cuCtxPushCurrent) X(cuCtxPopCurrent) X(cuStreamWaitEvent)                \
	X(cuCtxSynchronize) X(cuModuleLoadData) X(cuModuleUnload)                  \
	X(cuModuleGetFunction) X(cuFuncSetAttribute) X(cuFuncGetAttribute)        \
	X(cuLaunchKernel) X(cuLaunchKernelEx) X(cuMemAlloc) X(cuMemFree)           \
	X(cuMemcpyHtoD) X(cuMemcpyDtoH) X(cuMemcpyDtoDAsync) X(cuMemsetD8Async)   \
	X(cuMemsetD8)                                                              \
	X(cuEventCreate) X(cuEventRecord) X(cuEventSynchronize)                    \
	X(cuEventElapsedTime) X(cuEventDestroy) X(cuStreamCreate)                  \
	X(cuStreamDestroy) X(cuStreamSynchronize) X(cuGetErrorName)                \
	X(cuGetErrorString) X(cuOccupancyMaxActiveBlocksPerMultiprocessor)      \
	X(cuOccupancyMaxActiveClusters)

#define KG_NVRTC_FUNCS(X)                                                      \
	X(nvrtcVersion) X(nvrtcCreateProgram) X(nvrtcCompileProgram)               \
	X(nvrtcGetCUBINSize) X(nvrtcGetCUBIN) X(nvrtcGetProgramLogSize)            \
	X(nvrtcGetProgramLog) X(nvrtcDestroyProgram) X(nvrtcGetErrorString)        \
	X(nvrtcGetPTXSize) X(nvrtcGetPTX) X(nvrtcGetNumSupportedArchs)            \
	X(nvrtcGetSupportedArchs)

#define KG_DL_MEMBER(f) __typeof__(&f) f;
struct kg_cu_api { KG_CU_FUNCS(KG_DL_MEMBER) };
struct kg_nvrtc_api { KG_NVRTC_FUNCS(KG_DL_MEMBER) };
#undef KG_DL_MEMBER

extern struct kg_cu_api kg_cu;       /* valid after kg_cu_load() == 0 */
extern struct kg_nvrtc_api kg_nvrtc; /* valid after kg_nvrtc_load() == 0 */

/* Load libcuda ($KGEN_CUDA_LIBRARY, else libcuda.so.1) and call cuInit(0).
 * Thread-safe, done once; later calls return the first result.
 * Returns 0, KGEN_ENODRIVER or KGEN_ENODEVICE (message via kgen_last_error). */
int kg_cu_load(void);

/* Load NVRTC ($KGEN_NVRTC_LIBRARY, else libnvrtc.so.13, .so.12, .so).
 * Returns 0 or KGEN_ENONVRTC. */
int kg_nvrtc_load(void);

/* "CUDA_ERROR_OUT_OF_MEMORY: out of memory" for a driver result. */
const char *kg_cu_errstr(CUresult r);

/* Set the thread's last error for a failed driver call and return KGEN_ECUDA. */
int kg_cu_fail(const char *call, CUresult r);

#endif
