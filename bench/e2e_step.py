"""An LM head's training step end to end in PyTorch: logits = hidden @ W^T,
cross-entropy forward and backward (bf16), timed for each loss:

  kgen      kgen.torch.cross_entropy, one pass (loss and gradient together)
  kgen2     kgen.torch.cross_entropy(one_pass=False): forward, then backward kernel
  torch     torch.nn.functional.cross_entropy
  liger     Liger's LigerCrossEntropyFunction (when liger_kernel imports)

each eager and under torch.compile, at vocabularies 128256 and 32000; then
the host overhead per call of kgen.torch.* against libkgen called directly
through ctypes (kgen.ops). Results (a table) go to the file named on the
command line and to stdout.

    python bench/e2e_step.py RESULTS.txt [--tokens 8192] [--hidden 4096] [--reps 20]
                             [--part all|step|overhead]
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import kgen.ops
import kgen.torch as kt


def losses():
    out = {"kgen": lambda z, t: kt.cross_entropy(z, t),
           "kgen2": lambda z, t: kt.cross_entropy(z, t, one_pass=False),
           "torch": lambda z, t: F.cross_entropy(z, t)}
    try:
        from liger_kernel.ops.cross_entropy import LigerCrossEntropyFunction
        # (input, target, weight); the rest keep their defaults (Liger 0.8)
        out["liger"] = lambda z, t: LigerCrossEntropyFunction.apply(z, t, None)[0]
    except Exception:  # not installed
        pass
    return out


def time_step(fn, reps):
    """Median ms of fn() over reps, CUDA events, after 3 warm-up calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def e2e(args, out):
    dev = "cuda"
    rows = []
    for vocab in (128256, 32000):
        g = torch.Generator(device=dev).manual_seed(0)
        h = torch.randn(args.tokens, args.hidden, device=dev, dtype=torch.bfloat16, generator=g).requires_grad_()
        w = (torch.randn(vocab, args.hidden, device=dev, dtype=torch.bfloat16, generator=g) * 0.02).requires_grad_()
        t = torch.randint(0, vocab, (args.tokens,), device=dev, generator=g)
        for name, loss_fn in losses().items():
            for mode in ("eager", "compile"):
                def step(loss_fn=loss_fn):
                    h.grad = w.grad = None
                    loss = loss_fn(h @ w.t(), t)
                    loss.backward()
                    return loss
                fn = step
                if mode == "compile":
                    torch._dynamo.reset()
                    fn = torch.compile(step)
                try:
                    ms = time_step(fn, args.reps)
                    mem = torch.cuda.max_memory_allocated() / 2**30
                except Exception as e:  # e.g. a peer that does not compile
                    rows.append((vocab, name, mode, float("nan"), f"error: {type(e).__name__}: {str(e)[:60]}"))
                    continue
                rows.append((vocab, name, mode, ms, f"{mem:.1f} GiB peak"))
                torch.cuda.reset_peak_memory_stats()
        del h, w, t
        torch.cuda.empty_cache()
    out(f"## LM head step: {args.tokens} tokens x hidden {args.hidden}, bf16, logits + cross-entropy fwd+bwd "
        f"({torch.cuda.get_device_name()}, torch {torch.__version__})")
    out(f"{'vocab':>7} {'loss':<6} {'mode':<8} {'ms':>8} {'vs torch':>8}  note")
    base = {(v, m): ms for v, n, m, ms, _ in rows if n == "torch"}
    for v, n, m, ms, note in rows:
        out(f"{v:>7} {n:<6} {m:<8} {ms:8.3f} {base.get((v, m), float('nan')) / ms:8.2f}x  {note}")


def overhead(args, out):
    """Host time per call (µs), GPU work small enough not to matter: the
    launch queue never fills, so wall time per call is host time."""
    dev = "cuda"
    x = torch.randn(8, 1024, device=dev, dtype=torch.bfloat16)
    z = torch.randn(8, 1024, device=dev, dtype=torch.bfloat16)
    t = torch.randint(0, 1024, (8,), device=dev)
    opt = kgen.ops.xent_options()
    ws = kgen.ops.workspace(dev)
    opt.workspace = ws.data_ptr()
    cases = {"kgen.torch.softmax": lambda: kt.softmax(x, -1),
             "kgen.ops.softmax_fwd (ctypes)": lambda: kgen.ops.softmax_fwd(x),
             "torch.softmax": lambda: torch.softmax(x, -1),
             "kgen.torch.cross_entropy (no grad)": lambda: kt.cross_entropy(z, t),
             "kgen.ops.xent_fwd (ctypes)": lambda: kgen.ops.xent_fwd(z, t, opt, want_lse=False),
             "F.cross_entropy": lambda: F.cross_entropy(z, t)}
    out("\n## host overhead per call (8x1024 bf16), µs")
    for name, fn in cases.items():
        for _ in range(200):
            fn()
        torch.cuda.synchronize()
        n = 2000
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        out(f"{name:<38} {(time.perf_counter() - t0) / n * 1e6:8.1f}")
    out("(libkgen itself, without Python: build/kgen_overhead, bench/overhead.c)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--part", choices=("all", "step", "overhead"), default="all",
                    help="time the LM head step, the host overhead per call, or both (default)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("e2e_step: no CUDA device", file=sys.stderr)
        return 77
    with open(args.results, "w") as f:
        def out(line):
            print(line)
            f.write(line + "\n")
            f.flush()
        if args.part != "overhead":
            e2e(args, out)
        if args.part != "step":
            overhead(args, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
