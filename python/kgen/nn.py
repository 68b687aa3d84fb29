"""torch.nn modules over kgen.torch."""
import torch

from . import torch as _kt

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(torch.nn.Module):
    """torch.nn.CrossEntropyLoss on kgen's kernels, with kgen's extra
    options (z_loss, softcap, inplace_backward; see kgen.torch.cross_entropy)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0, z_loss=0.0, softcap=None, inplace_backward=False, one_pass=True):
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("kgen: size_average and reduce are deprecated in torch; use reduction")
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss
        self.softcap = softcap
        self.inplace_backward = inplace_backward
        self.one_pass = one_pass

    def forward(self, input, target):
        return _kt.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                                 reduction=self.reduction, label_smoothing=self.label_smoothing,
                                 z_loss=self.z_loss, softcap=self.softcap, inplace_backward=self.inplace_backward,
                                 one_pass=self.one_pass)

    def extra_repr(self):
        s = f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
        if self.label_smoothing:
            s += f", label_smoothing={self.label_smoothing}"
        if self.z_loss:
            s += f", z_loss={self.z_loss}"
        if self.softcap:
            s += f", softcap={self.softcap}"
        return s
