"""Thin calls of libkgen on torch tensors: no autograd, no reshaping.

Each function takes 2-D CUDA tensors [rows, cols] whose last dimension is
contiguous (any row stride), launches one kgen kernel on the tensors'
device's current stream, and returns the outputs. kgen.torch builds the
autograd functions on these; benchmarks call them directly.
"""
import ctypes

import torch

from . import _lib

__all__ = ["softmax_fwd", "softmax_bwd", "xent_fwd", "xent_bwd", "xent_fused", "xent_options", "prepare",
           "REDUCTIONS", "OPS"]

_DTYPE = {torch.float32: _lib.DTYPES["f32"], torch.float16: _lib.DTYPES["f16"], torch.bfloat16: _lib.DTYPES["bf16"]}
_ITYPE = {torch.int32: _lib.ITYPES["int32"], torch.int64: _lib.ITYPES["int64"]}
REDUCTIONS = _lib.REDUCTIONS
OPS = _lib.OPS  # kgen_op of kgen.h


def _dtype_code(t, what):
    code = _DTYPE.get(t.dtype)
    if code is None:
        raise TypeError(f"kgen: {what} must be float32, float16 or bfloat16 (got {t.dtype})")
    return code


def _rows_view(t, what):
    """(rows, ld) of a 2-D CUDA tensor whose last dimension is contiguous."""
    if not t.is_cuda:
        raise ValueError(f"kgen: {what} must be a CUDA tensor (got device {t.device})")
    if t.dim() != 2:
        raise ValueError(f"kgen: {what} must be 2-D [rows, cols] (got {t.dim()}-D)")
    if t.stride(1) != 1 and t.size(1) > 1:
        raise ValueError(f"kgen: the last dimension of {what} must be contiguous (stride {t.stride(1)})")
    if t.size(0) > 1 and t.stride(0) < t.size(1):
        raise ValueError(f"kgen: the rows of {what} overlap (row stride {t.stride(0)} < {t.size(1)} columns)")
    return t.size(0), max(t.stride(0), t.size(1))


_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)


def _stream(t):
    """The raw current stream of t's device (without making a Stream object)."""
    if _raw_stream is not None:
        return _raw_stream(t.device.index)
    return torch.cuda.current_stream(t.device).cuda_stream


class _on:
    """Make t's device current for the call, only when it is not already
    (switching devices costs microseconds; most calls need none)."""
    __slots__ = ("idx", "prev")

    def __init__(self, t):
        self.idx = t.device.index

    def __enter__(self):
        self.prev = torch.cuda.current_device()
        if self.prev != self.idx:
            torch.cuda.set_device(self.idx)

    def __exit__(self, *exc):
        if self.prev != self.idx:
            torch.cuda.set_device(self.prev)


def softmax_fwd(x, out=None, log=False):
    """y = softmax(x) (log=False) or log_softmax(x) over the last dimension."""
    dt = _dtype_code(x, "x")
    rows, ldx = _rows_view(x, "x")
    y = torch.empty_like(x, memory_format=torch.contiguous_format) if out is None else out
    _, ldy = _rows_view(y, "out")
    if y.dtype != x.dtype or y.shape != x.shape:
        raise ValueError("kgen: out must have the shape and dtype of x")
    if rows and x.size(1):
        lib, h = _lib.library(), _lib.handle()
        fn = lib.kgen_log_softmax_fwd if log else lib.kgen_softmax_fwd
        with _on(x):
            _lib.check(fn(h, y.data_ptr(), x.data_ptr(), rows, x.size(1), ldx, ldy, dt, _stream(x)))
    return y


