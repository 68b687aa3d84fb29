"""bench/run.py: kgen beside torch eager and torch.compile over a grid of shapes.

    PYTHONPATH=python KGEN_LIBRARY=build/libkgen.so python3 bench/run.py            # the whole grid
    python3 bench/run.py --grid anchors --dtypes bf16 --ops softmax:fwd             # a part of it
    python3 bench/run.py --dtypes bf16,f16,f32 --cols 65536,131072 --replace       # these widths again
    python3 bench/run.py --grid decode --ops softmax:fwd,cross_entropy:fwd,cross_entropy:fwdbwd  # 1 and 8 long rows
    python3 bench/run.py --backends kgen,torch,compile,quack,liger,triton --minutes 8  # with the peers, resumable
    python3 bench/run.py --dtypes bf16,f16,f32 --backends kgen,torch,compile,quack,liger --warm 6  # compile first
    python3 bench/run.py --ops cross_entropy:fwd,cross_entropy:fwdbwd --backends kgen,kgen.rows,quack  # as Quack is timed
    python3 bench/run.py --plot-only bench/results/nvidia-h100-80gb-hbm3.jsonl       # redraw

Every op and pass (softmax and log-softmax forward and backward,
cross-entropy forward and forward+backward) is run, for each shape of the
grid, on each backend (kgen, torch eager, torch.compile, and with
--backends the peers Quack, Liger-Kernel and the Triton tutorial's softmax
where they have the operation) in one process, each result checked against torch in
float32 before it is timed (kgen.bench: CUDA events, L2 flushed, median).
The device-to-device copy bandwidth and an empty launch are measured in the
same run. Results are appended, one JSON object per case, to
bench/results/<gpu>.jsonl (a rerun skips cases already there unless
--fresh); the table bench/results/<gpu>.md and the plots <gpu>.png (bf16),
<gpu>.f16.png and <gpu>.f32.png are
rewritten from it after every case group.

With --warm N, N processes first run each case once, untimed, on
torch.compile and the peers that compile per shape, side by side, so that
the timed pass finds their kernels in the on-disk caches (Inductor's FX
graph and Triton caches, Quack's object cache) instead of compiling one
case at a time; the autotuning choices they cached are then dropped, so
that torch.compile's kernels still pick their configurations alone on the
GPU. The grid then takes less of the GPU's time.

Grids: 'anchors' are the shapes and dtypes of ../shared/anchors/h100-peers.md
(where published peer numbers exist); 'ladder' is cols 128..262144 (powers of
two) with rows * cols = 2^27, and the vocabularies 32000, 50257, 128256,
151936, 256000 with 4096 rows.
"""
import argparse
import datetime
import json
import math
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

ANCHORS = [  # (rows, cols, dtype) measured in ../shared/anchors/h100-peers.md
    (4096, 8192, "f16"), (4096, 8192, "bf16"), (4096, 16384, "f16"), (4096, 1024, "f16"), (4096, 1024, "f32"),
    (128, 1024, "f32"), (1024, 1024, "f32"), (2048, 2048, "f32"), (4096, 4096, "f32"), (8192, 1024, "f32"),
    (32768, 4096, "bf16"), (32768, 8192, "bf16"), (16384, 32768, "bf16"), (4096, 131072, "bf16"),
    (8192, 32000, "bf16"), (8192, 128256, "bf16"), (4096, 151936, "bf16"), (4096, 256000, "bf16"),
]
VOCABS = (32000, 50257, 128256, 151936, 256000)
PASSES = [("softmax", "fwd"), ("softmax", "bwd"), ("log_softmax", "fwd"), ("log_softmax", "bwd"),
          ("cross_entropy", "fwd"), ("cross_entropy", "fwdbwd")]
DECODE_ROWS = (1, 8)   # decode: a few very long rows (the "decode" grid)
DECODE_COLS = (128256, 151936, 262144, 524288, 1048576)
BIG = 256 << 20   # problems moving at least this are held to 95% of the copy
SMALL = 8 << 20   # problems moving at most this are held to 1.2x an empty launch


