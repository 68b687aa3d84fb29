"""Side-by-side timing of kgen and PyTorch on one shape.

    python -m kgen.bench --backend kgen,torch,compile --op softmax --rows 4096 --cols 1024 --dtype float16

Backends: kgen (the bare libkgen kernel, through kgen.ops), kgen.rows
(cross-entropy only: the same with reduction none, each row's loss, whose
mean is taken outside the timed call as for Quack; without the mean's
extra launch), kgen.torch (the
autograd functions of kgen.torch, as a training script calls them), torch
(eager), compile (torch.compile, default mode, compiled for this shape),
and where importable the peers quack (quack-kernels: softmax forward and
backward, cross-entropy forward and forward with the gradient in one pass;
rows a 16-byte vector divides), liger (Liger-Kernel: softmax, and
cross-entropy whose forward writes the gradient over its input) and triton
(the softmax forward of Triton's fused-softmax tutorial, rows of at most
32768 columns).
Every backend's result is checked against torch in float32 before it is
timed. Timing: CUDA events around each call, a 256 MB buffer zeroed before
each call so that the L2 cache is cold, warm-up first, the median of the
repetitions. GB/s counts the fewest bytes the operation must move (softmax
and log-softmax forward 2x the tensor, backward 3x; cross-entropy forward 1x
the logits, forward+backward 2x); '% copy' compares it with a device-to-device
copy of 1 GiB timed the same way in the same process.
"""
import argparse
import math
import statistics
import sys

import torch
import torch.nn.functional as F

__all__ = ["OPS", "BACKENDS", "bench_ms", "copy_gbps", "empty_launch_ms", "make_case", "measure", "format_table"]