def softmax_bwd(y, dy, out=None, log=False):
    """dx from the forward output y and the output's gradient dy:
    y * (dy - sum(dy * y)) for softmax, dy - exp(y) * sum(dy) for log_softmax."""
    dt = _dtype_code(y, "y")
    rows, ldy = _rows_view(y, "y")
    _, lddy = _rows_view(dy, "dy")
    if dy.dtype != y.dtype or dy.shape != y.shape:
        raise ValueError(f"kgen: dy must have the shape and dtype of y ({tuple(dy.shape)} {dy.dtype} vs "
                         f"{tuple(y.shape)} {y.dtype})")
    dx = torch.empty_like(y, memory_format=torch.contiguous_format) if out is None else out
    _, lddx = _rows_view(dx, "out")
    if rows and y.size(1):
        lib, h = _lib.library(), _lib.handle()
        fn = lib.kgen_log_softmax_bwd if log else lib.kgen_softmax_bwd
        with _on(y):
            _lib.check(fn(h, dx.data_ptr(), y.data_ptr(), dy.data_ptr(), rows, y.size(1), ldy, lddy, lddx, dt,
                          _stream(y)))
    return dx


def xent_options(weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0,
                 softcap=None, denominator=1.0, bad_targets=None, workspace=None):
    """A kgen_xent_options struct. weight: a CUDA float32 contiguous [vocab]
    tensor or None; bad_targets: a CUDA int64 [1] counter or None;
    workspace: a CUDA tensor of at least kgen_xent_workspace_size() bytes
    (the reductions' denominators; None: libkgen's scratch of the stream).
    The caller keeps those tensors alive until the kernel has run."""
    red = REDUCTIONS.get(reduction) if isinstance(reduction, str) else int(reduction)
    if red is None:
        raise ValueError(f"kgen: reduction must be one of {', '.join(REDUCTIONS)} (got {reduction!r})")
    return _lib.XentOptions(int(ignore_index), red, float(denominator), float(label_smoothing), float(z_loss),
                            float(softcap or 0.0), weight.data_ptr() if weight is not None else None,
                            bad_targets.data_ptr() if bad_targets is not None else None,
                            workspace.data_ptr() if workspace is not None else None)


def workspace(device):
    """A cross-entropy workspace on device for one call: from torch's caching
    allocator, so it follows the stream and CUDA graph pools like any tensor."""
    return torch.empty(_lib.XENT_WORKSPACE_BYTES, dtype=torch.uint8, device=device)


def prepare(op, dtype, rows, cols, ld=None, target_dtype=torch.int64, weight=False, label_smoothing=0.0,
            z_loss=0.0, softcap=None, reduction="mean", device=None):
    """Load the kernel of a problem ahead of its calls (kgen_prepare), e.g.
    before CUDA graph capture: op is a name of OPS ("softmax_fwd", ...,
    "cross_entropy_fused"), dtype a torch dtype, rows and cols the calls'
    shape (rows selects a power-of-two bucket), ld their row stride
    (default cols). For cross-entropy, which options are on selects the
    kernel. Runs in device's (default: the current) context; launches
    nothing."""
    code = OPS.get(op)
    if code is None:
        raise ValueError(f"kgen: op must be one of {', '.join(OPS)} (got {op!r})")
    dt = _DTYPE.get(dtype)
    if dt is None:
        raise TypeError(f"kgen: dtype must be float32, float16 or bfloat16 (got {dtype})")
    dev = torch.device(device) if device is not None else torch.device("cuda", torch.cuda.current_device())
    opt = xent_options(weight=None, reduction=reduction, label_smoothing=label_smoothing, z_loss=z_loss,
                       softcap=softcap)
    if weight:
        opt.weight = 256  # only whether there are weights selects the kernel
    it = _ITYPE[target_dtype]
    with torch.cuda.device(dev):
        # a captured call brings its own workspace: no stream scratch to set up
        opt.workspace = 256
        _lib.check(_lib.library().kgen_prepare(_lib.handle(), code, dt, int(rows), int(cols),
                                               int(ld if ld is not None else cols), it, ctypes.byref(opt),
                                               torch.cuda.current_stream(dev).cuda_stream))


