"""One training step of a language-model head with kgen's cross-entropy,
beside the same step with torch's: loss and gradients side by side.

    PYTHONPATH=python python3 python/examples/lm_head.py [--dtype bf16] [--vocab 32000]
"""
import argparse

import torch
import torch.nn.functional as F

import kgen.torch as kt


def step(xent, head, hidden, target, **kw):
    head.zero_grad()
    h = hidden.clone().requires_grad_()
    loss = xent(head(h), target, **kw)
    loss.backward()
    return loss.detach().float(), h.grad.float(), head.weight.grad.float()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dtype", default="bf16", choices=["f32", "bf16", "f16"])
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=32000)
    a = p.parse_args()
    dt = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[a.dtype]
    torch.manual_seed(0)
    hidden = torch.randn(a.tokens, a.hidden, device="cuda", dtype=dt)
    head = torch.nn.Linear(a.hidden, a.vocab, bias=False, device="cuda", dtype=dt)
    target = torch.randint(0, a.vocab, (a.tokens,), device="cuda")
    target[::10] = -100  # some padding
    # a fp64 step is the referee: how far is each from the exact answer?
    ref_head = torch.nn.Linear(a.hidden, a.vocab, bias=False, device="cuda", dtype=torch.float64)
    with torch.no_grad():
        ref_head.weight.copy_(head.weight.double())
    kw = dict(label_smoothing=0.1)
    r = step(F.cross_entropy, ref_head, hidden.double(), target, **kw)
    k = step(kt.cross_entropy, head, hidden, target, **kw)
    t = step(F.cross_entropy, head, hidden, target, **kw)
    print(f"LM head: {a.tokens} tokens, hidden {a.hidden}, vocab {a.vocab}, {a.dtype}, label_smoothing 0.1, "
          f"{torch.cuda.get_device_name()}")
    print(f"{'':8} {'loss':>12} {'|dloss|/fp64':>14} {'d hidden rel.err':>17} {'d weight rel.err':>17}")
    for name, (loss, dh, dw) in (("fp64", r), ("kgen", k), ("torch", t)):
        eh = ((dh - r[1].float()).norm() / r[1].float().norm()).item()
        ew = ((dw - r[2].float()).norm() / r[2].float().norm()).item()
        print(f"{name:8} {loss.item():>12.6f} {abs(loss.item() - r[0].item()):>14.3g} {eh:>17.3g} {ew:>17.3g}")
    dh = ((k[1] - t[1]).norm() / t[1].norm()).item()
    dw = ((k[2] - t[2]).norm() / t[2].norm()).item()
    print(f"kgen vs torch: loss {k[0].item():.6f} vs {t[0].item():.6f}; gradient relative differences "
          f"hidden {dh:.3g}, weight {dw:.3g}")


if __name__ == "__main__":
    main()
