"""torch_parity.py LIBKGEN: libkgen against PyTorch itself, on a GPU.

The fp64 references of tests/test_gpu_ops.c encode torch's definitions; this
test checks the definitions themselves against torch (2.x): softmax and
log_softmax forward and backward, and cross_entropy with weights,
ignore_index, label smoothing (whose mean has the denominator of the nll
term in torch 2.x: the kept rows, or their weights) and every reduction, plus z-loss and softcapping written out in torch. Exits 77
(skipped) without torch or CUDA.
"""
import ctypes
import importlib.util
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: no torch")
    sys.exit(77)
if not torch.cuda.is_available():
    print("SKIP: no CUDA device")
    sys.exit(77)


# kgen_xent_options as python/kgen/_lib.py defines it (one definition; its
# size is checked by python/tests/test_lib.py): that file alone, without the
# package around it.
_spec = importlib.util.spec_from_file_location(
    "kgen_lib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "kgen", "_lib.py"))
_kgen_lib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kgen_lib)
XentOptions = _kgen_lib.XentOptions


lib = ctypes.CDLL(sys.argv[1])
lib.kgen_strerror.restype = ctypes.c_char_p
lib.kgen_last_error.restype = ctypes.c_char_p
I64, P = ctypes.c_int64, ctypes.c_void_p
for fn in ("kgen_softmax_fwd", "kgen_log_softmax_fwd"):
    getattr(lib, fn).argtypes = [P, P, P, I64, I64, I64, I64, ctypes.c_int, P]
for fn in ("kgen_softmax_bwd", "kgen_log_softmax_bwd"):
    getattr(lib, fn).argtypes = [P, P, P, P, I64, I64, I64, I64, I64, ctypes.c_int, P]
lib.kgen_xent_fwd.argtypes = [P, P, P, P, P, I64, I64, I64, ctypes.c_int, ctypes.c_int, P, P]
lib.kgen_xent_bwd.argtypes = [P, P, P, P, P, P, I64, I64, I64, I64, ctypes.c_int, ctypes.c_int, P, P]
lib.kgen_xent_fused.argtypes = [P, P, P, P, P, P, P, I64, I64, I64, I64, ctypes.c_int, ctypes.c_int, P, P]

DT = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
ctx = P()
torch.zeros(1, device="cuda")  # make torch's context current first
assert lib.kgen_open(ctypes.byref(ctx), None) == 0, lib.kgen_last_error()
stream = torch.cuda.current_stream().cuda_stream
failures = 0
checks = 0


def ok(rc):
    if rc != 0:
        raise RuntimeError(f"{lib.kgen_strerror(rc).decode()}: {lib.kgen_last_error().decode()}")


def close(name, got, want, tol):
    """|got - want| <= tol * (max |want| of the row + |want|): the error a
    rounding to the dtype and fp32 math may make, relative to the row."""
    global failures, checks
    checks += 1
    got, want = got.double(), want.double()
    if got.dim() == 1:
        got, want = got[None], want[None]
    nan_ok = torch.equal(torch.isnan(got), torch.isnan(want))
    g, w = torch.nan_to_num(got), torch.nan_to_num(want)
    bound = tol * (w.abs().amax(dim=-1, keepdim=True) + w.abs()) + 1e-30
    err = ((g - w).abs() / bound).max().item() if g.numel() else 0.0
    if not nan_ok or err > 1:
        failures += 1
        print(f"FAIL {name}: worst {err:.3g} of the tolerance, NaNs agree: {nan_ok}")


def softmax_family(dtype, rows, cols):
    x = (torch.randn(rows, cols, device="cuda") * 3).to(dtype)
    dy = torch.randn(rows, cols, device="cuda").to(dtype)
    for fwd, bwd, tf in (("kgen_softmax_fwd", "kgen_softmax_bwd", torch.softmax),
                         ("kgen_log_softmax_fwd", "kgen_log_softmax_bwd", torch.log_softmax)):
        xr = x.double().requires_grad_()
        yr = tf(xr, dim=-1)
        yr.backward(dy.double())
        y = torch.empty_like(x)
        ok(getattr(lib, fwd)(ctx, y.data_ptr(), x.data_ptr(), rows, cols, cols, cols, DT[dtype], stream))
        close(f"{fwd} {dtype} {rows}x{cols}", y, yr.detach(), TOL[dtype])
        dx = torch.empty_like(x)
        ok(getattr(lib, bwd)(ctx, dx.data_ptr(), y.data_ptr(), dy.data_ptr(), rows, cols, cols, cols, cols,
                             DT[dtype], stream))
        # torch's own backward from the rounded y, in fp64
        yd = y.double()
        want = yd * (dy.double() - (dy.double() * yd).sum(-1, keepdim=True)) if tf is torch.softmax else \
            dy.double() - yd.exp() * dy.double().sum(-1, keepdim=True)
        close(f"{bwd} {dtype} {rows}x{cols}", dx, want, TOL[dtype] * 2)


