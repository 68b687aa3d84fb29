/**
 * @file kgen.h
 * @brief kgen runtime library: tuned softmax, log-softmax and cross-entropy
 *        kernels, loaded from the tuning cache or a pack and launched on the
 *        caller's stream.
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
 * Lookup of a kernel for one call: the in-process table; then the best
 * record of the problem for this GPU model and SM in the tuning cache
 * ($KGEN_CACHE_DIR, else $XDG_CACHE_HOME/kgen, else ~/.cache/kgen), then in
 * the packs: the files and the "*.kgenpack" files of the directories of
 * $KGEN_PACK_PATH (colon-separated, read at kgen_open()), then the
 * "*.kgenpack" files of the installed packs directory
 * (share/kgen/packs of the install, found relative to libkgen itself, e.g.
 * <prefix>/lib/../share/kgen/packs; or $KGEN_PACK_DIR; empty: none). The record of the rows bucket nearest the
 * call's wins; between two as near, the earlier source. Only records made
 * by this kgen version from these templates (their stamp), and compiled by
 * an NVRTC the driver can load, are used; a pack's cubin is checked against
 * its checksum first. A problem none of them serves takes, in order, the
 * record of the same problem from the pack of another GPU model of the
 * same SM (unless $KGEN_NO_BORROW), the configuration tuned at the nearest
 * width (within 2x; unless $KGEN_NO_NEAR_WIDTH), else the template's
 * default configuration (kgen_last_kernel() says which). A borrowed record
 * brings its cubin; the other two are compiled with NVRTC on first use and
 * stored in the cache; without NVRTC such a call fails with #KGEN_ENONVRTC. Packs need no
 * NVRTC: see docs/packs.md.
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
#define KGEN_ENONVRTC    (-5)  /**< NVRTC could not be loaded and neither the cache nor a pack has a kernel */
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

/** Element types of class indices (cross-entropy targets). */
typedef enum kgen_itype {
	KGEN_INT32 = 0,
	KGEN_INT64 = 1
} kgen_itype;

/** How cross-entropy reduces the per-row losses. */
typedef enum kgen_reduction {
	KGEN_REDUCTION_NONE = 0,   /**< one loss per row */
	KGEN_REDUCTION_SUM = 1,    /**< their sum */
	KGEN_REDUCTION_MEAN = 2,   /**< torch's mean: over rows whose target is not ignore_index, weighted */
	KGEN_REDUCTION_SUM_OVER = 3 /**< their sum divided by kgen_xent_options::denominator */
} kgen_reduction;

/** Cross-entropy options; kgen_xent_options_init() sets torch's defaults. */
typedef struct kgen_xent_options {
	int64_t ignore_index;        /**< rows with this target get loss 0 and gradient 0 (default -100) */
	kgen_reduction reduction;    /**< default #KGEN_REDUCTION_MEAN */
	float denominator;           /**< for #KGEN_REDUCTION_SUM_OVER, e.g. a byte count; in [1e-6, 1e38)
	                                  (smaller ones are #KGEN_EINVAL: 1/denominator must stay far from
	                                  float overflow) */
	float label_smoothing;       /**< epsilon in [0, 1] (default 0) */
	float z_loss;                /**< lambda >= 0: lambda * lse^2 is added to each kept row's loss (default 0) */
	float softcap;               /**< c > 0: logits become c * tanh(x / c) first; 0 = off (default);
	                                  otherwise in [1e-3, 1e30] (#KGEN_EINVAL outside: x / c would
	                                  overflow) */
	const float *weight;         /**< device pointer to [vocab] class weights (fp32), or NULL */
	unsigned long long *bad_targets; /**< device counter, incremented per row whose target is outside
	                                      [0, vocab) and not ignore_index (such rows get a NaN loss); or NULL;
	                                      8-byte aligned (a 64-bit atomic; #KGEN_EALIGN otherwise) */
	void *workspace;             /**< device memory of kgen_xent_workspace_size() bytes, 8-byte aligned,
	                                  for the reductions' denominators and loss slots: cleared on the call's stream
	                                  (cuMemsetD8Async) and used by that call only, so it must not be in
	                                  use by a call on another stream at the same time. NULL (default):
	                                  the handle's scratch of the stream, made by kgen_prepare() or by
	                                  the stream's first call (see kgen_prepare() for CUDA graphs) */
} kgen_xent_options;

