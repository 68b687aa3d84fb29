"""kgen.torch under torch.compile, torch.export and CUDA graphs, and the
one-pass cross-entropy under autograd (needs torch and a CUDA device)."""
import pytest
import torch
import torch.nn.functional as F

import kgen
import kgen.nn
import kgen.torch as kt

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEV = "cuda"
REDUCTIONS = ["none", "sum", "mean"]


def _step(x, w, t, h):
    logits = x @ w.t()
    loss = kt.cross_entropy(logits, t) + kt.softmax(h, dim=-1).sum() + kt.log_softmax(h, dim=-1).mean()
    return loss


def _inputs(dtype=torch.bfloat16, rows=256, vocab=4096, hidden=256):
    g = torch.Generator(device=DEV).manual_seed(0)
    x = torch.randn(rows, hidden, device=DEV, dtype=dtype, generator=g, requires_grad=True)
    w = (torch.randn(vocab, hidden, device=DEV, dtype=dtype, generator=g) * 0.05).requires_grad_()
    t = torch.randint(0, vocab, (rows,), device=DEV, generator=g)
    t[::7] = -100
    h = torch.randn(rows, 1024, device=DEV, dtype=dtype, generator=g, requires_grad=True)
    return x, w, t, h


def test_no_graph_breaks():
    x, w, t, h = _inputs()
    torch._dynamo.reset()
    ex = torch._dynamo.explain(_step)(x, w, t, h)
    assert ex.graph_break_count == 0, ex.break_reasons


def test_fullgraph_compile_matches_eager():
    x, w, t, h = _inputs()
    torch._dynamo.reset()
    step = torch.compile(_step, fullgraph=True)
    outs = []
    for fn in (_step, step):
        for p in (x, w, h):
            p.grad = None
        loss = fn(x, w, t, h)
        loss.backward()
        outs.append((loss.detach().float(), x.grad.float(), w.grad.float(), h.grad.float()))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3)


def test_export():
    class M(torch.nn.Module):
        def forward(self, logits, t, h):
            return kt.cross_entropy(logits, t), kt.softmax(h, -1), kt.log_softmax(h, -1)

    logits = torch.randn(64, 1000, device=DEV)
    t = torch.randint(0, 1000, (64,), device=DEV)
    h = torch.randn(64, 512, device=DEV, dtype=torch.float16)
    ep = torch.export.export(M(), (logits, t, h))
    text = str(ep.graph)
    assert "kgen.cross_entropy_fwd" in text and "kgen.softmax_fwd" in text and "kgen.log_softmax_fwd" in text, text
    got = ep.module()(logits, t, h)
    torch.testing.assert_close(got[0], F.cross_entropy(logits, t), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got[1], torch.softmax(h, -1), rtol=1e-2, atol=1e-3)


def _graph_vs_eager(fn, *args):
    """fn(*args) -> tensors: run eagerly, then capture (after a warm-up call
    that loads the kernels) and replay; the replay must equal eager."""
    # eager and warm-up on a side stream, as torch's CUDA graph notes ask of
    # a captured backward (the autograd engine's streams are set up there)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn(*args)
        # detached: a clone that kept the warm-up's autograd graph alive would
        # keep x's gradient accumulator, and the stream it was made on, for
        # the captured backward (torch then joins that stream to the capture)
        want = [o.detach().clone() for o in fn(*args)]
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        outs = fn(*args)
    for o in outs:
        o.zero_()
    g.replay()
    torch.cuda.synchronize()
    for a, b in zip(outs, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("log", [False, True])
def test_cuda_graph_softmax(log):
    x = torch.randn(512, 4096, device=DEV, dtype=torch.bfloat16, requires_grad=True)
    dy = torch.randn_like(x)
    f = kt.log_softmax if log else kt.softmax

    def fn(x, dy):
        x.grad = None
        y = f(x, -1)
        (gx,) = torch.autograd.grad(y, x, dy)
        return y, gx
    fn(x, dy)  # loads both kernels
    _graph_vs_eager(fn, x, dy)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("one_pass", [True, False])
def test_cuda_graph_cross_entropy(reduction, one_pass):
    logits = torch.randn(300, 8192, device=DEV, dtype=torch.bfloat16, requires_grad=True)
    t = torch.randint(0, 8192, (300,), device=DEV)
    t[::5] = -100

    def fn(logits, t):
        loss = kt.cross_entropy(logits, t, reduction=reduction, label_smoothing=0.1, one_pass=one_pass)
        (g,) = torch.autograd.grad(loss.sum(), logits)
        return loss, g
    kgen.prepare("cross_entropy_fused" if one_pass else "cross_entropy_fwd", torch.bfloat16, 300, 8192,
                 label_smoothing=0.1, reduction=reduction)
    fn(logits, t)
    _graph_vs_eager(fn, logits, t)
    loss, g = fn(logits, t)
    ref = logits.detach().float().requires_grad_()
    rl = F.cross_entropy(ref, t, reduction=reduction, label_smoothing=0.1)
    rl.sum().backward()
    torch.testing.assert_close(loss.float(), rl, rtol=2e-2, atol=2e-3)
    torch.testing.assert_close(g.float(), ref.grad, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("inplace", [False, True])
def test_one_pass_matches_torch(reduction, inplace):
    base = torch.randn(257, 32000, device=DEV, dtype=torch.bfloat16)
    t = torch.randint(0, 32000, (257,), device=DEV)
    t[3] = -100
    scale = torch.rand(257 if reduction == "none" else (), device=DEV) + 0.5

    def run(fn):
        x = base.clone().requires_grad_()
        logits = x * 1.0  # a non-leaf, as an LM head's output
        loss = fn(logits)
        (loss * scale).sum().backward()
        return loss.float(), x.grad.float()
    crit = kgen.nn.CrossEntropyLoss(reduction=reduction, inplace_backward=inplace)
    got = run(lambda z: crit(z, t))
    want = run(lambda z: F.cross_entropy(z.float(), t, reduction=reduction))
    torch.testing.assert_close(got[0], want[0], rtol=2e-2, atol=2e-3)
    torch.testing.assert_close(got[1], want[1], rtol=2e-2, atol=2e-3)


def test_one_pass_runs_the_fused_kernel_once():
    x = torch.randn(128, 4096, device=DEV, dtype=torch.bfloat16, requires_grad=True)
    t = torch.randint(0, 4096, (128,), device=DEV)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        kt.cross_entropy(x, t).backward()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    assert sum("kgen_xent_fused" in n for n in names) == 1, names
    assert not any("kgen_xent_fwd" in n or "kgen_xent_bwd" in n for n in names), names
