"""kgen.torch against torch itself: values and gradients, on a CUDA GPU.

References are torch's own functions evaluated in float64 on the same
(rounded) inputs; a result passes when |got - want| <= tol * (max |want| of
its row + |want|), the error that rounding to the dtype and float32 math may
make.
"""
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import torch.nn.functional as F  # noqa: E402

import kgen  # noqa: E402
import kgen.nn  # noqa: E402
import kgen.torch as kt  # noqa: E402
from kgen import bench  # noqa: E402

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
TOL = {torch.float32: 2e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


def close(got, want, tol, what=""):
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    g, w = got.double(), want.double()
    assert torch.equal(torch.isnan(g), torch.isnan(w)), f"{what}: NaNs differ"
    g, w = torch.nan_to_num(g), torch.nan_to_num(w)
    if w.dim() == 0:
        g, w = g.reshape(1), w.reshape(1)
    bound = tol * (w.abs().amax(dim=-1, keepdim=True) + w.abs()) + 1e-30
    worst = ((g - w).abs() / bound).max().item() if w.numel() else 0.0
    assert worst <= 1, f"{what}: worst error {worst:.3g} of the tolerance"


def randn(*shape, dtype, scale=3.0):
    return (torch.randn(*shape, device="cuda") * scale).to(dtype)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(1234)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((64, 1000), -1), ((3, 7), 1), ((2, 5, 4096), -1), ((4, 333, 6), 1),
                                       ((8192,), 0), ((16, 32000), -1), ((2, 3, 50257), 2)])
def test_softmax_family(dtype, fn, shape, dim):
    x = randn(*shape, dtype=dtype).requires_grad_()
    y = getattr(kt, fn)(x, dim=dim)
    xr = x.detach().double().requires_grad_()
    yr = getattr(torch, fn)(xr, dim=dim)
    assert y.dtype == dtype and y.shape == x.shape
    close(y.movedim(dim, -1), yr.movedim(dim, -1), TOL[dtype], f"{fn} forward")  # rows along dim
    dy = randn(*shape, dtype=dtype, scale=1.0)
    y.backward(dy)
    # torch's backward formula from kgen's rounded output, in float64
    yd, dyd = y.detach().double().movedim(dim, -1), dy.double().movedim(dim, -1)
    if fn == "softmax":
        want = yd * (dyd - (dyd * yd).sum(-1, keepdim=True))
    else:
        want = dyd - yd.exp() * dyd.sum(-1, keepdim=True)
    close(x.grad.movedim(dim, -1), want, 2 * TOL[dtype], f"{fn} backward")


def test_softmax_noncontiguous_and_dtype_argument():
    base = randn(40, 3000, dtype=torch.float32)
    x = base[::2, 100:2100]  # a row stride of 3000, every other row
    close(kt.softmax(x, -1), torch.softmax(x.double(), -1), TOL[torch.float32], "strided rows")
    xt = base.t()  # softmax over a strided dimension
    close(kt.softmax(xt, 0).t(), torch.softmax(xt.double(), 0).t(), TOL[torch.float32], "dim 0 of a transpose")
    y = kt.log_softmax(base.half(), dim=-1, dtype=torch.float32)
    assert y.dtype == torch.float32
    close(y, torch.log_softmax(base.half().double(), -1), TOL[torch.float32], "dtype=float32")


def test_softmax_expanded_gradient():
    x = randn(6, 1024, dtype=torch.float32).requires_grad_()
    kt.softmax(x, -1)[:, 0].sum().backward()  # a gradient with zero strides and a gather
    xr = x.detach().double().requires_grad_()
    torch.softmax(xr, -1)[:, 0].sum().backward()
    close(x.grad, xr.grad, 4 * TOL[torch.float32], "expanded gradient")


def torch_xent(x, t, weight, ignore_index, reduction, eps, z_loss=0.0, softcap=None):
    """What kgen computes, in torch (float64): z-loss and softcap written out."""
    z = softcap * torch.tanh(x / softcap) if softcap else x
    loss = F.cross_entropy(z, t, weight=weight, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=eps)
    if z_loss:
        zt = z.movedim(1, -1) if z.dim() > 2 else z
        lse = torch.logsumexp(zt, -1)
        keep = t != ignore_index
        term = torch.where(keep, z_loss * lse * lse, torch.zeros_like(lse))
        loss = loss + (term if reduction == "none" else term.sum() if reduction == "sum" else term.sum() / keep.sum())
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.0), (False, 0.1), (True, 0.2)])
def test_cross_entropy_matches_torch(dtype, reduction, weighted, eps):
    rows, vocab = 77, 4099
    x = randn(rows, vocab, dtype=dtype).requires_grad_()
    t = torch.randint(0, vocab, (rows,), device="cuda")
    t[torch.rand(rows, device="cuda") < 0.2] = -100
    w = torch.rand(vocab, device="cuda") + 0.5 if weighted else None
    loss = kt.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=eps)
    xr = x.detach().double().requires_grad_()
    want = F.cross_entropy(xr, t, weight=w.double() if weighted else None, reduction=reduction, label_smoothing=eps)
    assert loss.dtype == dtype and loss.shape == want.shape
    close(loss, want, 2 * TOL[dtype] if dtype != torch.float32 else 1e-4, "loss")
    g = torch.rand(want.shape, device="cuda") + 0.5  # a gradient other than 1, on the device
    loss.backward(g.to(dtype))
    want.backward(g.to(dtype).double())
    close(x.grad, xr.grad, 2 * TOL[dtype], "dlogits")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_options(dtype):
    rows, vocab = 40, 50257
    x = randn(rows, vocab, dtype=dtype).requires_grad_()
    t = torch.randint(0, vocab, (rows,), device="cuda", dtype=torch.int32)
    t[::7] = 5  # some rows ignored with a non-default ignore_index
    loss = kt.cross_entropy(x, t, ignore_index=5, label_smoothing=0.1, z_loss=1e-3, softcap=30.0)
    xr = x.detach().double().requires_grad_()
    want = torch_xent(xr, t.long(), None, 5, "mean", 0.1, 1e-3, 30.0)
    close(loss, want, 1e-4 if dtype == torch.float32 else 2 * TOL[dtype], "loss with options")
    (loss * 3).backward()
    (want * 3).backward()
    close(x.grad, xr.grad, 2 * TOL[dtype], "dlogits with options")