OPS = {  # op -> passes
    "softmax": ("fwd", "bwd"),
    "log_softmax": ("fwd", "bwd"),
    "cross_entropy": ("fwd", "fwdbwd"),
}
BACKENDS = ("kgen", "kgen.rows", "kgen.torch", "torch", "compile", "quack", "liger", "triton")
DTYPES = {"float32": torch.float32, "f32": torch.float32, "float16": torch.float16, "f16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
TOL = {torch.float32: 1e-4, torch.float16: 4e-3, torch.bfloat16: 3e-2}  # of max |reference|

_flush_buf = {}


def _flush(device):
    buf = _flush_buf.get(device)
    if buf is None:
        buf = _flush_buf[device] = torch.empty(256 << 20, dtype=torch.int8, device=device)
    return buf


def bench_ms(fn, device=None, rep_ms=100.0, warmup_ms=25.0, min_reps=10, max_reps=1000):
    """The median time of fn() in milliseconds: CUDA events around each call,
    the L2 cache flushed before each, after a warm-up."""
    device = device or torch.device("cuda", torch.cuda.current_device())
    cache = _flush(device)
    fn()
    torch.cuda.synchronize(device)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(5):
        cache.zero_()
        fn()
    e.record()
    torch.cuda.synchronize(device)
    est = max(s.elapsed_time(e) / 5, 1e-3)
    for _ in range(max(1, int(warmup_ms / est))):
        fn()
    n = max(min_reps, min(max_reps, int(rep_ms / est)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        cache.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize(device)
    return statistics.median(a.elapsed_time(b) for a, b in zip(starts, ends))


def copy_gbps(device=None, nbytes=1 << 30):
    """Device-to-device copy bandwidth, bytes read + written, GB/s."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device or "cuda").random_(0, 255)
    dst = torch.empty_like(src)
    ms = bench_ms(lambda: dst.copy_(src), device=src.device)
    return 2 * nbytes / ms / 1e6


def empty_launch_ms(device=None):
    """A one-element kernel timed the same way: the floor of any launch."""
    one = torch.zeros(1, device=device or "cuda")
    return bench_ms(lambda: one.add_(1), device=one.device)


class Case:
    """One (op, pass, rows, cols, dtype): inputs, bytes, and per backend a
    function that runs it and returns the outputs to check."""

    def __init__(self, op, pas, rows, cols, dtype, device):
        self.op, self.pas, self.rows, self.cols, self.dtype = op, pas, rows, cols, dtype
        es = torch.finfo(dtype).bits // 8
        mult = {"fwd": 2, "bwd": 3}[pas] if op != "cross_entropy" else {"fwd": 1, "fwdbwd": 2}[pas]
        self.bytes = mult * rows * cols * es
        g = torch.Generator(device=device).manual_seed(rows * 131 + cols)
        x = (torch.randn(rows, cols, device=device, generator=g) * 2).to(dtype)
        self.x = x
        if op == "cross_entropy":
            t = torch.randint(0, cols, (rows,), device=device, generator=g)
            t[torch.rand(rows, device=device, generator=g) < 0.1] = -100
            self.t = t
        elif pas == "bwd":
            f = torch.softmax if op == "softmax" else torch.log_softmax
            self.y = f(x.float(), -1).to(dtype)
            self.dy = torch.randn(rows, cols, device=device, generator=g).to(dtype)

    def reference(self):
        """float32 torch results, as a tuple."""
        x = self.x.float()
        if self.op == "cross_entropy":
            xr = x.clone().requires_grad_(self.pas == "fwdbwd")
            loss = F.cross_entropy(xr, self.t)
            if self.pas == "fwd":
                return (loss.detach(),)
            loss.backward()
            return loss.detach(), xr.grad
        if self.pas == "fwd":
            return ((torch.softmax if self.op == "softmax" else torch.log_softmax)(x, -1),)
        y, dy = self.y.float(), self.dy.float()
        if self.op == "softmax":
            return (y * (dy - (dy * y).sum(-1, keepdim=True)),)
        return (dy - y.exp() * dy.sum(-1, keepdim=True),)

    def runner(self, backend):
        """A function running this case on `backend`, returning its outputs."""
        op, pas, x = self.op, self.pas, self.x
        if backend == "kgen":
            from . import ops
            if op == "cross_entropy":
                opt = ops.xent_options()
                if pas == "fwd":
                    return lambda: (ops.xent_fwd(x, self.t, opt, want_lse=False)[0][0],)
                return lambda: (lambda r: (r[0][0], r[2]))(ops.xent_fused(x, self.t, opt))
            log = op == "log_softmax"
            if pas == "fwd":
                return lambda: (ops.softmax_fwd(x, log=log),)
            return lambda: (ops.softmax_bwd(self.y, self.dy, log=log),)
        if backend == "kgen.rows":
            return self._kgen_rows()
        if backend in ("torch", "compile", "kgen.torch"):
            if backend == "kgen.torch":
                from . import torch as kt
                sm, lsm, xent = kt.softmax, kt.log_softmax, kt.cross_entropy
            else:
                sm, lsm, xent = torch.softmax, torch.log_softmax, F.cross_entropy
            if op == "cross_entropy":
                if pas == "fwd":
                    f = lambda x, t: xent(x, t)  # noqa: E731
                    f = torch.compile(f) if backend == "compile" else f
                    return lambda: (f(x, self.t),)
                xr = x.detach().clone().requires_grad_()
                f = lambda x, t: xent(x, t)  # noqa: E731
                f = torch.compile(f) if backend == "compile" else f

                def step():
                    xr.grad = None
                    loss = f(xr, self.t)
                    loss.backward()
                    return loss.detach(), xr.grad
                return step
            fn = sm if op == "softmax" else lsm
            if pas == "fwd":
                f = lambda x: fn(x, -1)  # noqa: E731
                f = torch.compile(f) if backend == "compile" else f
                return lambda: (f(x),)
            if backend == "kgen.torch":
                return None  # the backward alone is not a call of the autograd API
            prim = torch._softmax_backward_data if op == "softmax" else torch._log_softmax_backward_data
            f = lambda y, dy: prim(dy, y, -1, y.dtype)  # noqa: E731
            f = torch.compile(f) if backend == "compile" else f
            return lambda: (f(self.y, self.dy),)
        if backend in ("quack", "liger", "triton"):
            return self._peer(backend)
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")

    def _kgen_rows(self):
        """kgen's cross-entropy with reduction none (each row's loss), timed
        as Quack's call is: the mean over kept rows that the check needs is
        taken outside the timed call. None for the other ops."""
        if self.op != "cross_entropy":
            return None
        from . import ops
        opt = ops.xent_options(reduction="none")
        x, t = self.x, self.t
        kept = (t != -100).sum().float()
        if self.pas == "fwd":
            call = lambda: ops.xent_fwd(x, t, opt, want_lse=False)[0]  # noqa: E731
            fn = lambda: (call().sum() / kept,)  # noqa: E731
        else:
            call = lambda: ops.xent_fused(x, t, opt)  # noqa: E731

            def fn():
                loss, _, dx = call()
                return loss.sum() / kept, dx.float() / kept
        fn.timed = call
        return fn

    def _peer(self, backend):
        """A peer library's run of this case. Its result is brought to
        torch's form (the mean over kept rows) for the check; the function
        timed (attribute `timed`) is the library's call alone. None where
        the peer has no such operation."""
        op, pas, x = self.op, self.pas, self.x
        if op == "log_softmax":
            return None
        if backend == "triton":
            from . import _triton_softmax as ts
            if op != "softmax" or pas != "fwd" or self.cols > ts.MAX_COLS:
                return None
            call = lambda: ts.softmax(x)  # noqa: E731
            fn = lambda: (call(),)  # noqa: E731
            fn.timed = call
            return fn
        if backend == "quack":
            import importlib
            # (the package's own names cross_entropy and softmax are functions)
            qce = importlib.import_module("quack.cross_entropy")
            qsm = importlib.import_module("quack.softmax")
            if op == "softmax":
                call = (lambda: qsm.softmax_fwd(x)) if pas == "fwd" else (lambda: qsm.softmax_bwd(self.dy, self.y))
                fn = lambda: (call(),)  # noqa: E731
                fn.timed = call
                return fn
            kept = (self.t != -100).sum().float()
            if pas == "fwd":
                call = lambda: qce.cross_entropy_fwd(x, self.t)  # noqa: E731
                fn = lambda: (call().sum() / kept,)  # noqa: E731
            else:
                call = lambda: qce.cross_entropy_fwd(x, self.t, return_dx=True)  # noqa: E731

                def fn():
                    loss, dx = call()
                    return loss.sum() / kept, dx.float() / kept
            fn.timed = call
            return fn
        from liger_kernel.ops import cross_entropy as lce
        from liger_kernel.ops import softmax as lsm
        if op == "softmax":
            if pas == "fwd":
                call = lambda: lsm._softmax_forward(x)[0]  # noqa: E731
            else:
                block, warps = lsm.calculate_settings(self.cols)
                call = lambda: lsm._softmax_backward(self.dy, self.y, block, warps, self.cols > block)  # noqa: E731
            fn = lambda: (call(),)  # noqa: E731
            fn.timed = call
            return fn
        # The forward writes the gradient over its input when that requires
        # grad: the check runs on a fresh copy of the logits; the timed calls
        # run on whatever the last call left there (the same bytes move)
        xr = x.detach().clone().requires_grad_(pas == "fwdbwd")

        def call():
            out = lce.cross_entropy_forward(xr, self.t, None, -100, 0.0, 0.0, "mean", None, False)
            return out[0], out[-1]

        def fn():
            with torch.no_grad():
                xr.copy_(x)
            loss, dx = call()
            return (loss,) if pas == "fwd" else (loss, dx)
        fn.timed = call
        return fn


def make_case(op, pas, rows, cols, dtype, device="cuda"):
    if op not in OPS:
        raise ValueError(f"unknown op {op!r} (one of {', '.join(OPS)})")
    if pas not in OPS[op]:
        raise ValueError(f"op {op} has passes {', '.join(OPS[op])} (got {pas!r})")
    return Case(op, pas, rows, cols, dtype, torch.device(device))


# The spacing of a dtype's subnormals: differences below it are rounding of
# values the dtype cannot hold (f16 gradients of a mean over 2^20 rows are
# about 1e-8: subnormal, spaced 6e-8 apart).
SUBNORMAL_STEP = {torch.float32: 0.0, torch.float16: 2.0 ** -24, torch.bfloat16: 2.0 ** -133}


def _error(got, want, step=0.0):
    """Worst |got - want| (less step, the output dtype's subnormal spacing)
    over the largest |want|, over every output."""
    worst = 0.0
    for g, w in zip(got, want):
        g, w = g.float().reshape(w.shape), w.float()
        if not torch.equal(torch.isnan(g), torch.isnan(w)):
            return math.inf
        d = max((torch.nan_to_num(g) - torch.nan_to_num(w)).abs().max().item() - step, 0.0)
        worst = max(worst, d / max(w.abs().max().item(), 1e-30))
    return worst


def measure(case, backends, copy, log=None):
    """Check and time `case` on each backend: a list of dicts (backend, ms,
    gbps, pct_copy, err, ok, note)."""
    ref = case.reference()
    if "compile" in backends:
        torch._dynamo.reset()  # compile for this shape, not a dynamic-shape kernel left from an earlier case
    out = []
    for b in backends:
        row = {"backend": b, "ms": None, "gbps": None, "pct_copy": None, "err": None, "ok": False, "note": ""}
        try:
            fn = case.runner(b)
            if fn is None:
                row["note"] = "n/a"
                out.append(row)
                continue
            got = fn()
            torch.cuda.synchronize()
            row["err"] = _error(got, ref, SUBNORMAL_STEP[case.dtype])
            row["ok"] = row["err"] <= TOL[case.dtype]
            if b in ("kgen", "kgen.rows"):
                from . import _lib
                row["note"] = _lib.last_kernel()
            if not row["ok"]:
                row["note"] = f"wrong result (error {row['err']:.3g})"
            else:
                ms = bench_ms(getattr(fn, "timed", fn))
                row.update(ms=ms, gbps=case.bytes / ms / 1e6)
                row["pct_copy"] = 100.0 * row["gbps"] / copy
        except Exception as e:  # a backend that fails is reported, not fatal
            row["note"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        out.append(row)
        if log:
            log(row)
    return out


def format_table(case, rows, copy):
    """The side-by-side table of one case, as text."""
    base = {r["backend"]: r["ms"] for r in rows if r["ms"]}
    head = (f"{case.op} {case.pas}  {case.rows}x{case.cols} {str(case.dtype).replace('torch.', '')}  "
            f"{case.bytes / 1e6:.1f} MB moved  copy {copy:.0f} GB/s")
    lines = [head, f"{'backend':<12} {'ms':>9} {'GB/s':>7} {'%copy':>6} {'vs torch':>9} {'vs compile':>10}  note"]
    for r in rows:
        if r["ms"] is None:
            lines.append(f"{r['backend']:<12} {'-':>9} {'-':>7} {'-':>6} {'-':>9} {'-':>10}  {r['note']}")
            continue
        vt = f"{base['torch'] / r['ms']:.2f}x" if "torch" in base else "-"
        vc = f"{base['compile'] / r['ms']:.2f}x" if "compile" in base else "-"
        lines.append(f"{r['backend']:<12} {r['ms']:>9.4f} {r['gbps']:>7.0f} {r['pct_copy']:>5.0f}% {vt:>9} {vc:>10}"
                     f"  {r['note']}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kgen.bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="ops and passes: " + "; ".join(f"{o}: {', '.join(s)}" for o, s in OPS.items()))
    p.add_argument("--backend", default="kgen,torch,compile",
                   help=f"comma-separated, from {', '.join(BACKENDS)} (default kgen,torch,compile)")
    p.add_argument("--op", default="softmax", choices=list(OPS))
    p.add_argument("--pass", dest="pas", default=None,
                   help="fwd or bwd (softmax, log_softmax); fwd or fwdbwd (cross_entropy); default: the first")
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--cols", "--vocab", type=int, default=8192)
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    p.add_argument("--device", default="cuda")
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("kgen.bench: error: no CUDA device", file=sys.stderr)
        return 3
    backends = [b.strip() for b in a.backend.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            p.error(f"unknown backend '{b}' (one of {', '.join(BACKENDS)})")
    pas = a.pas or OPS[a.op][0]
    if pas not in OPS[a.op]:
        p.error(f"op {a.op} has passes {', '.join(OPS[a.op])} (got '{pas}')")
    if a.rows < 1 or a.cols < 1:
        p.error("rows and cols must be >= 1")
    dev = torch.device(a.device)
    if dev.type != "cuda":
        p.error(f"--device must be a CUDA device (got '{a.device}')")
    if dev.index is not None:
        torch.cuda.set_device(dev)
    copy = copy_gbps()
    case = make_case(a.op, pas, a.rows, a.cols, DTYPES[a.dtype], a.device)
    rows = measure(case, backends, copy)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(format_table(case, rows, copy))
    return 0 if all(r["ok"] or r["note"] == "n/a" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