/** Bytes of a cross-entropy workspace (kgen_xent_options::workspace): the
 *  reductions' denominators (128 bytes), then 128 lines of 128 bytes into
 *  which the kernel's CTAs add their losses' terms, weights and kept rows,
 *  summed into the total after. It was 64
 *  bytes before the slots: a program that sized its workspace with the old
 *  macro must be rebuilt (the library's soname moved from libkgen.so.0 to
 *  libkgen.so.1 with it, so that such a program does not load this one);
 *  kgen_xent_workspace_size() gives the library's. */
#define KGEN_XENT_WORKSPACE_BYTES 16512

/** The operations, for kgen_prepare(). */
typedef enum kgen_op {
	KGEN_OP_SOFTMAX_FWD = 0,
	KGEN_OP_SOFTMAX_BWD = 1,
	KGEN_OP_LOG_SOFTMAX_FWD = 2,
	KGEN_OP_LOG_SOFTMAX_BWD = 3,
	KGEN_OP_XENT_FWD = 4,
	KGEN_OP_XENT_BWD = 5,
	KGEN_OP_XENT_FUSED = 6
} kgen_op;

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
 * @return #KGEN_SUCCESS, #KGEN_EINVAL, #KGEN_ENOMEM, #KGEN_ENODRIVER (no
 *         libcuda), #KGEN_ENODEVICE (a driver but no device), #KGEN_ECACHE
 *         (only for a @p cache_dir given explicitly: the default cache is
 *         used when it can be opened, else lookups simply miss) */
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
 * @return #KGEN_SUCCESS, #KGEN_EINVAL (the message names the argument),
 *         #KGEN_EALIGN (a pointer not aligned to its element size),
 *         #KGEN_ENOMEM, #KGEN_ENODEVICE, #KGEN_ENONVRTC (untuned problem and
 *         no NVRTC), #KGEN_ECOMPILE, #KGEN_ECUDA, #KGEN_ETEMPLATE,
 *         #KGEN_EUNSUPPORTED (more than 16 CUDA contexts in one handle) */
int kgen_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows,
                     int64_t cols, int64_t ld_x, int64_t ld_y,
                     kgen_dtype dtype, void *stream);

/** @brief Softmax backward: dx = y * (dy - sum(dy * y)) over each row.
 *  @param[in] y the forward output, row stride @p ld_y
 *  @param[in] dy the gradient of the output, row stride @p ld_dy
 *  @param[out] dx the gradient of the input, row stride @p ld_dx
 *  Other parameters and return codes as kgen_softmax_fwd(). */
int kgen_softmax_bwd(kgen_ctx *ctx, void *dx, const void *y, const void *dy, int64_t rows,
                     int64_t cols, int64_t ld_y, int64_t ld_dy, int64_t ld_dx,
                     kgen_dtype dtype, void *stream);

/** @brief Log-softmax forward: y = x - logsumexp(x) over each row.
 *  Parameters and return codes as kgen_softmax_fwd(). */
int kgen_log_softmax_fwd(kgen_ctx *ctx, void *y, const void *x, int64_t rows,
                         int64_t cols, int64_t ld_x, int64_t ld_y,
                         kgen_dtype dtype, void *stream);

/** @brief Log-softmax backward: dx = dy - exp(y) * sum(dy) over each row,
 *  from the forward output y. Parameters as kgen_softmax_bwd(). */