def test_cross_entropy_shapes():
    # [N, C, d] with the class dimension 1, as torch; and unbatched [C]
    x = randn(3, 1000, 5, dtype=torch.float32).requires_grad_()
    t = torch.randint(0, 1000, (3, 5), device="cuda")
    for red in ("none", "mean"):
        x.grad = None
        loss = kt.cross_entropy(x, t, reduction=red)
        xr = x.detach().double().requires_grad_()
        want = F.cross_entropy(xr, t, reduction=red)
        close(loss, want, 1e-4, f"[N, C, d] {red}")
        loss.sum().backward()
        want.sum().backward()
        close(x.grad, xr.grad, 4e-5, f"[N, C, d] {red} grad")
    v = randn(1000, dtype=torch.float32)
    close(kt.cross_entropy(v, torch.tensor(3, device="cuda")),
          F.cross_entropy(v.double(), torch.tensor(3, device="cuda")), 1e-4, "unbatched")
    # all rows ignored: mean is NaN, as in torch
    assert torch.isnan(kt.cross_entropy(randn(4, 100, dtype=torch.float32),
                                        torch.full((4,), -100, device="cuda")))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_inplace_backward(dtype):
    x0 = randn(33, 32000, dtype=dtype)
    t = torch.randint(0, 32000, (33,), device="cuda")
    leaf = x0.clone().requires_grad_()
    logits = leaf * 1  # a non-leaf, as the output of an LM head
    loss = kt.cross_entropy(logits, t, inplace_backward=True)
    logits_ptr = logits.data_ptr()
    loss.backward()
    xr = x0.double().requires_grad_()
    F.cross_entropy(xr, t).backward()
    close(leaf.grad, xr.grad, 2 * TOL[dtype], "in-place gradient")
    close(logits.detach(), xr.grad, 2 * TOL[dtype], "the logits hold the gradient")
    assert logits.data_ptr() == logits_ptr


def test_nn_module():
    m = kgen.nn.CrossEntropyLoss(weight=torch.rand(500, device="cuda") + 0.5, label_smoothing=0.05)
    r = torch.nn.CrossEntropyLoss(weight=m.weight.double(), label_smoothing=0.05)
    x = randn(20, 500, dtype=torch.float32)
    t = torch.randint(0, 500, (20,), device="cuda")
    close(m(x, t), r(x.double(), t), 1e-4, "nn.CrossEntropyLoss")
    assert "label_smoothing=0.05" in repr(m)


def test_current_stream():
    """kgen runs on the current stream: ordered after work queued there."""
    s = torch.cuda.Stream()
    x = randn(512, 8192, dtype=torch.bfloat16)
    new = randn(512, 8192, dtype=torch.bfloat16)
    torch.cuda.synchronize()
    with torch.cuda.stream(s):
        torch.cuda._sleep(50_000_000)  # keep s busy, so the copy below lands late
        x.copy_(new)
        y = kt.softmax(x, -1)
    s.synchronize()
    close(y, torch.softmax(new.double(), -1), TOL[torch.bfloat16], "softmax after the copy on its stream")


def test_cross_entropy_mean_call_after_call():
    """Eager calls share libkgen's scratch of their stream, which every call
    must leave clear: a mean whose denominator kept the last call's count
    would be off by the ratio of the two. Rows of 5000 take several prep
    CTAs; a batch with no kept rows (NaN, as torch) comes between; two
    streams each have their own scratch."""
    x = randn(5000, 1024, dtype=torch.float32)  # a float32 loss: 1e-4 sees any stale count
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    for i, keep in enumerate([1.0, 0.5, 0.0, 0.9, 0.1, 1.0]):
        t = torch.randint(0, 1024, (5000,), device="cuda")
        t[torch.rand(5000, device="cuda") >= keep] = -100
        want = F.cross_entropy(x.double(), t, reduction="mean")
        with torch.cuda.stream(side if i % 2 else torch.cuda.current_stream()):
            got = kt.cross_entropy(x, t)
            gsum = kt.cross_entropy(x, t, reduction="sum")
        torch.cuda.synchronize()
        close(got.reshape(()), want, 1e-4, f"mean, call {i} (kept {keep})")
        close(gsum.reshape(()), F.cross_entropy(x.double(), t, reduction="sum"), 1e-4, f"sum, call {i}")