def _xent_args(logits, target):
    dt = _dtype_code(logits, "logits")
    rows, ld = _rows_view(logits, "logits")
    it = _ITYPE.get(target.dtype)
    if it is None:
        raise TypeError(f"kgen: target must hold class indices as int64 or int32 (got {target.dtype})")
    if target.dim() != 1 or target.size(0) != rows or (rows > 1 and target.stride(0) != 1):
        raise ValueError(f"kgen: target must be a contiguous [{rows}] tensor (got shape {tuple(target.shape)})")
    if target.device != logits.device:
        raise ValueError(f"kgen: target is on {target.device}, logits on {logits.device}")
    return dt, it, rows, ld


def _loss_out(rows, opt, device):
    return torch.empty(rows if opt.reduction == 0 else 1, device=device, dtype=torch.float32)


def _with_workspace(opt, device):
    """The options with a workspace of their own while a CUDA graph is being
    captured (the graph keeps the tensor's memory); otherwise libkgen's
    scratch of the stream, cleared once when made and left clear by every
    call, so that an eager call enqueues no clearing of its own (a memset
    before the kernels: about 2 us on an H100)."""
    ws = None
    if opt.workspace is None and torch.cuda.is_current_stream_capturing():
        ws = workspace(device)
        opt = _lib.XentOptions.from_buffer_copy(opt)
        opt.workspace = ws.data_ptr()
    return opt, ws


def xent_fwd(logits, target, opt, want_lse=True):
    """Cross-entropy forward: (loss, lse). loss is float32, [rows] for
    reduction none, else [1]; lse is the float32 [rows] logsumexp for
    xent_bwd, or None."""
    dt, it, rows, ld = _xent_args(logits, target)
    loss = _loss_out(rows, opt, logits.device)
    lse = torch.empty(rows, device=logits.device, dtype=torch.float32) if want_lse else None
    opt, ws = _with_workspace(opt, logits.device)
    with _on(logits):
        _lib.check(_lib.library().kgen_xent_fwd(_lib.handle(), loss.data_ptr(), lse.data_ptr() if want_lse else None,
                                                logits.data_ptr(), target.data_ptr(), rows, logits.size(1), ld, dt,
                                                it, ctypes.byref(opt), _stream(logits)))
    return loss, lse


def xent_bwd(logits, target, lse, dloss, opt, out=None):
    """dlogits from the logits, the forward's lse and the loss gradient
    dloss (float32 CUDA: [rows] for reduction none, else [1]; None means 1).
    out may be logits itself (the gradient overwrites the logits)."""
    dt, it, rows, ld = _xent_args(logits, target)
    dx = torch.empty_like(logits, memory_format=torch.contiguous_format) if out is None else out
    _, ldd = _rows_view(dx, "out")
    opt, ws = _with_workspace(opt, logits.device)
    with _on(logits):
        _lib.check(_lib.library().kgen_xent_bwd(_lib.handle(), dx.data_ptr(), logits.data_ptr(), target.data_ptr(),
                                                lse.data_ptr(), dloss.data_ptr() if dloss is not None else None,
                                                rows, logits.size(1), ld, ldd, dt, it, ctypes.byref(opt),
                                                _stream(logits)))
    return dx


def xent_fused(logits, target, opt, dloss=None, out=None, want_lse=False):
    """Forward and backward in one pass: (loss, lse or None, dlogits), the
    gradient scaled by dloss (None: 1). out may be logits itself."""
    dt, it, rows, ld = _xent_args(logits, target)
    loss = _loss_out(rows, opt, logits.device)
    lse = torch.empty(rows, device=logits.device, dtype=torch.float32) if want_lse else None
    dx = torch.empty_like(logits, memory_format=torch.contiguous_format) if out is None else out
    _, ldd = _rows_view(dx, "out")
    opt, ws = _with_workspace(opt, logits.device)
    with _on(logits):
        _lib.check(_lib.library().kgen_xent_fused(_lib.handle(), loss.data_ptr(),
                                                  lse.data_ptr() if want_lse else None, dx.data_ptr(),
                                                  logits.data_ptr(), target.data_ptr(),
                                                  dloss.data_ptr() if dloss is not None else None, rows,
                                                  logits.size(1), ld, ldd, dt, it, ctypes.byref(opt),
                                                  _stream(logits)))
    return loss, lse, dx