def ladder(dtypes):
    out = []
    for d in dtypes:
        for p in range(7, 19):
            out.append(((1 << 27) >> p, 1 << p, d))
        for v in VOCABS:
            out.append((4096, v, d))
    return out


def decode(dtypes):
    return [(r, c, d) for d in dtypes for r in DECODE_ROWS for c in DECODE_COLS]


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return rows


def case_key(r):
    return (r["op"], r["pass"], r["rows"], r["cols"], r["dtype"])


def fmt_ms(x):
    return f"{x:.4f}" if x is not None else "-"


PEERS = ("torch", "compile", "quack", "liger", "triton")
PEER_NAMES = {"torch": "torch eager", "compile": "torch.compile", "quack": "Quack", "liger": "Liger-Kernel",
              "triton": "the Triton tutorial's softmax"}


def peers_in(results):
    """The peers with at least one timed case, in PEERS order."""
    return [b for b in PEERS if any(r.get(b, {}).get("ms") for r in results)]


def best_of(r, backends):
    """(ms, backend) of the fastest of `backends` timed in result r, or None."""
    ts = [(r[b]["ms"], b) for b in backends if r.get(b, {}).get("ms")]
    return min(ts) if ts else None


def write_report(results, meta, md_path, png_path):
    """The markdown table and the target checks, from all results so far."""
    copy = meta["copy_gbps"]
    empty = meta["empty_ms"]
    present = peers_in(results)
    versions = meta.get("versions", {})
    vs = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    L = [f"# kgen beside {', '.join(PEER_NAMES[b] for b in present) or 'its peers'}: {meta['gpu']}", "",
         f"Written by `bench/run.py` ({meta['date']}): torch {meta['torch']}, kgen {meta['kgen']}"
         f"{', ' + vs if vs else ''}. "
         f"Device-to-device copy **{copy:.0f} GB/s** (bytes read + written), an empty launch "
         f"{empty * 1000:.1f} us, both measured in the same run. Each time is the median of CUDA-event timings "
         "with the L2 cache flushed before every call; every result was checked against torch in float32 "
         "first; all backends of a case run in the same process, one after another. GB/s counts the fewest "
         "bytes the op must move (softmax/log-softmax forward 2x the tensor, "
         "backward 3x; cross-entropy forward 1x the logits, forward+backward 2x). kgen is the bare libkgen "
         "kernel (cross-entropy forward+backward: the fused kernel, loss and gradient in one pass); 'src' says "
         "whether its kernel came from a pack or the cache, the nearest tuned width, or the template's default "
         "configuration. A peer's '-' means it has no such operation or shape (Quack: no log-softmax, rows a "
         "16-byte vector divides; Liger-Kernel: no log-softmax; the Triton tutorial: softmax forward of rows "
         "that fit one block) or failed (the .jsonl says why).", ""]
    # targets
    big = [r for r in results if r["bytes"] >= BIG and r["kgen"].get("ms")]
    big_ok = [r for r in big if r["kgen"]["pct_copy"] >= 95]
    torchlike = [r for r in results if r["kgen"].get("ms") and best_of(r, ("torch", "compile"))]
    beat = [r for r in torchlike if r["kgen"]["ms"] <= best_of(r, ("torch", "compile"))[0]]
    anyp = [r for r in results if r["kgen"].get("ms") and best_of(r, present)]
    beat_all = [r for r in anyp if r["kgen"]["ms"] <= best_of(r, present)[0]]
    small = [r for r in results if r["bytes"] <= SMALL and r["kgen"].get("ms")]
    small_ok = [r for r in small if r["kgen"]["ms"] <= 1.2 * empty]
    one = [r for r in results if r["rows"] == 1 and r["cols"] >= 128000 and r["kgen"].get("ms")]
    one_ok = [r for r in one if r["kgen"]["ms"] <= 2 * empty]
    speed = {}
    for b in present:
        rs = [r[b]["ms"] / r["kgen"]["ms"] for r in results if r["kgen"].get("ms") and r.get(b, {}).get("ms")]
        if rs:
            speed[b] = (math.exp(sum(math.log(x) for x in rs) / len(rs)), min(rs), max(rs), len(rs))
    L += ["## Speedup of kgen", ""]
    for b, (g, lo, hi, n) in speed.items():
        L.append(f"- over {PEER_NAMES[b]}: geometric mean **{g:.2f}x** over {n} "
                 f"cases (from {lo:.2f}x to {hi:.2f}x)")
    rows_q = [r["quack"]["ms"] / r["kgen.rows"]["ms"] for r in results
              if r.get("kgen.rows", {}).get("ms") and r.get("quack", {}).get("ms")]
    if rows_q:
        g = math.exp(sum(math.log(x) for x in rows_q) / len(rows_q))
        L.append(f"- cross-entropy timed as Quack's call is (kgen.rows: reduction none, each row's loss, no "
                 f"mean), over Quack: geometric mean **{g:.2f}x** over {len(rows_q)} cases "
                 f"(from {min(rows_q):.2f}x to {max(rows_q):.2f}x)")
    L.append("")
    L += ["## Targets", "",
          f"- at least 95% of the copy for problems moving >= 256 MB: **{len(big_ok)} of {len(big)}** cases",
          f"- at or above the best of torch eager and torch.compile: **{len(beat)} of {len(torchlike)}** cases"]
    if any(b not in ("torch", "compile") for b in present):
        L.append(f"- at or above the best of every peer measured ({', '.join(present)}): "
                 f"**{len(beat_all)} of {len(anyp)}** cases")
    L += [f"- problems moving <= 8 MB within 1.2x an empty launch ({1.2 * empty * 1000:.1f} us): "
          f"**{len(small_ok)} of {len(small)}** cases"]
    if one:
        L.append(f"- one row of 128K-1M columns within 2x an empty launch ({2 * empty * 1000:.1f} us): "
                 f"**{len(one_ok)} of {len(one)}** cases")
    L.append("")
    miss = [r for r in anyp if r not in beat_all]
    if miss:
        close = [r for r in miss if r["kgen"]["ms"] <= 1.02 * best_of(r, present)[0]]
        L += [f"Slower than a peer: {len(miss)} cases, {len(close)} of them by 2% or less (the spread of repeated "
              "runs of one kernel); sorted by how much slower:", ""]
        for r in sorted(miss, key=lambda r: -r["kgen"]["ms"] / best_of(r, present)[0]):
            t, b = best_of(r, present)
            L.append(f"- {r['op']} {r['pass']} {r['rows']}x{r['cols']} {r['dtype']}: kgen {r['kgen']['ms']:.4f} ms "
                     f"({r['kgen']['note'].split(' ')[0]}), {b} {t:.4f} ms: {r['kgen']['ms'] / t:.2f}x")
        L.append("")
    rows_col = any(r.get("kgen.rows", {}).get("ms") for r in results)
    L += ["## All cases", "",
          "| op | pass | rows x cols | dtype | MB | kgen ms | GB/s | %copy | "
          + ("kgen.rows ms | " if rows_col else "")
          + "".join(f"{b} ms | " for b in present) + "best peer | kgen vs best | src |",
          "|" + "---|" * (11 + len(present) + rows_col)]
    order = {p: i for i, p in enumerate(PASSES)}
    for r in sorted(results, key=lambda r: (order[(r["op"], r["pass"])], r["dtype"], r["cols"], r["rows"])):
        k = r["kgen"]
        best = best_of(r, present)
        vb = f"{best[0] / k['ms']:.2f}x" if k.get("ms") and best else "-"
        note = k.get("note", "")
        src = note.split(" ")[0] if k.get("ms") else note
        L.append(f"| {r['op']} | {r['pass']} | {r['rows']}x{r['cols']} | {r['dtype']} | {r['bytes'] / 1e6:.1f} | "
                 f"{fmt_ms(k.get('ms'))} | {k.get('gbps') or 0:.0f} | {k.get('pct_copy') or 0:.0f}% | "
                 + (f"{fmt_ms(r.get('kgen.rows', {}).get('ms'))} | " if rows_col else "")
                 + "".join(f"{fmt_ms(r.get(b, {}).get('ms'))} | " for b in present)
                 + f"{best[1] if best else '-'} | {vb} | {src} |")
    L += ["", "'kgen vs best' is the best peer's time over kgen's: above 1, kgen is faster."]
    if rows_col:
        L += ["'kgen.rows' is kgen's cross-entropy with reduction none (each row's loss), the call Quack's timed "
              "call matches; 'kgen' there is torch's mean (a finish kernel after the row kernel, and for "
              "forward+backward a prep kernel before it)."]
    notes = os.path.join(os.path.dirname(md_path), slug(meta["gpu"]) + ".notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            L += ["", f.read().rstrip()]
    with open(md_path, "w") as f:
        f.write("\n".join(L) + "\n")
    plot(results, meta, png_path)


def plot(results, meta, png_path):
    """One figure per dtype of the ladder: png_path for bf16, <gpu>.f16.png
    and <gpu>.f32.png beside it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: note: no matplotlib; the plot is not drawn (run --plot-only where it is)", file=sys.stderr)
        return
    styles = {"kgen": ("tab:red", "o"), "torch": ("tab:blue", "s"), "compile": ("tab:green", "^"),
              "quack": ("tab:purple", "D"), "liger": ("tab:orange", "v"), "triton": ("tab:brown", "x")}
    for dtype in ("bf16", "f16", "f32"):
        on_ladder = [r for r in results if r["dtype"] == dtype
                     and (r["rows"] * r["cols"] == 1 << 27 or (r["rows"] == 4096 and r["cols"] in VOCABS))]
        if not on_ladder:
            continue
        fig, axes = plt.subplots(2, 3, figsize=(16, 9), sharey=True)
        for ax, (op, pas) in zip(axes.flat, PASSES):
            pts = [r for r in on_ladder if (r["op"], r["pass"]) == (op, pas)]
            for b, (color, marker) in styles.items():
                xy = sorted((r["cols"], r[b]["gbps"]) for r in pts if r.get(b, {}).get("gbps"))
                if xy:
                    ax.plot([x for x, _ in xy], [y for _, y in xy], marker=marker, color=color, label=b)
            ax.axhline(meta["copy_gbps"], color="gray", linestyle="--", label="copy")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{op} {pas} ({dtype})")
            ax.set_xlabel("cols")
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel("GB/s")
        axes[1][0].set_ylabel("GB/s")
        axes[0][0].legend()
        fig.suptitle(f"{meta['gpu']}: {dtype} bandwidth against row length (rows x cols = 2^27, vocabularies at 4096 rows)")
        fig.tight_layout()
        fig.savefig(png_path if dtype == "bf16" else png_path[:-len(".png")] + f".{dtype}.png", dpi=110)
        plt.close(fig)


def peer_versions(backends):
    """The installed versions of the peer packages among `backends`."""
    from importlib import metadata
    out = {}
    for b, dist in (("quack", "quack-kernels"), ("liger", "liger-kernel"), ("triton", "triton")):
        if b in backends:
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = "not installed"
    return out


COMPILED = ("compile", "quack", "liger", "triton")  # backends that compile per shape on first use


def warm_share(cases_file, share, backends, seconds):
    """A worker of --warm: run its share of the cases once on each backend
    that compiles per shape, untimed, so that their on-disk caches (Inductor's
    FX graphs and Triton kernels, Quack's objects) hold them before the timed
    pass. A case that fails here (out of memory beside the other workers, a
    peer without the op) is left to the timed pass."""
    import torch
    from kgen import bench
    i, n = (int(v) for v in share.split("/"))
    t0 = time.time()
    dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
    with open(cases_file) as f:
        cases = json.load(f)
    done = failed = 0
    for k, (op, pas, rows, cols, d) in enumerate(cases):
        if k % n != i:
            continue
        if time.time() - t0 > seconds:
            break
        case = fn = None
        try:
            case = bench.make_case(op, pas, rows, cols, dt[d])
        except Exception:  # noqa: BLE001 (out of memory beside the other workers: the timed pass does it)
            failed += 1
        ok = case is not None
        for b in backends if case is not None else ():
            try:  # each backend on its own: a peer without the shape leaves the others warmed
                if b == "compile":
                    torch._dynamo.reset()
                fn = case.runner(b)
                if fn is not None:
                    fn()
                torch.cuda.synchronize()
            except Exception:  # noqa: BLE001 (the timed pass compiles it, and reports what fails)
                ok = False
        done += ok
        failed += case is not None and not ok
        case = fn = None
        torch.cuda.empty_cache()
    print(f"warm share {share}: {done} cases compiled, {failed} with a backend left to the timed pass", flush=True)
    return 0


def warm(todo, backends, workers, seconds):
    """--warm: the cases' per-shape compilation done first by `workers`
    processes side by side (the cores, not the GPU, are the limit), then the
    autotuning choices they cached dropped, so that torch.compile's kernels
    pick their configurations in the timed pass, alone on the GPU."""
    import subprocess
    import tempfile
    comp = [b for b in backends if b in COMPILED]
    if workers < 1 or not comp or not todo:
        return
    t0 = time.time()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(todo, f)
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--warm-share", f"{i}/{workers}",
                               "--warm-cases", f.name, "--backends", ",".join(comp),
                               "--warm-seconds", str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True) for i in range(workers)]
    lines = [pr.communicate()[0].strip() for pr in procs]
    os.unlink(f.name)
    dropped = 0
    if "compile" in comp:
        try:
            from torch._inductor.runtime.cache_dir_utils import cache_dir
            root = cache_dir()
        except Exception:  # noqa: BLE001
            import getpass
            root = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or os.path.join(tempfile.gettempdir(),
                                                                             "torchinductor_" + getpass.getuser())
        for d, _, files in os.walk(root):
            for fn in files:
                if fn.endswith(".best_config"):
                    os.unlink(os.path.join(d, fn))
                    dropped += 1
    compiled = sum(int(m.group(1)) for m in (re.search(r": (\d+) cases compiled", ln) for ln in lines) if m)
    print(f"warm: {compiled} of {len(todo)} cases compiled by {workers} processes in {time.time() - t0:.0f} s "
          f"({', '.join(comp)}); {dropped} cached autotuning choices dropped", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default="anchors,ladder", help="anchors, ladder (default: both), decode (1 and 8 rows of 128256 to 1M columns); "
                        "comma-separated")
    p.add_argument("--dtypes", default="bf16", help="dtypes of the ladder and decode grids: bf16,f16,f32 (default bf16)")
    p.add_argument("--ops", default="all", help="op:pass list, e.g. softmax:fwd,cross_entropy:fwdbwd (default all)")
    p.add_argument("--cols", default="", help="only the grid's shapes of these widths, e.g. 65536,131072 (default all)")
    p.add_argument("--backends", default="kgen,torch,compile",
                   help="comma-separated, from kgen, torch, compile and the peers quack, liger, triton, and "
                        "kgen.rows (cross-entropy with reduction none, timed as Quack's call is: a column of "
                        "its own) (default kgen,torch,compile)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--fresh", action="store_true", help="forget earlier results of this GPU")
    p.add_argument("--replace", action="store_true",
                   help="run the selected cases again, replacing their earlier results (others are kept)")
    p.add_argument("--minutes", type=float, default=0, help="stop starting new cases after this long (0: no limit)")
    p.add_argument("--plot-only", metavar="JSONL", help="redraw the table and plot from a results file")
    p.add_argument("--warm", type=int, default=0, metavar="N",
                   help="first compile the cases on torch.compile and the peers in N processes side by side "
                        "(untimed; their on-disk caches then serve the timed pass); 0: no (default)")
    p.add_argument("--warm-share", help=argparse.SUPPRESS)
    p.add_argument("--warm-cases", help=argparse.SUPPRESS)
    p.add_argument("--warm-seconds", type=float, default=1e9, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.warm_share:
        return warm_share(a.warm_cases, a.warm_share, a.backends.split(","), a.warm_seconds)

    if a.plot_only:
        res = load(a.plot_only)
        meta = res[0]["meta"]
        base = a.plot_only[:-len(".jsonl")]
        write_report(res, meta, base + ".md", base + ".png")
        return 0

    import torch
    import kgen
    from kgen import bench
    if not torch.cuda.is_available():
        print("bench: error: no CUDA device", file=sys.stderr)
        return 3
    passes = PASSES if a.ops == "all" else [tuple(s.split(":")) for s in a.ops.split(",")]
    for ps in passes:
        if ps not in PASSES:
            p.error(f"unknown op:pass '{':'.join(ps)}'")
    grid = []
    if "anchors" in a.grid:
        grid += ANCHORS
    if "ladder" in a.grid:
        grid += [g for g in ladder(a.dtypes.split(",")) if g not in grid]
    if "decode" in a.grid:
        grid += [g for g in decode(a.dtypes.split(",")) if g not in grid]
    if not grid:
        p.error(f"--grid takes anchors, ladder or decode, not '{a.grid}'")
    if a.cols:
        try:
            widths = {int(c) for c in a.cols.split(",")}
        except ValueError:
            p.error(f"--cols takes widths separated by commas, not '{a.cols}'")
        grid = [g for g in grid if g[1] in widths]
        if not grid:
            p.error(f"no shape of the grid has cols in {a.cols}")
    backends = a.backends.split(",")
    gpu = torch.cuda.get_device_name()
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, slug(gpu))
    jl = base + ".jsonl"
    if a.fresh and os.path.exists(jl):
        os.remove(jl)
    if a.replace:
        sel = {(op, pas, r, c, d) for (r, c, d) in grid for (op, pas) in passes}
        kept = [r for r in load(jl) if case_key(r) not in sel]
        with open(jl, "w") as f:
            for r in kept:
                f.write(json.dumps(r) + "\n")
    done = {case_key(r) for r in load(jl)}
    t0 = time.time()
    if a.warm:
        todo = [(op, pas, r, c, d) for (r, c, d) in grid for (op, pas) in passes if (op, pas, r, c, d) not in done]
        warm(todo, backends, a.warm, 60 * a.minutes * 0.5 if a.minutes else 1e9)
    meta = {"gpu": gpu, "torch": torch.__version__, "kgen": kgen.__version__,
            "date": datetime.date.today().isoformat(), "copy_gbps": bench.copy_gbps(), "empty_ms": bench.empty_launch_ms(),
            "versions": peer_versions(backends)}
    print(f"{gpu}: copy {meta['copy_gbps']:.0f} GB/s, empty launch {meta['empty_ms'] * 1000:.1f} us", flush=True)
    dt = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
    todo = [(op, pas, r, c, d) for (r, c, d) in grid for (op, pas) in passes if (op, pas, r, c, d) not in done]
    print(f"{len(todo)} cases to run ({len(done)} already in {jl})", flush=True)
    for i, (op, pas, rows, cols, d) in enumerate(todo):
        if a.minutes and time.time() - t0 > 60 * a.minutes:
            print(f"stopping after {a.minutes} minutes; {len(todo) - i} cases left (run again to go on)")
            break
        case = bench.make_case(op, pas, rows, cols, dt[d])
        res = bench.measure(case, backends, meta["copy_gbps"])
        rec = {"op": op, "pass": pas, "rows": rows, "cols": cols, "dtype": d, "bytes": case.bytes, "meta": meta}
        for r in res:
            rec[r["backend"]] = r
        with open(jl, "a") as f:
            f.write(json.dumps(rec) + "\n")
        k = rec.get("kgen", {})
        line = " ".join(f"{b} {fmt_ms(rec[b].get('ms'))}" for b in backends)
        print(f"[{i + 1}/{len(todo)}] {op} {pas} {rows}x{cols} {d}: {line} ms; kgen {k.get('pct_copy') or 0:.0f}% "
              f"of copy{'' if all(r['ok'] or r['note'] == 'n/a' for r in res) else '  PROBLEM: ' + '; '.join(r['note'] for r in res if not r['ok'] and r['note'] != 'n/a')}",
              flush=True)
        del case
        if (i + 1) % 12 == 0:
            torch.cuda.empty_cache()
            write_report(load(jl), meta, base + ".md", base + ".png")
    write_report(load(jl), meta, base + ".md", base + ".png")
    print(f"wrote {base}.md and {base}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