int kgen_log_softmax_bwd(kgen_ctx *ctx, void *dx, const void *y, const void *dy, int64_t rows,
                         int64_t cols, int64_t ld_y, int64_t ld_dy, int64_t ld_dx,
                         kgen_dtype dtype, void *stream);

/** @brief Set torch's defaults: ignore_index -100, reduction mean, no
 *  smoothing, z-loss, softcap or weights. */
void kgen_xent_options_init(kgen_xent_options *opt);

/** @brief Cross-entropy forward over logits [rows, vocab] and targets [rows].
 *
 * No gradient is written. For reduction none, @p loss holds one fp32 loss
 * per row; otherwise loss[0] receives the reduced loss. The reduction's
 * denominators are computed on the device: no host synchronization.
 *
 * @param[out] loss device fp32: [rows] (reduction none) or [1]
 * @param[out] lse device fp32 [rows], the logsumexp of each row (of the
 *             softcapped logits), for kgen_xent_bwd(); or NULL
 * @param[in] logits device [rows, vocab], row stride @p ld, type @p dtype
 * @param[in] target device [rows] class indices of type @p itype
 * @param[in] opt options, or NULL for the defaults
 * @return #KGEN_SUCCESS, #KGEN_EINVAL (the message names the argument),
 *         #KGEN_EALIGN, and the codes of kgen_softmax_fwd() */
int kgen_xent_fwd(kgen_ctx *ctx, float *loss, float *lse, const void *logits,
                  const void *target, int64_t rows, int64_t vocab, int64_t ld,
                  kgen_dtype dtype, kgen_itype itype, const kgen_xent_options *opt,
                  void *stream);

/** @brief Cross-entropy backward: dlogits from the logits, the saved
 *  logsumexp and the gradient of the loss; one read of the logits, one write.
 * @param[out] dlogits device [rows, vocab], row stride @p ld_dlogits
 * @param[in] lse the logsumexp saved by kgen_xent_fwd()
 * @param[in] dloss device fp32: [rows] for reduction none, else [1]; NULL means 1
 * Other parameters as kgen_xent_fwd(); the options must be those of the forward call. */
int kgen_xent_bwd(kgen_ctx *ctx, void *dlogits, const void *logits, const void *target,
                  const float *lse, const float *dloss, int64_t rows, int64_t vocab,
                  int64_t ld, int64_t ld_dlogits, kgen_dtype dtype, kgen_itype itype,
                  const kgen_xent_options *opt, void *stream);

/** @brief Cross-entropy forward and backward in one pass over the logits:
 *  the loss (as kgen_xent_fwd()) and dlogits scaled by @p dloss (NULL: 1).
 *  @p dlogits may equal @p logits (in place; then @p ld_dlogits must equal @p ld). */
int kgen_xent_fused(kgen_ctx *ctx, float *loss, float *lse, void *dlogits, const void *logits,
                    const void *target, const float *dloss, int64_t rows, int64_t vocab,
                    int64_t ld, int64_t ld_dlogits, kgen_dtype dtype, kgen_itype itype,
                    const kgen_xent_options *opt, void *stream);

/** @brief The size of a cross-entropy workspace in bytes
 *  (#KGEN_XENT_WORKSPACE_BYTES; kgen_xent_options::workspace). */
size_t kgen_xent_workspace_size(void);

