"""bench/run.py's report from results alone (--plot-only; no torch, no GPU):
a column for each peer measured, the best peer per case, the speedups and
the targets, with some peers absent from some cases; kgen.rows (cross-entropy
as Quack is timed) as a column of its own."""
import json
import os
import subprocess
import sys
import tempfile

run_py = sys.argv[1]
meta = {"gpu": "Test GPU", "torch": "2.x", "kgen": "0.1.0", "date": "2026-12-06", "copy_gbps": 3000.0,
        "empty_ms": 0.005, "versions": {"quack-kernels": "0.6.5", "triton": "3.6.0"}}


def b(ms, note="pack cluster=1,strategy=reg"):
    return {"ms": ms, "gbps": 1.0, "pct_copy": 96.0, "note": note, "ok": True}


na = {"ms": None, "note": "n/a", "ok": False}
big = 2 * 4096 * 65536 * 2
rows = [
    {"op": "softmax", "pass": "fwd", "rows": 4096, "cols": 65536, "dtype": "bf16", "bytes": big,
     "kgen": b(0.1), "torch": b(0.2), "compile": b(0.15), "quack": b(0.09), "liger": b(0.12), "triton": na},
    {"op": "log_softmax", "pass": "fwd", "rows": 4096, "cols": 65536, "dtype": "bf16", "bytes": big,
     "kgen": b(0.1), "torch": b(0.2), "compile": b(0.25), "quack": na, "liger": na, "triton": na},
    {"op": "softmax", "pass": "fwd", "rows": 4096, "cols": 8192, "dtype": "bf16", "bytes": 2 * 4096 * 8192 * 2,
     "kgen": b(0.02, "fallback cluster=1"), "torch": b(0.04), "compile": b(0.03), "quack": b(0.021),
     "liger": b(0.025), "triton": b(0.024)},
]
xent = 4096 * 32000 * 2
rows_x = [
    {"op": "cross_entropy", "pass": "fwd", "rows": 4096, "cols": 32000, "dtype": "bf16", "bytes": xent,
     "kgen": b(0.11), "kgen.rows": b(0.1), "torch": b(0.3), "compile": b(0.2), "quack": b(0.105), "liger": na,
     "triton": na},
    {"op": "cross_entropy", "pass": "fwdbwd", "rows": 4096, "cols": 32000, "dtype": "bf16", "bytes": 2 * xent,
     "kgen": b(0.2), "kgen.rows": b(0.19), "torch": b(0.6), "compile": b(0.4), "quack": b(0.209), "liger": na,
     "triton": na},
]
with tempfile.TemporaryDirectory() as d:
    jl = os.path.join(d, "test-gpu.jsonl")
    with open(jl, "w") as f:
        for r in rows:
            f.write(json.dumps(dict(r, meta=meta)) + "\n")
    subprocess.run([sys.executable, run_py, "--plot-only", jl], check=True, capture_output=True)
    md = open(jl[:-len(".jsonl")] + ".md").read()

fails = []


def want(text):
    if text not in md:
        fails.append(text)


want("# kgen beside torch eager, torch.compile, Quack, Liger-Kernel, the Triton tutorial's softmax: Test GPU")
want("quack-kernels 0.6.5, triton 3.6.0")
want("| op | pass | rows x cols | dtype | MB | kgen ms | GB/s | %copy | torch ms | compile ms | quack ms | "
     "liger ms | triton ms | best peer | kgen vs best | src |")
want("| softmax | fwd | 4096x65536 | bf16 | 1073.7 | 0.1000 | 1 | 96% | 0.2000 | 0.1500 | 0.0900 | 0.1200 | - | "
     "quack | 0.90x | pack |")
want("| log_softmax | fwd | 4096x65536 | bf16 | 1073.7 | 0.1000 | 1 | 96% | 0.2000 | 0.2500 | - | - | - | "
     "torch | 2.00x | pack |")
want("| softmax | fwd | 4096x8192 | bf16 | 134.2 | 0.0200 | 1 | 96% | 0.0400 | 0.0300 | 0.0210 | 0.0250 | 0.0240 | "
     "quack | 1.05x | fallback |")
want("- over Quack: geometric mean **0.97x** over 2 cases (from 0.90x to 1.05x)")
want("- over the Triton tutorial's softmax: geometric mean **1.20x** over 1 cases")
want("- at or above the best of torch eager and torch.compile: **3 of 3** cases")
want("- at or above the best of every peer measured (torch, compile, quack, liger, triton): **2 of 3** cases")
want("- at least 95% of the copy for problems moving >= 256 MB: **2 of 2** cases")
want("- softmax fwd 4096x65536 bf16: kgen 0.1000 ms (pack), quack 0.0900 ms: 1.11x")
if "kgen.rows" in md:
    fails.append("no kgen.rows column or line without kgen.rows results")

# kgen.rows (cross-entropy with reduction none, timed as Quack's call is): a
# column of its own and its speedup over Quack; not a peer (not in 'best')
with tempfile.TemporaryDirectory() as d:
    jl = os.path.join(d, "test-gpu.jsonl")
    with open(jl, "w") as f:
        for r in rows + rows_x:
            f.write(json.dumps(dict(r, meta=meta)) + "\n")
    subprocess.run([sys.executable, run_py, "--plot-only", jl], check=True, capture_output=True)
    md = open(jl[:-len(".jsonl")] + ".md").read()
want("| op | pass | rows x cols | dtype | MB | kgen ms | GB/s | %copy | kgen.rows ms | torch ms | compile ms | "
     "quack ms | liger ms | triton ms | best peer | kgen vs best | src |")
want("| cross_entropy | fwd | 4096x32000 | bf16 | 262.1 | 0.1100 | 1 | 96% | 0.1000 | 0.3000 | 0.2000 | 0.1050 | - "
     "| - | quack | 0.95x | pack |")
want("| softmax | fwd | 4096x8192 | bf16 | 134.2 | 0.0200 | 1 | 96% | - | 0.0400 |")
want("- cross-entropy timed as Quack's call is (kgen.rows: reduction none, each row's loss, no mean), over Quack: "
     "geometric mean **1.07x** over 2 cases (from 1.05x to 1.10x)")
for t in fails:
    print("FAIL: missing from the report:", t)
if fails:
    print(md)
print(f"test_bench_report: {len(fails)} failures")
sys.exit(1 if fails else 0)
