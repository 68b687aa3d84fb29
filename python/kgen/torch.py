"""Drop-in replacements for torch.softmax, torch.log_softmax and
torch.nn.functional.cross_entropy, computed by kgen's tuned kernels.

Signatures, results and gradients follow torch's. The kernels run on the
current CUDA stream of the tensors' device; inputs may have any leading
dimensions and be float32, float16 or bfloat16. Bad input raises
kgen.KgenError (a RuntimeError; KgenValueError, also a ValueError, for
rejected arguments) carrying libkgen's message, or TypeError / ValueError
for what torch itself would reject.

Every kernel is a torch.library custom op (kgen._torch_ops: kgen::softmax_fwd,
..., kgen::cross_entropy_fused) with a fake implementation and its autograd
formula, so torch.compile(fullgraph=True) and torch.export trace these
functions without graph breaks, and CUDA graphs capture them once their
kernels are loaded (kgen.prepare, or one call before the capture).
"""
import torch

from . import _torch_ops as kops
from . import ops as _k

__all__ = ["softmax", "log_softmax", "cross_entropy"]

_peek = getattr(getattr(torch._C, "_functorch", None), "peek_interpreter_stack", None)
_dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", None)
_function_modes = getattr(torch._C, "_is_torch_function_mode_enabled", None)


def _direct(x):
    """True for an eager call that needs neither autograd nor tracing: a
    plain tensor; no torch.compile or export, no torch.jit trace, no
    functorch transform, no dispatch or function mode (make_fx, FLOP
    counters). Such a call goes to libkgen through kgen.ops directly,
    without the custom op's dispatch (which cost tens of microseconds per
    call on the host); every other call keeps the custom ops."""
    # is_compiling first: under torch.compile it is a constant True that
    # ends the test before anything dynamo would have to trace
    return (not torch.compiler.is_compiling() and type(x) is torch.Tensor and
            not (x.requires_grad and torch.is_grad_enabled()) and not torch.jit.is_tracing() and
            _peek is not None and _peek() is None and
            _dispatch_modes is not None and _dispatch_modes() == 0 and
            _function_modes is not None and not _function_modes())


def _as_rows(x, dim):
    """x with `dim` moved last, as a [rows, cols] tensor with a contiguous
    last dimension, and the shape to give the result back."""
    if x.dim() == 0:
        return x.reshape(1, 1), lambda y: y.reshape(())
    if not -x.dim() <= dim < x.dim():
        raise IndexError(f"Dimension out of range (expected to be in range of [{-x.dim()}, {x.dim() - 1}], "
                         f"but got {dim})")
    dim = dim if dim >= 0 else dim + x.dim()
    moved = x.movedim(dim, -1) if dim != x.dim() - 1 else x
    shape = moved.shape
    if moved.dim() == 2 and (moved.stride(1) == 1 or moved.size(1) == 1) and moved.stride(0) >= moved.size(1):
        rows = moved
    else:
        rows = moved.reshape(-1, shape[-1]) if moved.stride(-1) == 1 else moved.contiguous().reshape(-1, shape[-1])
    if (rows.size(1) > 1 and rows.stride(1) != 1) or (rows.size(0) > 1 and rows.stride(0) < rows.size(1)):
        rows = rows.contiguous()  # e.g. an expanded (stride 0) gradient

    def back(y):
        y = y.reshape(shape)
        return y.movedim(-1, dim) if dim != x.dim() - 1 else y
    return rows, back


def _check_float(x, what):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"kgen: {what} must be a torch.Tensor (got {type(x).__name__})")
    if not x.is_cuda:
        raise ValueError(f"kgen: {what} must be a CUDA tensor (got device {x.device})")
    if x.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise TypeError(f"kgen: {what} must be float32, float16 or bfloat16 (got {x.dtype})")


def _softmax(input, dim, dtype, log):
    _check_float(input, "input")
    if dtype is not None:
        input = input.to(dtype)
        _check_float(input, "input")
    if input.numel() == 0:
        return (torch.log_softmax if log else torch.softmax)(input, dim)
    rows, back = _as_rows(input, dim)
    if _direct(rows):
        return back(_k.softmax_fwd(rows, log=log))
    return back((kops.log_softmax_fwd if log else kops.softmax_fwd)(rows))


def softmax(input, dim=-1, dtype=None):
    """torch.softmax(input, dim, dtype=None) on kgen's kernels."""
    return _softmax(input, dim, dtype, False)


def log_softmax(input, dim=-1, dtype=None):
    """torch.log_softmax(input, dim, dtype=None) on kgen's kernels."""
    return _softmax(input, dim, dtype, True)


