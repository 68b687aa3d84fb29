"""kgen's kernels as torch.library custom ops (namespace "kgen").

Each op takes 2-D tensors [rows, cols] with a contiguous last dimension
(kgen.torch reshapes to that) and has a fake implementation (the shapes and
dtypes of its outputs), so FakeTensor tracing, torch.compile(fullgraph=True)
and torch.export see one opaque node per kernel: the ctypes call, the
handle's lock and the options struct stay inside the op. The forward ops
carry their autograd formula (register_autograd).

    kgen::softmax_fwd(x) -> y                kgen::softmax_bwd(y, dy) -> dx
    kgen::log_softmax_fwd(x) -> y            kgen::log_softmax_bwd(y, dy) -> dx
    kgen::cross_entropy_fwd(logits, target, weight?, opts...) -> (loss, lse)
    kgen::cross_entropy_bwd(logits, target, lse, dloss, weight?, opts...) -> dlogits
    kgen::cross_entropy_fused(logits, target, weight?, opts...) -> (loss, dlogits)
    kgen::cross_entropy_fused_inplace(logits!, target, weight?, opts...) -> loss
        (the gradient overwrites logits)

Cross-entropy's loss is float32: [rows] for reduction "none" (0), else [1].
The options are ignore_index, reduction (0 none, 1 sum, 2 mean),
label_smoothing, z_loss and softcap (0: none). A call captured in a CUDA
graph takes its cross-entropy workspace from torch's caching allocator, so
the ops can be captured once their kernels are loaded (kgen.prepare, or a
call before the capture); an eager call uses libkgen's scratch of the
stream, which needs no clearing per call.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from . import ops as _k

__all__ = ["softmax_fwd", "softmax_bwd", "log_softmax_fwd", "log_softmax_bwd", "cross_entropy_fwd",
           "cross_entropy_bwd", "cross_entropy_fused", "cross_entropy_fused_inplace"]



def _opt(weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    return _k.xent_options(weight=weight, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing, z_loss=z_loss, softcap=softcap or None)


def _loss_like(logits, reduction):
    return logits.new_empty((logits.size(0) if reduction == 0 else 1,), dtype=torch.float32)


# softmax and log-softmax

@torch.library.custom_op("kgen::softmax_fwd", mutates_args=())
def softmax_fwd(x: Tensor) -> Tensor:
    return _k.softmax_fwd(x, log=False)


@torch.library.custom_op("kgen::log_softmax_fwd", mutates_args=())
def log_softmax_fwd(x: Tensor) -> Tensor:
    return _k.softmax_fwd(x, log=True)


@torch.library.custom_op("kgen::softmax_bwd", mutates_args=())
def softmax_bwd(y: Tensor, dy: Tensor) -> Tensor:
    return _k.softmax_bwd(y, dy, log=False)


@torch.library.custom_op("kgen::log_softmax_bwd", mutates_args=())
def log_softmax_bwd(y: Tensor, dy: Tensor) -> Tensor:
    return _k.softmax_bwd(y, dy, log=True)


for _op in (softmax_fwd, log_softmax_fwd):
    @_op.register_fake
    def _(x):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

for _op in (softmax_bwd, log_softmax_bwd):
    @_op.register_fake
    def _(y, dy):
        return torch.empty_like(y, memory_format=torch.contiguous_format)


def _save_out(ctx, inputs, output):
    ctx.save_for_backward(output)


def _softmax_backward(ctx, dy):
    (y,) = ctx.saved_tensors
    return softmax_bwd(y, dy.to(y.dtype).contiguous())


def _log_softmax_backward(ctx, dy):
    (y,) = ctx.saved_tensors
    return log_softmax_bwd(y, dy.to(y.dtype).contiguous())


softmax_fwd.register_autograd(_softmax_backward, setup_context=_save_out)
log_softmax_fwd.register_autograd(_log_softmax_backward, setup_context=_save_out)


# cross-entropy

@torch.library.custom_op("kgen::cross_entropy_fwd", mutates_args=())
def cross_entropy_fwd(logits: Tensor, target: Tensor, weight: Optional[Tensor], ignore_index: int, reduction: int,
                      label_smoothing: float, z_loss: float, softcap: float) -> Tuple[Tensor, Tensor]:
    opt = _opt(weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    return _k.xent_fwd(logits, target, opt, want_lse=True)


@cross_entropy_fwd.register_fake
def _(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    return _loss_like(logits, reduction), logits.new_empty((logits.size(0),), dtype=torch.float32)


@torch.library.custom_op("kgen::cross_entropy_bwd", mutates_args=())
def cross_entropy_bwd(logits: Tensor, target: Tensor, lse: Tensor, dloss: Tensor, weight: Optional[Tensor],
                      ignore_index: int, reduction: int, label_smoothing: float, z_loss: float,
                      softcap: float) -> Tensor:
    opt = _opt(weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    return _k.xent_bwd(logits, target, lse, dloss, opt)


@cross_entropy_bwd.register_fake
def _(logits, target, lse, dloss, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    return torch.empty_like(logits, memory_format=torch.contiguous_format)


def _fwd_setup(ctx, inputs, output):
    logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap = inputs
    ctx.save_for_backward(logits, target, weight, output[1])
    ctx.args = (ignore_index, reduction, label_smoothing, z_loss, softcap)


def _fwd_backward(ctx, dloss, dlse):
    logits, target, weight, lse = ctx.saved_tensors
    dx = cross_entropy_bwd(logits, target, lse, dloss.float().reshape(-1).contiguous(), weight, *ctx.args)
    return dx, None, None, None, None, None, None, None


cross_entropy_fwd.register_autograd(_fwd_backward, setup_context=_fwd_setup)


@torch.library.custom_op("kgen::cross_entropy_fused", mutates_args=())
def cross_entropy_fused(logits: Tensor, target: Tensor, weight: Optional[Tensor], ignore_index: int,
                        reduction: int, label_smoothing: float, z_loss: float,
                        softcap: float) -> Tuple[Tensor, Tensor]:
    opt = _opt(weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    loss, _, dx = _k.xent_fused(logits, target, opt)
    return loss, dx


@cross_entropy_fused.register_fake
def _(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    return _loss_like(logits, reduction), torch.empty_like(logits, memory_format=torch.contiguous_format)


@torch.library.custom_op("kgen::cross_entropy_fused_inplace", mutates_args=("logits",))
def cross_entropy_fused_inplace(logits: Tensor, target: Tensor, weight: Optional[Tensor], ignore_index: int,
                                reduction: int, label_smoothing: float, z_loss: float, softcap: float) -> Tensor:
    opt = _opt(weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    loss, _, _ = _k.xent_fused(logits, target, opt, out=logits)
    return loss


@cross_entropy_fused_inplace.register_fake
def _(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    return _loss_like(logits, reduction)