def torch_xent(x, t, w, ignore, red, eps, zl, cap, den):
    """The loss kgen computes, written in torch (fp64)."""
    z = cap * torch.tanh(x / cap) if cap else x
    loss = F.cross_entropy(z, t, weight=w, ignore_index=ignore, label_smoothing=eps,
                           reduction="none" if red in (0, 3) else ("sum" if red == 1 else "mean"))
    keep = t != ignore
    if zl:
        lse = torch.logsumexp(z, -1)
        zterm = torch.where(keep, zl * lse * lse, torch.zeros_like(lse))
        loss = loss + (zterm if red in (0, 3) else (zterm.sum() if red == 1 else zterm.sum() / keep.sum()))
    if red == 3:
        loss = loss.sum() / den
    return loss


def xent(dtype, rows, vocab, weighted, eps, zl, cap, red, itype, inplace=False):
    ignore = -100
    x = (torch.randn(rows, vocab, device="cuda") * 3).to(dtype)
    t = torch.randint(0, vocab, (rows,), device="cuda")
    t[torch.rand(rows, device="cuda") < 0.2] = ignore
    t = t.to(itype)
    w = (torch.rand(vocab, device="cuda") + 0.5) if weighted else None
    den = 123.0
    name = f"xent {dtype} {rows}x{vocab} weight={weighted} eps={eps} zloss={zl} cap={cap} red={red} {itype}"
    xr = x.double().requires_grad_()
    want = torch_xent(xr, t.long(), w.double() if weighted else None, ignore, red, eps, zl, cap, den)
    dl = torch.rand(rows, device="cuda") + 0.5 if red == 0 else torch.tensor([0.75], device="cuda")
    want.backward(dl.double() if red == 0 else dl.double()[0])
    o = XentOptions(ignore, red, den, eps, zl, cap, w.data_ptr() if weighted else None, None)
    it = 0 if itype == torch.int32 else 1
    loss = torch.empty(rows if red == 0 else 1, device="cuda")
    lse = torch.empty(rows, device="cuda")
    ok(lib.kgen_xent_fwd(ctx, loss.data_ptr(), lse.data_ptr(), x.data_ptr(), t.data_ptr(), rows, vocab, vocab,
                         DT[dtype], it, ctypes.byref(o), stream))
    close("fwd " + name, loss if red == 0 else loss[0:1], want.detach().reshape(-1), 1e-4)
    dx = torch.empty_like(x)
    ok(lib.kgen_xent_bwd(ctx, dx.data_ptr(), x.data_ptr(), t.data_ptr(), lse.data_ptr(), dl.data_ptr(), rows, vocab,
                         vocab, vocab, DT[dtype], it, ctypes.byref(o), stream))
    close("bwd " + name, dx, xr.grad, TOL[dtype] * 2)
    out = x.clone() if inplace else torch.empty_like(x)
    loss2 = torch.empty_like(loss)
    ok(lib.kgen_xent_fused(ctx, loss2.data_ptr(), None, out.data_ptr(), (out if inplace else x).data_ptr(),
                           t.data_ptr(), dl.data_ptr(), rows, vocab, vocab, vocab, DT[dtype], it, ctypes.byref(o),
                           stream))
    close("fused loss " + name, loss2 if red == 0 else loss2[0:1], want.detach().reshape(-1), 1e-4)
    close(("fused in place " if inplace else "fused ") + name, out, xr.grad, TOL[dtype] * 2)


torch.manual_seed(0)
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    for rows, cols in ((64, 1000), (3, 7), (16, 32000)):
        softmax_family(dtype, rows, cols)
    for weighted in (False, True):
        for eps in (0.0, 0.1):
            for red in (0, 1, 2, 3):
                xent(dtype, 67, 1000, weighted, eps, 0.0, 0.0, red, torch.int64)
    xent(dtype, 40, 5000, True, 0.1, 1e-3, 5.0, 2, torch.int32)
    xent(dtype, 40, 50257, False, 0.0, 1e-4, 30.0, 2, torch.int64, inplace=True)
    xent(dtype, 33, 4099, True, 0.2, 0.0, 0.0, 0, torch.int32, inplace=True)
torch.cuda.synchronize()
lib.kgen_close(ctx)
print(f"torch_parity: {checks} comparisons with torch {torch.__version__}, {failures} failures")
sys.exit(1 if failures else 0)
