#!/usr/bin/env bash
# gpu_borrow_check.sh: the numbers behind two runtime rules (docs/packs.md),
# on the GPU at hand, in one `kgen tune --full` run per problem (every
# variant timed, same data, same copy):
#   - borrowing: on a GPU without a pack of its own (an H200), the time of
#     the record it borrows (the config of $PACK, the H100's) against the
#     template's default and against this GPU's own best;
#   - rows buckets: at 1, 8 and 64 rows, the time of the 4096-row record's
#     config (what a call got before the decode buckets and the 8x rule)
#     against the default and the best at those rows.
# Then the runtime itself on one problem: kgen_last_kernel says "borrowed
# ... from '<model>'" with the pack, "fallback" with KGEN_NO_BORROW=1.
# PROBLEMS="op:pass:dtype:cols:rows ..." replaces the list. Prints a table
# and geometric means; about 2-3 minutes.
set -u
pack=${PACK:-packs/h100-sm90.kgenpack}
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
export KGEN_CACHE_DIR=$w/cache KGEN_PACK_DIR= KGEN_PACK_PATH=
sm=$(build/kgen pack ls --json "$pack" | python3 -c 'import json, sys; print(json.load(sys.stdin)["meta"]["sm"])')
build/kgen pack ls --json "$pack" >"$w/pack.json"
problems=${PROBLEMS:-"xent:fused:bf16:128256:4096 xent:fused:f32:256000:4096 softmax:fwd:bf16:131072:4096
softmax:bwd:f16:151936:4096 log_softmax:fwd:bf16:50257:4096 softmax:fwd:bf16:8192:4096 log_softmax:bwd:f32:2048:4096
xent:fwd:bf16:151936:1 xent:fwd:bf16:151936:8 softmax:fwd:bf16:128256:1 log_softmax:fwd:f32:32000:64
softmax:fwd:bf16:8192:1 softmax:fwd:f16:2048:64"}
echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1); records of $pack ($(python3 -c \
	'import json, sys; print(json.load(open(sys.argv[1]))["meta"]["gpu"])' "$w/pack.json"))"
: >"$w/rows.txt"
for p in $problems; do
	IFS=: read -r op pass dtype cols rows <<<"$p"
	build/kgen tune --op "$op" --pass "$pass" --dtype "$dtype" --cols "$cols" --rows "$rows" --full --top 10000 \
		--seed 1 -q >"$w/t.out" 2>"$w/t.err"
	dflt=$(build/kgen space --op "$op" --pass "$pass" --dtype "$dtype" --cols "$cols" --sm "$sm" --json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["default"])')
	python3 - "$w/t.out" "$w/pack.json" "$op" "$pass" "$dtype" "$cols" "$rows" "$dflt" >>"$w/rows.txt" <<'EOF'
import json, re, sys
out, pack, op, ps, dt, cols, rows, dflt = sys.argv[1:]
times = {}
for line in open(out):
    m = re.match(r"^ +\d+  (\S+) +([0-9.]+) ", line)
    if m:
        times[m.group(1)] = float(m.group(2))
recs = [r for r in json.load(open(pack))["records"]
        if (r["op"], r["pass"], r["dtype"], r["cols"]) == (op, ps, dt, int(cols)) and r["options"] in ("-", "smooth=0,softcap=0,target=i64,weight=0,zloss=0")]
rec = min(recs, key=lambda r: abs(r["rows_bucket"] - 4096)) if recs else None  # the 4096-row record
best = min(times.values()) if times else None
t_rec = times.get(rec["config"]) if rec else None
t_def = times.get(dflt)
f = lambda v: f"{v:10.2f}" if v else f"{'-':>10}"
print(f"{op:>11} {ps:>5} {dt:>4} {cols:>7} {rows:>5}  {f(t_def)} {f(t_rec)} {f(best)}  "
      f"{(t_def / t_rec) if t_def and t_rec else float('nan'):6.3f}  {(best / t_rec) if best and t_rec else float('nan'):6.3f}")
EOF
done
printf '%11s %5s %4s %7s %5s  %10s %10s %10s  %6s  %6s\n' op pass dt cols rows "default us" "record us" "best us" \
	"def/rec" "best/rec"
cat "$w/rows.txt"
python3 - "$w/rows.txt" <<'EOF'
import math, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def gm(sel):
    v = [float(r[-2]) for r in rows if sel(r) and r[-2] != "nan"]
    return (math.exp(sum(map(math.log, v)) / len(v)), len(v)) if v else (float("nan"), 0)
g, n = gm(lambda r: r[4] == "4096")
print(f"4096 rows: geomean default/record {g:.3f} over {n} (> 1: the borrowed record beats the default)")
g, n = gm(lambda r: r[4] != "4096")
print(f"1-64 rows: geomean default/record {g:.3f} over {n} (< 1: the default beats the 4096-row record)")
EOF
# the runtime: borrowed with the pack, the default without borrowing
for nb in 0 1; do
	KGEN_NO_BORROW=$nb KGEN_PACK_PATH=$pack KGEN_CACHE_DIR=$w/rt$nb PYTHONPATH=python KGEN_LIBRARY=build/libkgen.so \
		python3 -m kgen.bench --backend kgen --op cross_entropy --pass fwdbwd --rows 4096 --cols 128256 2>&1 |
		awk -v nb="$nb" '/^kgen / { print "KGEN_NO_BORROW=" nb ": " $0 }'
done
