#!/usr/bin/env bash
# pack_compare.sh OLD NEW: the records two packs share (op, pass, dtype,
# cols, options, rows bucket; the GPU may differ): the geometric mean of
# old time / new time (> 1: NEW is faster), the slowest ratios, and what
# each has that the other lacks. Times are each pack's own tuning runs, so
# differences within about 1% are the run-to-run spread.
set -u
[ $# = 2 ] || { echo "usage: scripts/pack_compare.sh OLD.kgenpack NEW.kgenpack" >&2; exit 2; }
kgen=${KGEN:-build/kgen}
"$kgen" pack ls --json "$1" >"${TMPDIR:-/tmp}/pack_old.$$.json" || exit 1
"$kgen" pack ls --json "$2" >"${TMPDIR:-/tmp}/pack_new.$$.json" || exit 1
python3 - "${TMPDIR:-/tmp}/pack_old.$$.json" "${TMPDIR:-/tmp}/pack_new.$$.json" <<'PY'
import json, math, sys
def load(p):
    return {(r["op"], r["pass"], r["dtype"], r["cols"], r["options"], r["rows_bucket"]): r
            for r in json.load(open(p))["records"]}
old, new = load(sys.argv[1]), load(sys.argv[2])
both = sorted(set(old) & set(new))
ratios = [(old[k]["time_us"] / new[k]["time_us"], k) for k in both if old[k]["time_us"] and new[k]["time_us"]]
if not ratios:
    sys.exit("no shared records")
gm = math.exp(sum(math.log(r) for r, _ in ratios) / len(ratios))
print(f"{len(ratios)} shared records: geomean old/new {gm:.4f}; "
      f"{sum(r < 0.97 for r, _ in ratios)} more than 3% slower, {sum(r > 1.03 for r, _ in ratios)} more than 3% faster")
for r, k in sorted(ratios)[:8]:
    print(f"  {r:.3f}  {' '.join(map(str, k))}: {old[k]['config']} -> {new[k]['config']}")
print(f"only in old: {len(set(old) - set(new))}, only in new: {len(set(new) - set(old))}")
PY
rc=$?
rm -f "${TMPDIR:-/tmp}/pack_old.$$.json" "${TMPDIR:-/tmp}/pack_new.$$.json"
exit $rc
