/**
 * @file kgen.h
 * @brief kgen runtime library: tuned softmax kernels, loaded from the tuning
 *        cache and launched on the caller's stream.
 *
 * Every function that can fail returns an int: #KGEN_SUCCESS (0) or one of the
 * negative KGEN_E* codes below. kgen_strerror() names a code;
 * kgen_last_error() gives the detail of the last failure on the calling
 * thread. The library never prints and never exits.
 *
 * libcuda and NVRTC are loaded at run time, so a program linked against
 * libkgen starts on a machine without a GPU driver; kgen_open() then fails
 * with #KGEN_ENODRIVER.
 *
 * Lookup of a kernel for one call: the in-process table, then the tuning
 * cache ($KGEN_CACHE_DIR, else $XDG_CACHE_HOME/kgen, else ~/.cache/kgen).
 * An untuned problem is served by the template's default configuration,
 * compiled with NVRTC on first use and stored in the cache.
 */
#ifndef KGEN_H
#define KGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KGEN_VERSION_MAJOR 0
#define KGEN_VERSION_MINOR 1
#define KGEN_VERSION_PATCH 0
#define KGEN_VERSION_STRING "0.1.0"

/** @defgroup errors Return codes
 *  Contiguous negative codes, #KGEN_SUCCESS is 0.
 *  @{ */
#define KGEN_SUCCESS       0
#define KGEN_EINVAL      (-1)  /**< an argument is invalid (the message names it) */
#define KGEN_ENOMEM      (-2)  /**< host memory allocation failed */
#define KGEN_ENODRIVER   (-3)  /**< libcuda could not be loaded or initialized */
#define KGEN_ENODEVICE   (-4)  /**< no CUDA device, or no current context and none could be made */
#define KGEN_ENONVRTC    (-5)  /**< NVRTC could not be loaded and no compiled kernel was found */
#define KGEN_ECOMPILE    (-6)  /**< NVRTC rejected generated source */
#define KGEN_ECUDA       (-7)  /**< a CUDA driver call failed (the message names it) */
#define KGEN_ECACHE      (-8)  /**< the tuning cache could not be opened, read or written */
#define KGEN_ENOTFOUND   (-9)  /**< no entry for this problem */
#define KGEN_ETEMPLATE   (-10) /**< a template raised an error (the message names file and line) */
#define KGEN_EMISMATCH   (-11) /**< a kernel's output did not match the reference */
#define KGEN_EALIGN      (-12) /**< a pointer or leading dimension is misaligned for the kernel */
#define KGEN_EARCH       (-13) /**< the GPU's SM differs from the one asked for */
#define KGEN_EUNSUPPORTED (-14) /**< the operation is not available for these arguments */
#define KGEN_LAST_ERRCODE KGEN_EUNSUPPORTED
/** @} */

/** Element types of tensors. */
typedef enum kgen_dtype {
	KGEN_F32 = 0,  /**< IEEE binary32 */
	KGEN_F16 = 1,  /**< IEEE binary16 */
	KGEN_BF16 = 2  /**< bfloat16 */
} kgen_dtype;

/** An opaque runtime handle: loaded modules, the cache, the lookup table.
 *  One handle may be used from many threads. */
typedef struct kgen_ctx kgen_ctx;

/** @brief Return a string naming an error code.
 *  @param[in] err a KGEN_E* code (or 0)
 *  @return "KGEN_EINVAL: invalid argument" and so on; never NULL. */
const char *kgen_strerror(int err);

/** @brief The detail of the last failure of a kgen call on this thread.
 *  @return a message such as "cols must be >= 1 (got 0)"; "" if none. */
const char *kgen_last_error(void);

/** @brief Open a runtime handle.
 *
 * Loads libcuda and initializes the driver. The kernels run in the context
 * current on the calling thread at each call; where no context is current,
 * the primary context of device 0 is made current.
 *
 * @param[out] ctx the new handle
 * @param[in] cache_dir the tuning cache to read, or NULL for the default
 *            ($KGEN_CACHE_DIR, $XDG_CACHE_HOME/kgen, ~/.cache/kgen)
 * @return #KGEN_SUCCESS, #KGEN_EINVAL, #KGEN_ENOMEM, #KGEN_ENODRIVER,
 *         #KGEN_ECACHE */
int kgen_open(kgen_ctx **ctx, const char *cache_dir);

/** @brief Close a handle and unload its modules. NULL is accepted. */
void kgen_close(kgen_ctx *ctx);

/** @brief Softmax over the last dimension of a row-major [rows, cols] tensor.
 *
 * y[r, c] = exp(x[r, c] - max_r) / sum_c' exp(x[r, c'] - max_r), computed
 * in fp32 and stored in @p dtype. Launched asynchronously on @p stream.
 *
 * @param[in] ctx a handle from kgen_open()
 * @param[out] y device pointer to the output, row stride @p ld_y elements
 * @param[in] x device pointer to the input, row stride @p ld_x elements
 * @param[in] rows number of rows, 1 .. 2^31-1
 * @param[in] cols elements per row, >= 1
 * @param[in] ld_x row stride of x in elements, >= cols
 * @param[in] ld_y row stride of y in elements, >= cols
 * @param[in] dtype element type of x and y
 * @param[in] stream a CUstream / cudaStream_t, or NULL for the default stream
 * @return #KGEN_SUCCESS, #KGEN_EINVAL, #KGEN_ENODEVICE, #KGEN_ENONVRTC,
 *         #KGEN_ECOMPILE, #KGEN_ECUDA, #KGEN_ECACHE, #KGEN_ETEMPLATE */
int kgen_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows,
                     int64_t cols, int64_t ld_x, int64_t ld_y,
                     kgen_dtype dtype, void *stream);

/** @brief Where the last kernel launched by this thread through @p ctx came
 *  from: "table", "cache" or "fallback", and its configuration.
 *  @param[out] buf receives e.g. "cache tpr=256,threads=256,vec=8"
 *  @return #KGEN_SUCCESS or #KGEN_EINVAL */
int kgen_last_kernel(kgen_ctx *ctx, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KGEN_H */