@pytest.mark.parametrize("rows", [1, 64])
def test_cross_entropy_weights_of_zero(rows):
    """A weighted mean whose kept targets all weigh 0 (with smoothing):
    torch's 0 / 0, whatever the smoothing term adds; forward and fused."""
    x = randn(rows, 300, dtype=torch.float32).requires_grad_()
    t = torch.full((rows,), 3, device="cuda")
    w = torch.rand(300, device="cuda") + 0.5
    w[3] = 0
    want = F.cross_entropy(x.detach().double(), t, weight=w.double(), label_smoothing=0.1)
    got = kt.cross_entropy(x, t, weight=w, label_smoothing=0.1)
    close(got.detach().reshape(()), want, 1e-4, f"weights of 0, {rows} rows")
    with torch.no_grad():
        fwd = kt.cross_entropy(x.detach(), t, weight=w, label_smoothing=0.1)
    close(fwd.reshape(()), want, 1e-4, f"weights of 0, forward only, {rows} rows")


def test_errors_carry_libkgen_messages():
    x = randn(4, 100, dtype=torch.float32)
    t = torch.randint(0, 100, (4,), device="cuda")
    with pytest.raises(kgen.KgenValueError, match="label_smoothing must be in"):
        kt.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(kgen.KgenError, match="KGEN_EINVAL"):
        kt.cross_entropy(x, t, z_loss=-1.0)
    with pytest.raises(ValueError, match="CUDA tensor"):
        kt.softmax(torch.randn(4, 4))
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        kt.softmax(x.double())
    with pytest.raises(ValueError, match="target of shape"):
        kt.cross_entropy(x, t[:3])
    with pytest.raises(NotImplementedError, match="class-probability"):
        kt.cross_entropy(x, torch.softmax(x, -1))
    with pytest.raises(IndexError):
        kt.softmax(x, dim=2)
    # an out-of-range target gives a NaN loss (torch would assert on the device)
    bad = t.clone()
    bad[1] = 100
    assert torch.isnan(kt.cross_entropy(x, bad, reduction="none")[1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lm_head_training_step(dtype):
    """A linear LM head, cross-entropy and backward: kgen and torch agree on
    the loss and on the gradients of the hidden states and of the weight."""
    tokens, hidden, vocab = 512, 256, 32000
    h0 = torch.randn(tokens, hidden, device="cuda", dtype=dtype)
    head = torch.nn.Linear(hidden, vocab, bias=False, device="cuda", dtype=dtype)
    tgt = torch.randint(0, vocab, (tokens,), device="cuda")
    tgt[:17] = -100
    results = []
    for xent in (kt.cross_entropy, F.cross_entropy):
        head.zero_grad()
        h = h0.clone().requires_grad_()
        loss = xent(head(h), tgt, label_smoothing=0.1)
        loss.backward()
        results.append((loss.detach().float(), h.grad.float(), head.weight.grad.float()))
    (lk, hk, wk), (lt, ht, wt) = results
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert abs(lk.item() - lt.item()) <= tol * abs(lt.item()), (lk.item(), lt.item())
    for name, a, b in (("hidden", hk, ht), ("weight", wk, wt)):
        rel = ((a - b).norm() / b.norm()).item()
        assert rel <= (1e-5 if dtype == torch.float32 else 1e-2), f"{name} gradient: relative error {rel:.3g}"


def test_bench_cli():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(kgen.__file__)))
    r = subprocess.run([sys.executable, "-m", "kgen.bench", "--backend", "kgen,torch", "--op", "softmax",
                        "--rows", "512", "--cols", "1024", "--dtype", "float16"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(ln.startswith("kgen ") and "x" in ln for ln in lines), r.stdout
    assert any(ln.startswith("torch ") and "1.00x" in ln for ln in lines), r.stdout


@pytest.mark.parametrize("pas", ["fwd", "fwdbwd"])
def test_bench_kgen_rows(pas):
    """kgen.rows (reduction none, the mean outside the timed call) passes the
    check against torch and is timed; it has no softmax."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(kgen.__file__)))
    r = subprocess.run([sys.executable, "-m", "kgen.bench", "--backend", "kgen,kgen.rows,torch", "--op",
                        "cross_entropy", "--pass", pas, "--rows", "512", "--cols", "1000", "--dtype", "float32"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    row = [ln for ln in r.stdout.splitlines() if ln.startswith("kgen.rows ")]
    assert row and "wrong result" not in row[0] and row[0].split()[1] != "-", r.stdout
    case = bench.make_case("softmax", "fwd", 4, 64, torch.float32)
    assert case.runner("kgen.rows") is None
