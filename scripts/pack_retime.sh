#!/usr/bin/env bash
# pack_retime.sh OLD NEW: on the GPU at hand, the records two packs share
# (op, pass, dtype, cols, options, rows bucket) whose configurations
# differ, each problem's two configurations timed side by side in one
# `kgen tune --only OLD_CONFIG --only NEW_CONFIG --fresh` run (same data,
# same process; both again in the tuner's final round when within 10% of
# each other, else the slower one's first-round time): the geometric mean
# of old time / new time (> 1: NEW's choice is faster) and every problem where NEW's
# choice is more than 3% slower. Unlike scripts/pack_compare.sh, which
# reads each pack's own tuning times (two runs, often two machines, whose
# spread between calls is several percent a record), this measures.
#
# Environment: KGEN (default build/kgen), RUNS=N (below), LIMIT=N (only the first N
# differing records), SKIP=N (leave out the first N of them, to go on
# where a stopped run ended), JSONL=FILE (append each problem's tuner
# JSON), RECORD_TIMEOUT=SECONDS (one tuner process at most, default 600),
# STORE=DIR (each problem's faster configuration stored into the cache DIR
# with `--store`, replacing its record there: after `kgen pack import NEW`
# into DIR, `kgen pack export` from DIR gives NEW with the faster choice of
# each differing problem). Without STORE the tuning runs use a cache of
# their own (removed at the end): the user's cache is not touched.
# RUNS=N (default 1): each problem timed in N processes, one after another
# (each process's buffers land elsewhere, and kernels of a few microseconds
# move by several percent with them: bench/NOTES.md); its ratio is the
# geometric mean of the N, a problem is counted slower by that mean, and
# the summary says how many were slower in every run. With STORE, the
# faster by that mean is then stored by one more run (--only it --store).
set -u
[ $# = 2 ] || { echo "usage: scripts/pack_retime.sh OLD.kgenpack NEW.kgenpack" >&2; exit 2; }
kgen=${KGEN:-build/kgen}
work=$(mktemp -d "${TMPDIR:-/tmp}/kgen-retime.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
"$kgen" pack ls --json "$1" >"$work/old.json" || exit 1
"$kgen" pack ls --json "$2" >"$work/new.json" || exit 1
KGEN_CACHE_DIR=${STORE:-$work/cache} python3 - "$kgen" "$work/old.json" "$work/new.json" <<'PY'
import json, math, os, subprocess, sys

kgen, old_path, new_path = sys.argv[1:4]


def load(path):
    return {(r["op"], r["pass"], r["dtype"], r["cols"], r["options"], r["rows_bucket"]): r
            for r in json.load(open(path))["records"]}


def problem_args(key):
    op, pas, dtype, cols, options, rows = key
    args = ["--op", op, "--pass", pas, "--dtype", dtype, "--cols", str(cols), "--rows", str(rows)]
    if options != "-":
        opts = dict(kv.split("=") for kv in options.split(","))
        args += ["--target", opts.get("target", "i64")]
        args += ["--" + k for k in ("weight", "smooth", "zloss", "softcap") if opts.get(k) == "1"]
    return args


old, new = load(old_path), load(new_path)
keys = sorted(k for k in set(old) & set(new) if old[k]["config"] != new[k]["config"])
same = sum(1 for k in set(old) & set(new) if old[k]["config"] == new[k]["config"])
def env_int(name, default):
    v = os.environ.get(name) or str(default)
    if not v.isdigit():
        sys.exit(f"pack_retime: {name} must be a whole number, not '{v}'")
    return int(v)


skip, limit, timeout = env_int("SKIP", 0), env_int("LIMIT", 0), env_int("RECORD_TIMEOUT", 600)
runs = env_int("RUNS", 1)
if runs < 1:
    sys.exit("pack_retime: RUNS must be at least 1")
keys = keys[skip:skip + limit] if limit else keys[skip:]
print(f"{same} shared records with the same configuration (not timed); {len(keys)} with another, timed here",
      flush=True)
ratios, failed = [], []
every = 0  # problems slower by more than 3% in every run
jsonl = open(os.environ["JSONL"], "a") if os.environ.get("JSONL") else None
store = os.environ.get("STORE")


def tune(cmd):
    """(the run's JSON, None), or (None, why there is none)."""
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"stopped after {timeout} s"
    try:
        return json.loads(run.stdout.strip().splitlines()[-1]), None
    except (IndexError, ValueError) as e:
        return None, (f"{e}; exit {run.returncode}: "
                      f"{run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ''}")


for i, k in enumerate(keys):
    a, b = old[k]["config"], new[k]["config"]
    cmd = [kgen, "tune", *problem_args(k), "--only", a, "--only", b, "--fresh", "--json", "-q"]
    if store and runs == 1:
        cmd.append("--store")
    name = " ".join(map(str, k))
    times, why = [], None
    for _ in range(runs):
        d, why = tune(cmd)
        if d is None:
            break
        t = {x["config"]: x["time_us"] for x in d.get("trials", [])}
        if not t.get(a) or not t.get(b):
            why = "a configuration failed its check"
            break
        if jsonl:
            jsonl.write(json.dumps(d) + "\n")
        times.append((t[a], t[b]))
    if why:
        failed.append(name)
        print(f"[{i + 1}/{len(keys)}] {name}: not timed ({why})", flush=True)
        continue
    ta = math.exp(sum(math.log(x[0]) for x in times) / runs)
    tb = math.exp(sum(math.log(x[1]) for x in times) / runs)
    r = ta / tb  # (the geometric mean of the runs' ratios)
    if store and runs > 1:
        d, why = tune([kgen, "tune", *problem_args(k), "--only", a if r < 1 else b, "--store", "--fresh", "--json",
                       "-q"])
        if d is None or not d.get("stored"):
            failed.append(name)
            print(f"[{i + 1}/{len(keys)}] {name}: the faster not stored ({why or 'not stored'})", flush=True)
            continue
    ratios.append((r, name, a, b, ta, tb))
    every += all(x[0] / x[1] < 1 / 1.03 for x in times)
    each = f" (runs: {', '.join(f'{x[0] / x[1]:.3f}' for x in times)})" if runs > 1 else ""
    print(f"[{i + 1}/{len(keys)}] {name}: old {ta:.2f} us, new {tb:.2f} us, old/new {r:.3f}{each}", flush=True)
if ratios:
    gm = math.exp(sum(math.log(r[0]) for r in ratios) / len(ratios))
    slow = sorted(r for r in ratios if r[0] < 1 / 1.03)
    by = f" (the mean of {runs} runs each; {every} slower by more than 3% in every run)" if runs > 1 else ""
    print(f"{len(ratios)} timed: geomean old/new {gm:.4f}; {len(slow)} where NEW's choice is more than 3% "
          f"slower, {sum(r[0] > 1.03 for r in ratios)} more than 3% faster; {len(failed)} not timed{by}")
    for r, name, a, b, ta, tb in slow:
        print(f"  {r:.3f}  {name}: {a} {ta:.2f} us -> {b} {tb:.2f} us")
    if store:
        print(f"the faster configuration of each of the {len(ratios)} stored in '{store}' "
              f"({sum(r[0] < 1 for r in ratios)} the old one's)")
sys.exit(1 if failed else 0)
PY