class _CrossEntropyOnePass(torch.autograd.Function):
    """Loss and gradient in one read of the logits (kgen::cross_entropy_fused):
    the gradient, in the logits' dtype, is kept for backward (or written over
    the logits: inplace), and backward scales it by the incoming gradient."""

    @staticmethod
    def forward(ctx, logits, target, weight, ignore_index, reduction, eps, z_loss, softcap, inplace):
        args = (target, weight, ignore_index, reduction, eps, z_loss, softcap)
        if inplace:
            # the autograd graph does not see the write (as Liger's and
            # flash-attn's in-place cross-entropy): logits must not be
            # needed by anything else's backward
            grad = logits.detach()
            loss = kops.cross_entropy_fused_inplace(grad, *args)
        else:
            loss, grad = kops.cross_entropy_fused(logits, *args)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, dloss):
        (grad,) = ctx.saved_tensors
        if dloss.numel() == 1:
            # loss.backward() passes 1: the gradient is already scaled. Eager
            # asks the device (one small read) rather than rescale the whole
            # gradient; a compiled graph or a CUDA graph capture cannot
            # branch on it, and scales.
            if (torch.compiler.is_compiling() or torch.cuda.is_current_stream_capturing() or
                    bool(dloss.reshape(()) != 1)):
                grad = grad * dloss.reshape(()).to(grad.dtype)
        else:
            grad = grad * dloss.reshape(-1, 1).to(grad.dtype)
        return grad, None, None, None, None, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None, inplace_backward=False,
                  one_pass=True):
    """torch.nn.functional.cross_entropy on kgen's kernels.

    input: logits [C], [N, C] or [N, C, d1, ...] (the class dimension is 1,
    as in torch); target: class indices (int64 or int32) of shape [], [N] or
    [N, d1, ...]; class-probability targets are not supported. Beyond
    torch's arguments: z_loss (lambda * logsumexp^2 added to each kept
    row's loss), softcap (logits become softcap * tanh(logits / softcap)
    first), and inplace_backward (the gradient overwrites `input` during the
    backward pass, saving one logits-sized buffer; `input` must not be used
    after backward). The loss has input's dtype, like torch's; it is
    computed in float32.

    When input requires grad, loss and gradient come from one read of the
    logits (kgen::cross_entropy_fused): the gradient is kept (in input's
    dtype, or over input with inplace_backward) and scaled in backward by
    the incoming gradient. one_pass=False runs the forward kernel, then the
    backward kernel from the saved logsumexp (two reads of the logits, no
    logits-sized buffer between forward and backward). Under torch.compile
    (and torch.export) the two kernels are used unless inplace_backward: a
    compiled graph cannot skip the scaling by an incoming gradient of 1, and
    one pass plus that scaling moves more bytes than two passes (on an H100,
    an LM head step at vocabulary 128256 took 37.4 ms compiled with one pass,
    37.0 ms with two, and one logits-sized buffer more).
    """
    if size_average is not None or reduce is not None:
        raise ValueError("kgen: size_average and reduce are deprecated in torch; use reduction")
    _check_float(input, "input")
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"kgen: target must be a torch.Tensor (got {type(target).__name__})")
    if target.is_floating_point():
        raise NotImplementedError("kgen: class-probability (floating-point) targets are not supported; "
                                  "pass class indices")
    if target.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"kgen: target must hold class indices as int64 or int32 (got {target.dtype})")
    if input.dim() == 0:
        raise ValueError("kgen: input must have at least one dimension (the classes)")
    if input.dim() == 1:
        if target.dim() != 0:
            raise ValueError(f"kgen: for 1-D input (unbatched), target must be 0-D (got shape {tuple(target.shape)})")
        logits, tgt, lead = input.unsqueeze(0), target.reshape(1), ()
    else:
        lead = (input.size(0),) + tuple(input.shape[2:])
        if tuple(target.shape) != lead:
            raise ValueError(f"kgen: expected target of shape {lead} for input of shape {tuple(input.shape)} "
                             f"(got {tuple(target.shape)})")
        logits = input if input.dim() == 2 else input.movedim(1, -1).reshape(-1, input.size(1))
        tgt = target.reshape(-1)
    if logits.size(1) > 1 and logits.stride(1) != 1 or logits.size(0) > 1 and logits.stride(0) < logits.size(1):
        logits = logits.contiguous()
    tgt = tgt.contiguous()
    if tgt.device != input.device:
        raise ValueError(f"kgen: target is on {tgt.device}, input on {input.device}")
    w = None
    if weight is not None:
        if weight.dim() != 1 or weight.numel() != input.size(0 if input.dim() == 1 else 1):
            raise ValueError(f"kgen: weight must be a 1-D tensor of {logits.size(1)} class weights "
                             f"(got shape {tuple(weight.shape)})")
        w = weight.to(device=input.device, dtype=torch.float32).contiguous()
    if softcap is not None and softcap <= 0:
        raise ValueError(f"kgen: softcap must be > 0 or None (got {softcap})")
    red = _k.REDUCTIONS.get(reduction) if reduction in ("none", "sum", "mean") else None
    if red is None:
        raise ValueError(f"kgen: reduction must be one of none, sum, mean (got {reduction!r})")
    if logits.size(0) == 0:  # no rows: torch's empty results
        return torch.nn.functional.cross_entropy(input.float(), target.long(), reduction=reduction).to(input.dtype)
    args = (tgt, w, int(ignore_index), red, float(label_smoothing), float(z_loss), float(softcap or 0.0))
    if one_pass and not inplace_backward and torch.compiler.is_compiling():
        one_pass = False  # see above: the scaling would cost a pass more
    if input.requires_grad and torch.is_grad_enabled() and one_pass:
        loss = _CrossEntropyOnePass.apply(logits, *args, bool(inplace_backward)).to(input.dtype)
    elif _direct(logits) and _direct(tgt) and (w is None or _direct(w)):
        loss = _k.xent_fwd(logits, tgt, kops._opt(w, *args[2:]), want_lse=False)[0].to(input.dtype)
    else:
        loss = kops.cross_entropy_fwd(logits, *args)[0].to(input.dtype)
    if reduction == "none":
        loss = loss.reshape(lead)
    else:
        loss = loss.reshape(())
    return loss
