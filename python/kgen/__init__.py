"""kgen for PyTorch: tuned softmax, log-softmax and cross-entropy kernels
from libkgen, as torch functions.

    import kgen.torch as kt
    loss = kt.cross_entropy(logits, target)   # like F.cross_entropy
    y = kt.softmax(x, dim=-1)                 # like torch.softmax

kgen.ops holds the bare kernel calls; `python -m kgen.bench` compares
backends on one shape.
"""
from ._lib import KgenError, KgenValueError, last_kernel, library, library_candidates

__version__ = "0.1.0"
__all__ = ["KgenError", "KgenValueError", "last_kernel", "library", "library_candidates", "prepare", "__version__"]


def prepare(op, dtype, rows, cols, **kw):
    """Load the kernel of a problem before CUDA graph capture (kgen_prepare);
    see kgen.ops.prepare for the arguments."""
    from .ops import prepare as _prepare
    return _prepare(op, dtype, rows, cols, **kw)


def __getattr__(name):
    # kgen.torch, kgen.nn, kgen.ops and kgen.bench need torch: import them on first use
    if name in ("torch", "nn", "ops", "bench"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'kgen' has no attribute {name!r}")
