"""Drop-in replacements for torch.softmax, torch.log_softmax and
torch.nn.functional.cross_entropy, computed by kgen's tuned kernels.

Signatures, results and gradients follow torch's. The kernels run on the
current CUDA stream of the tensors' device; inputs may have any leading
dimensions and be float32, float16 or bfloat16. Bad input raises
kgen.KgenError (a RuntimeError; KgenValueError, also a ValueError, for
rejected arguments) carrying libkgen's message, or TypeError / ValueError
for what torch itself would reject.
"""
import torch

from . import ops

__all__ = ["softmax", "log_softmax", "cross_entropy"]


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


class _Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        rows, back = _as_rows(x, dim)
        out = back(ops.softmax_fwd(rows, log=log))
        ctx.save_for_backward(out)  # an output: modifying it in place is caught, as with torch.softmax
        ctx.dim, ctx.log = dim, log
        return out

    @staticmethod
    def backward(ctx, dy):
        (out,) = ctx.saved_tensors
        y, back = _as_rows(out, ctx.dim)  # the rows the forward wrote (a view, no copy)
        dyr, _ = _as_rows(dy.to(out.dtype), ctx.dim)
        return back(ops.softmax_bwd(y, dyr, log=ctx.log)), None, None


def _softmax(input, dim, dtype, log):
    _check_float(input, "input")
    if dtype is not None:
        input = input.to(dtype)
        _check_float(input, "input")
    if input.numel() == 0:
        return (torch.log_softmax if log else torch.softmax)(input, dim)
    if not (input.requires_grad and torch.is_grad_enabled()):
        rows, back = _as_rows(input, dim)  # no graph to record: skip the autograd machinery
        return back(ops.softmax_fwd(rows, log=log))
    return _Softmax.apply(input, dim, log)


def softmax(input, dim=-1, dtype=None):
    """torch.softmax(input, dim, dtype=None) on kgen's kernels."""
    return _softmax(input, dim, dtype, False)


def log_softmax(input, dim=-1, dtype=None):
    """torch.log_softmax(input, dim, dtype=None) on kgen's kernels."""
    return _softmax(input, dim, dtype, True)


class _CrossEntropy(torch.autograd.Function):
    """Forward: one read of the logits (loss and the per-row logsumexp).
    Backward: one read of the logits and one write of their gradient, scaled
    by the incoming gradient on the device (no host synchronization)."""

    @staticmethod
    def forward(ctx, logits, target, weight, opt, out_dtype, inplace_backward):
        loss, lse = ops.xent_fwd(logits, target, opt, want_lse=ctx.needs_input_grad[0])
        ctx.opt, ctx.inplace = opt, inplace_backward
        ctx.save_for_backward(logits, target, weight, lse)  # weight: opt points at it
        return loss.to(out_dtype)

    @staticmethod
    def backward(ctx, dloss):
        logits, target, weight, lse = ctx.saved_tensors
        dl = dloss.reshape(-1).float().contiguous()
        dx = ops.xent_bwd(logits, target, lse, dl, ctx.opt, out=logits if ctx.inplace else None)
        return dx, None, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=None, inplace_backward=False):
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
    opt = ops.xent_options(weight=w, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing, z_loss=z_loss, softcap=softcap)
    if logits.size(0) == 0:  # no rows: torch's empty results
        return torch.nn.functional.cross_entropy(input.float(), target.long(), reduction=reduction).to(input.dtype)
    if input.requires_grad and torch.is_grad_enabled():
        loss = _CrossEntropy.apply(logits, tgt, w, opt, input.dtype, bool(inplace_backward))
    else:
        loss = ops.xent_fwd(logits, tgt, opt, want_lse=False)[0].to(input.dtype)
    if reduction == "none":
        loss = loss.reshape(lead)
    else:
        loss = loss.reshape(())
    return loss