/** @brief Load the kernel of a problem ahead of its calls, e.g. before
 *  CUDA graph capture.
 *
 * Once the kernel a call needs is loaded, the call only enqueues work on
 * its stream: no allocation, no synchronous call, no event; it can be
 * captured in a CUDA graph (cuStreamBeginCapture, torch.cuda.graph). The
 * first call of a problem loads its kernel (and may compile it), which
 * capture does not allow: call kgen_prepare() for each problem first, or
 * make one call of each outside the capture (a warm-up).
 *
 * A problem is what selects the kernel: the op, @p dtype, @p cols (the
 * vocabulary for cross-entropy), the power-of-two bucket of @p rows, the
 * alignment of the rows (here: tensors from a caching allocator, rows
 * @p ld elements apart; a call with less aligned pointers loads another
 * kernel), and for cross-entropy @p itype and which options are on
 * (weight, smoothing, z-loss, softcap; their values do not matter).
 *
 * Cross-entropy calls with reduction mean or sum over more than one row,
 * and those with weighted smoothing, need a few bytes of device scratch: the caller's
 * kgen_xent_options::workspace, else the handle's scratch of the stream.
 * With @p opt->workspace NULL, kgen_prepare() also makes the handle's
 * scratch of @p stream (its first call would make it otherwise, and a
 * capture does not allow the allocation): capture on that stream, or pass
 * a workspace. Every graph captured on one stream without a workspace
 * shares that stream's scratch: replaying two such graphs at the same time
 * (or one while calls run on that stream) mixes their denominators; give
 * each graph its own workspace where they may overlap.
 *
 * A kernel that splits each row over CTAs that are no thread-block cluster
 * (configurations with xchg=global: a few long rows) exchanges the rows'
 * partials through device memory the handle makes when it loads that
 * kernel (eight areas, which its launches take in turn); nothing of it is
 * allocated or cleared per call. Its CTAs wait for each other, so it is
 * launched cooperatively (CUDA then guarantees that all of its CTAs are
 * resident together, beside other streams' kernels too). Calls take the
 * areas in the order they are made, whatever their stream: two calls of
 * the same kernel eight calls apart share an area, so no more than eight
 * calls of one such kernel may be in flight (enqueued and not finished)
 * on streams that can overlap, and a CUDA graph keeps the area its
 * capture took: do not replay a graph holding such a call while eight or
 * more calls of the same kernel are made in between and may still run.
 * A captured cooperative launch also cannot be updated in place into a
 * plain one (cuGraphExecUpdate): capture again when the kernel changes.
 *
 * Only calls whose kernel is loaded are capture-safe: a call that loads a
 * kernel (or makes a stream's scratch) while another thread captures in
 * the global capture mode breaks that capture.
 *
 * @param[in] op the operation
 * @param[in] rows, cols, ld the shape of the calls and their row stride (elements)
 * @param[in] itype, opt for cross-entropy: the target type and options (NULL: defaults); ignored otherwise
 * @param[in] stream the stream of the calls (for the scratch), or NULL
 * @return #KGEN_SUCCESS, #KGEN_EINVAL, and the codes of kgen_softmax_fwd() */
int kgen_prepare(kgen_ctx *ctx, kgen_op op, kgen_dtype dtype, int64_t rows, int64_t cols, int64_t ld,
                 kgen_itype itype, const kgen_xent_options *opt, void *stream);

/** @brief Where the last kernel launched by this thread through @p ctx came
 *  from: "table" (loaded by an earlier call), "cache", "pack", "borrowed" (a
 *  pack's record of another GPU model of the same SM, for a GPU with none of
 *  its own; $KGEN_NO_BORROW=1 turns that off), "nearest" (no record of the
 *  call's width: the configuration of the nearest tuned width, within 2x,
 *  compiled with NVRTC for this width; $KGEN_NO_NEAR_WIDTH=1 turns that off)
 *  or "fallback" (the template's default), and its configuration, then for
 *  "nearest" " (tuned at <cols> cols)", and for a record of another model
 *  " from '<GPU model>'"; "" when the thread's last call failed or went
 *  through another handle.
 *  @param[out] buf receives e.g. "cache strategy=reg,threads=256,tpr=256,vec=8",
 *  "borrowed strategy=reg,... from 'NVIDIA H100 80GB HBM3'" or
 *  "nearest cluster=8,load=cpasync,strategy=loop,... (tuned at 128256 cols)"
 *  @return #KGEN_SUCCESS or #KGEN_EINVAL */
int kgen_last_kernel(kgen_ctx *ctx, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* KGEN_H */
