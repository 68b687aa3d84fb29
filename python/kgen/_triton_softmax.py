"""The softmax forward of Triton's "fused softmax" tutorial, for kgen.bench
(backend 'triton'): one program per row, the whole row loaded into one
block (its width rounded up to a power of two), max, exp, sum and the
division in registers, one read and one write of the row. It is the
baseline Triton users start from; it applies where a row fits one block
(MAX_COLS columns here: wider rows spill). Imported only when that backend
is asked for, so that kgen itself never needs Triton."""
import torch
import triton
import triton.language as tl

MAX_COLS = 32768


@triton.jit
def _row_softmax(y_ptr, x_ptr, x_stride, y_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=-float("inf")).to(tl.float32)
    x = x - tl.max(x, axis=0)
    e = tl.exp(x)
    y = e / tl.sum(e, axis=0)
    tl.store(y_ptr + row * y_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def softmax(x):
    """softmax over the last dimension of a 2-D CUDA tensor (rows of at
    most MAX_COLS columns)."""
    rows, cols = x.shape
    if cols > MAX_COLS:
        raise ValueError(f"rows of {cols} columns do not fit one block (at most {MAX_COLS})")
    block = triton.next_power_of_2(cols)
    warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
    y = torch.empty_like(x)
    _row_softmax[(rows,)](y, x, x.stride(0), y.stride(0), cols, BLOCK=block, num_warps=warps)
    return y
