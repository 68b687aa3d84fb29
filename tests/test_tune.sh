#!/usr/bin/env bash
# test_tune.sh KGEN MOCK_LIBCUDA: the tuner's GPU path against a stand-in
# libcuda (tests/stand_in_cuda.c in mock mode: host memory, virtual time,
# made-up kernel attributes; it computes softmax forward, so those variants
# pass the check):
# pruning after load, trial records resumed by the next run, --fresh,
# --budget, Ctrl-C and kill -9 then resume, --json, --devices, --keep-current,
# --prior, --only and scripts/pack_retime.sh.
set -u
kgen=$1
export KGEN_CUDA_LIBRARY=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KGEN_CACHE_DIR=$tmp/cache KGEN_MOCK_COLS=1024 KGEN_MOCK_DTYPE=bf16
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# run NAME ARGS...: kgen tune on the softmax problem; stdout to NAME.out,
# stderr to NAME.err, the exit status to $rc.
run() {
	local name=$1
	shift
	"$kgen" tune --op softmax --cols 1024 --rows 64 --reps 5 --jobs 2 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
}

# field NAME EXPR: a value of the JSON object in NAME.out (python3 syntax on d).
field() {
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$tmp/$1.out"
}

want_rc() { # NAME WANT
	[ "$rc" = "$2" ] || { fail "$1: exit $rc (want $2)"; head -20 "$tmp/$1.out" "$tmp/$1.err"; }
}

"$kgen" version | grep -q '^CUDA driver 13.0' || { echo "test_tune: the mock libcuda does not load"; exit 1; }

# every variant of the problem
n=$("$kgen" space --op softmax --cols 1024 --sm 90 | wc -l)
[ "$n" -gt 10 ] || fail "space: $n variants"

# 1. a cold tune: compiled, some pruned after loading (spills, threads), the best stored.
run cold
want_rc cold 0
grep -q "best stored in '$tmp/cache'" "$tmp/cold.out" || fail "cold: no best stored"
grep -qE "^$n variants: [0-9]+ passed, 0 rejected, pruned [1-9][0-9]* \\((threads: [0-9]+, )?spills: [0-9]+" "$tmp/cold.out" ||
	fail "cold: no pruned count by reason: $(grep variants: "$tmp/cold.out")"
grep -qE '^  cluster=.* spills: 16 bytes of local memory per thread' "$tmp/cold.out" || fail "cold: no spill reason"
grep -qE "compiled $n, reused 0 from the cache" "$tmp/cold.out" || fail "cold: not every variant compiled"
grep -qE '^time: generate [0-9.]+ s, compile [0-9.]+ s, check\+time [0-9.]+ s; total' "$tmp/cold.out" ||
	fail "cold: no phases"
best=$(awk '$1 == "1" { print $2 }' "$tmp/cold.out")

# 1b. 1000 rows: the test data are made on the host for the first 255 rows
# and repeated down the rest on the device; the mock's softmax of every row
# must match the reference of the sampled rows past the tile too (without
# the repeat, those rows would hold no data and every variant would fail).
"$kgen" tune --op softmax --cols 1024 --rows 1000 --reps 5 --jobs 2 >"$tmp/tile.out" 2>"$tmp/tile.err"
rc=$?
want_rc tile 0
grep -qE "^$n variants: [1-9][0-9]* passed, 0 rejected" "$tmp/tile.out" ||
	fail "rows past the tile: $(grep variants: "$tmp/tile.out")"

# 2. again: every outcome is taken from the first run's trial records, nothing is timed.
run again --json
want_rc again 0
[ "$(field again 'd["counts"]["resumed"], d["counts"]["timed"], d["counts"]["compiled"], d["config"]')" = \
	"$n 0 0 $best" ] || fail "again: $(field again 'd["counts"], d["config"]')"
grep -q '(earlier run)' "$tmp/again.err" || fail "again: the table does not mark resumed trials"

# 3. --fresh times everything again (cubins come from the cache).
run fresh --fresh --json
want_rc fresh 0
[ "$(field fresh 'd["counts"]["resumed"], d["counts"]["reused"], d["counts"]["timed"] > 0, d["status"], d["config"]')" = \
	"0 $n True tuned $best" ] || fail "fresh: $(field fresh 'd["counts"], d["status"]')"
field fresh 'd["time_us"] > 0 and d["gbps"] > 0 and d["copy_gbps"] > 0 and 0 < d["pct_of_copy"]' | grep -q True ||
	fail "fresh: no time in the JSON"

# 3b. more reps than the first round's 10: every variant is timed once with
# 10, then the fastest (at most 8, within 10% of the best) again with all;
# the mock's times are exact, so the best is the same.
grep -q '^final:' "$tmp/cold.err" && fail "reps 5: a second round of timing"
run final --fresh --reps 20 --json
want_rc final 0
grep -qE '^final: ([1-8])/\1$' "$tmp/final.err" || fail "reps 20: no second round: $(grep -c . "$tmp/final.err") lines"
[ "$(field final 'd["config"]')" = "$best" ] || fail "reps 20: best $(field final 'd["config"]') (want $best)"

# 4. --budget: the first variant is timed, the rest wait for the next run.
export KGEN_MOCK_SLEEP_US=20000 # (budget 4 s: 8 or more variants timed, not all 65, also under sanitizers)
run budget --fresh --budget 0.5 --json
want_rc budget 0
[ "$(field budget 'd["budget_spent"], d["counts"]["untimed"] > 0, d["counts"]["timed"] >= 1, d["status"]')" = \
	"True True True tuned" ] || fail "budget: $(field budget 'd["counts"], d["budget_spent"]')"
grep -q 'budget of 0.5 s spent: [0-9]* variants not timed' "$tmp/budget.err" || fail "budget: no message"
untimed=$(field budget 'd["counts"]["untimed"]')
run after_budget --json
want_rc after_budget 0
[ "$(field after_budget 'd["counts"]["resumed"] + d["counts"]["untimed"], d["counts"]["timed"] > 0, d["config"]')" = \
	"$((n - untimed)) True $best" ] ||
	fail "after budget: $(field after_budget 'd["counts"]') (the budget run left $untimed)"

# signal_when_timing SIG NAME [ARGS]: start a fresh tune in the background, send SIG
# once its progress shows the first quarter of the variants timed (not at a
# fixed time: generating and compiling take longer on a loaded machine),
# and wait for it; rc is its exit status.
signal_when_timing() {
	local sig=$1 name=$2 pid i
	"$kgen" tune --op softmax --cols 1024 --rows 64 --reps 5 --fresh "${@:3}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	for i in $(seq 600); do
		grep -qE '^time: [1-9][0-9]*/' "$tmp/$name.err" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	kill -s "$sig" $pid 2>/dev/null
	wait $pid
	rc=$?
}

# 5. Ctrl-C: the variant at hand is finished, the best so far kept, exit 130; the next run goes on.
export KGEN_MOCK_SLEEP_US=10000 # about 3 s for all variants: well past the signal
signal_when_timing INT int
want_rc int 130
grep -q '^stopped: [1-9][0-9]* variants not timed' "$tmp/int.out" || fail "int: no stop message"
grep -q 'stopping after the variant at hand' "$tmp/int.err" || fail "int: no notice on stderr"
run after_int --json
want_rc after_int 0
field after_int 'd["counts"]["resumed"] > 0 and d["counts"]["timed"] > 0 and d["counts"]["untimed"] == 0' |
	grep -q True || fail "after int: $(field after_int 'd["counts"]')"

# 6. kill -9: what was measured before is in the cache all the same.
signal_when_timing KILL kill
run after_kill --json
want_rc after_kill 0
field after_kill 'd["counts"]["resumed"] > 0 and d["counts"]["timed"] > 0' | grep -q True ||
	fail "after kill: $(field after_kill 'd["counts"]')"
unset KGEN_MOCK_SLEEP_US

# 7. --check-only: every variant checked, none timed, nothing resumed or stored.
run check --check-only --json
want_rc check 0
[ "$(field check 'd["status"], d["counts"]["resumed"], d["time_us"], d["stored"]')" = "checked 0 None False" ] ||
	fail "check: $(field check 'd["status"], d["counts"]')"

# 8. a GPU of another SM: compiled for the one asked for, exit 3.
KGEN_MOCK_SM=80 run arch --sm 90
want_rc arch 3
grep -q "GPU 0 'Mock GPU' is sm_80, not sm_90" "$tmp/arch.err" || fail "arch: $(cat "$tmp/arch.err")"

# 9. --devices: one worker per GPU; lines and JSON objects name the device;
# the compiler runs ahead of the timing (the second problem's first
# TUNE_COMPILE_FIRST = 24 variants in plan order are in the cache when its
# run starts; the rest are compiled while it checks and times).
"$kgen" tune --preset llm --shard 63/326 --rows 64 --reps 5 --devices 0,1 --fresh --json >"$tmp/dev.out" 2>"$tmp/dev.err"
rc=$?
want_rc dev 1 # softmax fwd bf16 1024 and cross-entropy fwd f32 32000 at 1 row: the mock computes softmax forward of 1024 columns only, 32000 fails its check
python3 - "$tmp/dev.out" <<'EOF' || fail "devices: $(cat "$tmp/dev.out")"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 2, objs
by = {o["cols"]: o for o in objs}
assert by[1024]["status"] == "tuned" and by[32000]["status"] == "failed" and by[32000]["rows"] == 1, objs
assert sorted(o["device"] for o in objs) == [0, 1], [o["device"] for o in objs]
# the second problem's first 24 were compiled ahead while the first was
# timed, the rest during its own run (no early stop: every one checked)
c, pb = by[32000]["counts"], by[32000]["pruned_by"]
assert 0 < c["reused"] <= 24 and c["compiled"] + c["reused"] + pb["template"] + pb["limits"] == c["variants"], c
EOF
[ "$(grep -cE '^\[gpu [01]\] \[[12]/2\] ' "$tmp/dev.err")" = 2 ] || fail "devices: progress lines: $(cat "$tmp/dev.err")"
grep -q '^softmax fwd bf16 cols 1024 .* tuned$' "$tmp/dev.out" "$tmp/dev.err" || fail "devices: no summary row"
# where the time went, summed over both problems, its parts within the whole
python3 - "$tmp/dev.err" <<'EOF' || fail "devices: time line: $(grep '^time:' "$tmp/dev.err")"
import re, sys
m = re.search(r"^time summed over 2 problems: ([0-9.]+) s: render and compile before timing ([0-9.]+) s, test data "
              r"([0-9.]+) s, check and time ([0-9.]+) s, the rest (-?[0-9.]+) s$", open(sys.argv[1]).read(), re.M)
assert m, "no time line"
tot, comp, data, tm, rest = map(float, m.groups())
# (compiling before the timing may round to 0.0 s: the first problem's
# cubins are in the cache from the sections above, the second's compiled
# ahead while the first was timed)
assert tot > 0 and comp >= 0 and data >= 0 and tm > 0 and abs(comp + data + tm + rest - tot) < 0.3, m.groups()
EOF
"$kgen" tune --op softmax --cols 1024 --devices 0,5 >"$tmp/dev5.out" 2>&1
rc=$?
want_rc dev5 1
grep -q "kgen: error: no CUDA device 5 (this machine has 2)" "$tmp/dev5.out" || fail "devices: $(cat "$tmp/dev5.out")"

# 10. the early stop at the copy: once a variant is within 1% of the copy's
# time, no more are timed; --full times the whole space. The mock's copy
# takes KGEN_MOCK_COPY_US (its kernels 20-120 us).
export KGEN_MOCK_COPY_US=60
run near --fresh --json
want_rc near 0
[ "$(field near 'd["early_stop"], d["counts"]["skipped"] > 0, d["time_us"] <= 60.6, d["counts"]["untimed"]')" = \
	"within 1% of the copy True True 0" ] || fail "near copy: $(field near 'd["early_stop"], d["counts"], d["time_us"]')"
grep -qE "^early stop: within 1% of the copy; [1-9][0-9]* variants not timed \(--full times them\)" "$tmp/near.err" ||
	fail "near copy: no early stop line"
run near_full --fresh --full --top 100 --json
want_rc near_full 0
[ "$(field near_full 'd["early_stop"], d["counts"]["skipped"], d["counts"]["timed"] + d["counts"]["pruned"]')" = \
	"None 0 $n" ] || fail "near copy --full: $(field near_full 'd["early_stop"], d["counts"]')"
echo "softmax bf16 1024: $(field near 'd["counts"]["timed"]') variants timed with the early stop at the copy, $(field near_full 'd["counts"]["timed"]') with --full"
unset KGEN_MOCK_COPY_US

# 11. the ranking of the twin dtype: bf16's whole space was timed (near_full),
# so f16 times the default and bf16's leaders first and stops once 8 of them
# have a time; --full times the rest. (The mock computes softmax in
# KGEN_MOCK_DTYPE.)
KGEN_MOCK_DTYPE=f16 run twin --dtype f16 --top 100 --json
want_rc twin 0
[ "$(field twin 'd["early_stop"], d["order"], d["counts"]["timed"] in (8, 9)')" = \
	"the top 8 of bf16's ranking timed the ranking of bf16 cols 1024 (finished) True" ] ||
	fail "twin: $(field twin 'd["early_stop"], d["order"], d["counts"]')"
grep -q "^order: the default, then by the ranking of bf16 cols 1024 (finished)" "$tmp/twin.err" || fail "twin: no order line"
# what f16 timed is bf16's top 8 and the default (one of them, or a ninth)
python3 - "$tmp/near_full.err" "$tmp/twin.err" "$("$kgen" space --op softmax --cols 1024 --sm 90 --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["default"])')" <<'PYEND' || fail "twin: f16 timed variants outside bf16's leaders"
import re, sys
def ranked(path):
    return [l.split()[1] for l in open(path) if re.match(r"^ +\d+  \S+ +[0-9.]+ ", l)]
bf16, f16, default = ranked(sys.argv[1]), ranked(sys.argv[2]), sys.argv[3]
# (bf16's leaders by the ranking in the cache, near its printed order)
assert len(f16) == 8 or (len(f16) == 9 and default in f16), (f16, default)
assert all(c in bf16[:16] or c == default for c in f16), (f16, bf16[:16])
PYEND
KGEN_MOCK_DTYPE=f16 run twin_full --dtype f16 --full --json
want_rc twin_full 0
[ "$(field twin_full 'd["early_stop"], d["counts"]["skipped"], d["counts"]["resumed"] > 0, d["counts"]["timed"] > 8')" = \
	"None 0 True True" ] || fail "twin --full: $(field twin_full 'd["early_stop"], d["counts"]')"
# a ranking that the budget ended counts as finished; one that an early stop ended does not
export KGEN_MOCK_SLEEP_US=20000 # (budget 4 s: 8 or more variants timed, not all 65, also under sanitizers)
run twin_budget --fresh --full --budget 4 --json # --full: no early stop (f16 is finished)
want_rc twin_budget 0
[ "$(field twin_budget 'd["budget_spent"], d["counts"]["timed"] >= 8')" = "True True" ] ||
	fail "twin budget: $(field twin_budget 'd["counts"], d["budget_spent"]')"
unset KGEN_MOCK_SLEEP_US
KGEN_MOCK_DTYPE=f16 run twin_after_budget --dtype f16 --fresh --json
[ "$(field twin_after_budget 'd["early_stop"], d["counts"]["timed"] in (8, 9)')" = "the top 8 of bf16's ranking timed True" ] ||
	fail "twin after a budget: $(field twin_after_budget 'd["early_stop"], d["counts"]')"
KGEN_MOCK_COPY_US=60 run twin_copy --fresh --json
[ "$(field twin_copy 'd["early_stop"]')" = "within 1% of the copy" ] || fail "twin copy: $(field twin_copy 'd["early_stop"]')"
KGEN_MOCK_DTYPE=f16 run twin_after_copy --dtype f16 --fresh --json
[ "$(field twin_after_copy 'd["early_stop"], d["order"]')" = "None the rankings of bf16 cols 1024" ] ||
	fail "twin after a copy stop: $(field twin_after_copy 'd["early_stop"], d["order"], d["counts"]')"
echo "softmax f16 1024: $(field twin 'd["counts"]["timed"]') variants timed after bf16's ranking, $(field twin 'd["counts"]["timed"]') + $(field twin_full 'd["counts"]["timed"]') with --full"

# 12. --keep-current: a problem whose best record was made by this build's
# template, by a finished search, is kept (nothing compiled, loaded or
# timed); the best so far of a search stopped by Ctrl-C is not (the run goes
# on), nor a record of another template (KGEN_TEMPLATE_DIR: softmax.lua
# edited); after 'kgen pack import' of a pack into an empty cache, a list
# keeps what the pack holds.
tdir=$(cd "$(dirname "$0")/../templates" && pwd)
run keep_base --full --json # (the last run above ended by an early stop: this one finishes the search)
want_rc keep_base 0
run keep --keep-current --json
want_rc keep 0
[ "$(field keep 'd["status"], d["counts"]["compiled"], d["counts"]["reused"], d["counts"]["timed"], d["time_us"] > 0, d["stored"]')" = \
	"kept 0 0 0 True False" ] || fail "keep: $(field keep 'd["status"], d["counts"], d["time_us"]')"
kept_cfg=$(field keep 'd["config"]')
run keep_human --keep-current
grep -q "^kept the record in '$tmp/cache': $kept_cfg " "$tmp/keep_human.out" || fail "keep: $(cat "$tmp/keep_human.out")"
cp -r "$tdir" "$tmp/templates"
echo "-- edited" >>"$tmp/templates/softmax.lua"
KGEN_TEMPLATE_DIR=$tmp/templates run keep_edited --keep-current --json
want_rc keep_edited 0
[ "$(field keep_edited 'd["status"], d["counts"]["timed"] > 0')" = "tuned True" ] ||
	fail "keep, template edited: $(field keep_edited 'd["status"], d["counts"]')"
run keep_back --keep-current --json # the record is now the edited template's: tuned again
[ "$(field keep_back 'd["status"], d["counts"]["timed"] > 0')" = "tuned True" ] ||
	fail "keep after an edit: $(field keep_back 'd["status"], d["counts"]')"
export KGEN_MOCK_SLEEP_US=10000
signal_when_timing INT keep_int --full # (no early stop: the signal comes while it times)
want_rc keep_int 130
unset KGEN_MOCK_SLEEP_US
run keep_after_int --keep-current --json
want_rc keep_after_int 0
[ "$(field keep_after_int 'd["status"], d["counts"]["resumed"] > 0')" = "tuned True" ] ||
	fail "keep after Ctrl-C: $(field keep_after_int 'd["status"], d["counts"]')"
run keep_fresh --keep-current --fresh
want_rc keep_fresh 2
grep -q "give --fresh or --keep-current, not both" "$tmp/keep_fresh.err" || fail "keep --fresh: $(cat "$tmp/keep_fresh.err")"
"$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/keep.kgenpack" >"$tmp/keep_export.out" 2>&1 ||
	fail "keep: export: $(cat "$tmp/keep_export.out")"
KGEN_CACHE_DIR=$tmp/cache2 "$kgen" pack import "$tmp/keep.kgenpack" >"$tmp/keep_import.out" 2>&1 ||
	fail "keep: import: $(cat "$tmp/keep_import.out")"
KGEN_CACHE_DIR=$tmp/cache2 "$kgen" tune --preset llm --shard 63/600 --rows 64 --keep-current --json \
	>"$tmp/keep_list.out" 2>"$tmp/keep_list.err"
rc=$?
want_rc keep_list 0
[ "$(field keep_list 'd["status"], d["cols"], d["counts"]["compiled"]')" = "kept 1024 0" ] ||
	fail "keep, imported: $(cat "$tmp/keep_list.out")"
grep -qE "^1 problems: 0 tuned, 1 kept, 0 failed, 0 compiled but not timed, 0 not finished; " "$tmp/keep_list.err" ||
	fail "keep, imported: $(tail -2 "$tmp/keep_list.err")"

# From here on the tests pick variants by name: the stand-in prunes none
# (its made-up spills, thread limits and occupancy come from each cubin's
# hash, which any template change moves to other variants).
export KGEN_MOCK_NO_PRUNE=1

# 13. --prior: with the template edited (the pack's record is stale), the
# pack's configuration is timed right after the default and the search
# stops once --prior-top variants have a time; a missing pack is refused.
prior_cfg=$("$kgen" pack ls --json "$tmp/keep.kgenpack" | python3 -c 'import json,sys; print([r["config"] for r in json.load(sys.stdin)["records"] if r["op"] == "softmax" and r["pass"] == "fwd" and r["dtype"] == "bf16" and r["cols"] == 1024 and r["rows_bucket"] == 64][0])')
KGEN_TEMPLATE_DIR=$tmp/templates KGEN_CACHE_DIR=$tmp/cache3 run prior --prior "$tmp/keep.kgenpack" --prior-top 3 --json
want_rc prior 0
[ "$(field prior 'd["status"], d["counts"]["timed"], d["early_stop"], d["order"].startswith("the prior pack")')" = \
	"tuned 3 3 timed, the prior pack's configuration among them True" ] ||
	fail "prior: $(field prior 'd["status"], d["counts"], d["early_stop"], d["order"]')"
KGEN_TEMPLATE_DIR=$tmp/templates KGEN_CACHE_DIR=$tmp/cache4 run prior_table --prior "$tmp/keep.kgenpack" --prior-top 2 --top 5
want_rc prior_table 0
grep -qF " $prior_cfg " "$tmp/prior_table.out" || fail "prior: '$prior_cfg' not timed: $(cat "$tmp/prior_table.out")"
# --prior-add KEY=VALUE: every variant that sets it is timed too, right
# after the prior's record, on top of --prior-top
add_n=$("$kgen" space --op softmax --cols 1024 --sm 90 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(1 for c in d["configs"] if "persist=4" in c.split(",") and c != d["default"] and c != sys.argv[1]))' "$prior_cfg")
KGEN_TEMPLATE_DIR=$tmp/templates KGEN_CACHE_DIR=$tmp/cache3a run prior_add --prior "$tmp/keep.kgenpack" --prior-top 3 --prior-add persist=4 --json
want_rc prior_add 0
[ "$add_n" -gt 0 ] && [ "$(field prior_add 'd["counts"]["timed"], d["early_stop"], d["order"].split(";")[0]')" = \
	"$((3 + add_n)) $((3 + add_n)) timed, the prior pack's configuration among them the prior pack's record first, then the $add_n variants of --prior-add" ] ||
	fail "prior-add ($add_n variants set persist=4): $(field prior_add 'd["counts"], d["early_stop"], d["order"]')"
# started again the same way, the run goes on with the same plan: what it
# timed counts toward the early stop, nothing more is timed
KGEN_TEMPLATE_DIR=$tmp/templates KGEN_CACHE_DIR=$tmp/cache3a run prior_add_again --prior "$tmp/keep.kgenpack" --prior-top 3 --prior-add persist=4 --json
[ "$(field prior_add_again "d['counts']['timed'], d['counts']['resumed'] >= $((3 + add_n)), d['early_stop']")" = \
	"0 True $((3 + add_n)) timed, the prior pack's configuration among them" ] ||
	fail "prior-add, started again: $(field prior_add_again 'd["counts"], d["early_stop"], d["order"]')"
run prior_add_alone --prior-add persist=4
want_rc prior_add_alone 2
grep -q "prior-add applies to --prior only" "$tmp/prior_add_alone.err" || fail "prior-add alone: $(cat "$tmp/prior_add_alone.err")"
run prior_add_bad --prior "$tmp/keep.kgenpack" --prior-add persist
want_rc prior_add_bad 2
run prior_missing --prior "$tmp/none.kgenpack"
want_rc prior_missing 1
grep -q "^kgen: error: --prior: cannot open pack" "$tmp/prior_missing.err" || fail "prior, missing pack: $(cat "$tmp/prior_missing.err")"
run prior_full --prior "$tmp/keep.kgenpack" --full
want_rc prior_full 2

# 14. --only: the variants asked for are timed side by side (each one's time
# in the JSON's trials), the rest not; nothing is stored as the best; a
# configuration the space lacks and --preset are refused.
only_a=$("$kgen" space --op softmax --cols 1024 --sm 90 | sed -n 2p)
only_b=$("$kgen" space --op softmax --cols 1024 --sm 90 | sed -n 7p)
KGEN_CACHE_DIR=$tmp/cache5 run only --only "$only_a" --only "$only_b" --fresh --json
want_rc only 0
got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["counts"]["timed"], d["counts"]["skipped"], d["stored"], sorted(t["config"] for t in d["trials"]) == sorted(sys.argv[2:4]), all(t["time_us"] > 0 for t in d["trials"]))' "$tmp/only.out" "$only_a" "$only_b")
[ "$got" = "2 $((n - 2)) False True True" ] || fail "only: $got: $(cat "$tmp/only.out")"
KGEN_CACHE_DIR=$tmp/cache5 "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/only.kgenpack" >"$tmp/only_export.out" 2>&1
grep -q "no current record for 'Mock GPU' sm 90" "$tmp/only_export.out" ||
	fail "only: a best was stored: $(cat "$tmp/only_export.out")"
KGEN_CACHE_DIR=$tmp/cache5 run only_text --only "$only_a"
want_rc only_text 0
grep -q "^the variants asked for (--only) timed; nothing stored as the best, no trial record written" "$tmp/only_text.out" ||
	fail "only, text: $(tail -3 "$tmp/only_text.out")"
# an --only run (--fresh or not) leaves a finished search as it was: the
# next --keep-current run keeps the record, a plain run times nothing
KGEN_CACHE_DIR=$tmp/cache6 run only_base --full
KGEN_CACHE_DIR=$tmp/cache6 run only_fresh --only "$only_a" --only "$only_b" --fresh
KGEN_CACHE_DIR=$tmp/cache6 run only_again --only "$only_a"
KGEN_CACHE_DIR=$tmp/cache6 run only_keep --keep-current --json
[ "$(field only_keep 'd["status"]')" = kept ] || fail "only: the finished search was not kept: $(cat "$tmp/only_keep.out")"
KGEN_CACHE_DIR=$tmp/cache6 run only_resume --json
[ "$(field only_resume 'd["counts"]["timed"], d["counts"]["resumed"] > 0')" = "0 True" ] ||
	fail "only: the next run did not resume the finished search: $(field only_resume 'd["counts"]')"
run only_twice --only "$only_a" --only "$only_a"
want_rc only_twice 2
run only_bad --only "cluster=1,strategy=none"
want_rc only_bad 2
grep -q "^kgen: error: --only 'cluster=1,strategy=none' is not a variant of softmax fwd" "$tmp/only_bad.err" ||
	fail "only, unknown config: $(cat "$tmp/only_bad.err")"
"$kgen" tune --preset llm --only "$only_a" >"$tmp/only_preset.out" 2>&1
rc=$?
want_rc only_preset 2

# 14a. a record timed earlier, faster than anything now (the same
# kernels took half the time then: KGEN_MOCK_TIME_PCT=50): a --fresh --full
# search that times its configuration again judges by this run's times
# and replaces it, the run's fastest with its own time (it kept the
# record, whose time was not this run's).
KGEN_CACHE_DIR=$tmp/cache6b KGEN_MOCK_TIME_PCT=50 run stale_base --full --json
KGEN_CACHE_DIR=$tmp/cache6b run stale --fresh --full --json
want_rc stale 0
KGEN_CACHE_DIR=$tmp/cache6b "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/stale.kgenpack" >/dev/null 2>&1
stale_rec=$("$kgen" pack ls --json "$tmp/stale.kgenpack" 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"][0]; print(r["config"], r["time_us"])')
[ "$(python3 -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:3]); cfg, us = sys.argv[3].rsplit(" ", 1)
print(b["stored"], b["time_us"] > 1.5 * a["time_us"], cfg == b["config"] and abs(float(us) - b["time_us"]) < 0.01)' \
	"$tmp/stale_base.out" "$tmp/stale.out" "$stale_rec")" = "True True True" ] ||
	fail "a record timed faster earlier: stored $(field stale 'd["stored"], d["config"], d["time_us"]') (before: $(field stale_base 'd["config"], d["time_us"]')); the cache's: $stale_rec"

# 14b. --only --store: the fastest of the variants asked for replaces the
# cache's record, even a faster one (the side-by-side timing decides);
# --store alone is refused.
KGEN_CACHE_DIR=$tmp/cache7 run store_base --full --json
base_cfg=$(field store_base 'd["config"]')
store_a=$("$kgen" space --op softmax --cols 1024 --sm 90 | grep -vxF "$base_cfg" | sed -n 2p)
store_b=$("$kgen" space --op softmax --cols 1024 --sm 90 | grep -vxF "$base_cfg" | sed -n 5p)
KGEN_CACHE_DIR=$tmp/cache7 run store --only "$store_a" --only "$store_b" --store --json
want_rc store 0
store_win=$(field store 'min((t for t in d["trials"] if t["time_us"]), key=lambda t: t["time_us"])["config"]')
[ "$(field store 'd["stored"]')" = True ] && [ "$store_win" != "$base_cfg" ] &&
	KGEN_CACHE_DIR=$tmp/cache7 "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/store.kgenpack" >/dev/null 2>&1 &&
	[ "$("$kgen" pack ls --json "$tmp/store.kgenpack" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["config"])')" = "$store_win" ] ||
	fail "only --store: stored $(field store 'd["stored"]'), fastest asked '$store_win', the full search's '$base_cfg', the cache's now: $("$kgen" pack ls "$tmp/store.kgenpack" 2>&1 | tail -1)"
run store_alone --store
want_rc store_alone 2

# 15. scripts/pack_retime.sh: two packs whose records of the problem name
# other configurations (the whole space searched; an early stop at the
# copy, the first variant that passed) timed side by side with --only; the
# slower choice is named.
KGEN_CACHE_DIR=$tmp/rtA run rt_full --full
KGEN_CACHE_DIR=$tmp/rtA "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/rtA.kgenpack" >/dev/null 2>&1
KGEN_MOCK_COPY_US=200 KGEN_CACHE_DIR=$tmp/rtB run rt_early
KGEN_CACHE_DIR=$tmp/rtB "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/rtB.kgenpack" >/dev/null 2>&1
KGEN="$kgen" bash "$(dirname "$0")/../scripts/pack_retime.sh" "$tmp/rtA.kgenpack" "$tmp/rtB.kgenpack" >"$tmp/rt.out" 2>&1
rc=$?
want_rc rt 0
grep -q "^0 shared records with the same configuration (not timed); 1 with another, timed here" "$tmp/rt.out" &&
	grep -qE "^1 timed: geomean old/new 0\.[0-9]+; 1 where NEW's choice is more than 3% slower" "$tmp/rt.out" ||
	fail "pack_retime: $(cat "$tmp/rt.out")"
# STORE=DIR: the faster (the old pack's) configuration replaces the new
# pack's record in a cache that holds the new pack
KGEN_CACHE_DIR=$tmp/rtS "$kgen" pack import "$tmp/rtB.kgenpack" >/dev/null 2>&1
STORE=$tmp/rtS KGEN="$kgen" bash "$(dirname "$0")/../scripts/pack_retime.sh" "$tmp/rtA.kgenpack" "$tmp/rtB.kgenpack" >"$tmp/rts.out" 2>&1
KGEN_CACHE_DIR=$tmp/rtS "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/rtS.kgenpack" >/dev/null 2>&1
first_config() { "$kgen" pack ls --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["config"])'; }
[ "$(first_config "$tmp/rtS.kgenpack")" = "$(first_config "$tmp/rtA.kgenpack")" ] &&
	[ "$(first_config "$tmp/rtB.kgenpack")" != "$(first_config "$tmp/rtA.kgenpack")" ] &&
	grep -q "^the faster configuration of each of the 1 stored in '$tmp/rtS' (1 the old one's)" "$tmp/rts.out" ||
	fail "pack_retime STORE: $(first_config "$tmp/rtS.kgenpack") vs the faster $(first_config "$tmp/rtA.kgenpack"): $(cat "$tmp/rts.out")"
# RUNS=2: each problem timed in two processes, the mean and each run's
# ratio printed; with STORE the faster by the mean is stored
RUNS=2 KGEN="$kgen" bash "$(dirname "$0")/../scripts/pack_retime.sh" "$tmp/rtA.kgenpack" "$tmp/rtB.kgenpack" >"$tmp/rt2.out" 2>&1
grep -qE "^\[1/1\] .*old/new 0\.[0-9]+ \(runs: 0\.[0-9]+, 0\.[0-9]+\)$" "$tmp/rt2.out" &&
	grep -qE "^1 timed: .*; 1 where NEW's choice is more than 3% slower, .* \(the mean of 2 runs each; 1 slower by more than 3% in every run\)$" "$tmp/rt2.out" ||
	fail "pack_retime RUNS=2: $(cat "$tmp/rt2.out")"
KGEN_CACHE_DIR=$tmp/rtS2 "$kgen" pack import "$tmp/rtB.kgenpack" >/dev/null 2>&1
RUNS=2 STORE=$tmp/rtS2 KGEN="$kgen" bash "$(dirname "$0")/../scripts/pack_retime.sh" "$tmp/rtA.kgenpack" "$tmp/rtB.kgenpack" >"$tmp/rts2.out" 2>&1
KGEN_CACHE_DIR=$tmp/rtS2 "$kgen" pack export --gpu 'Mock GPU' --sm 90 -o "$tmp/rtS2.kgenpack" >/dev/null 2>&1
[ "$(first_config "$tmp/rtS2.kgenpack")" = "$(first_config "$tmp/rtA.kgenpack")" ] ||
	fail "pack_retime RUNS=2 STORE: $(first_config "$tmp/rtS2.kgenpack") vs the faster $(first_config "$tmp/rtA.kgenpack"): $(cat "$tmp/rts2.out")"
RUNS=0 KGEN="$kgen" bash "$(dirname "$0")/../scripts/pack_retime.sh" "$tmp/rtA.kgenpack" "$tmp/rtB.kgenpack" >"$tmp/rt0.out" 2>&1
rc=$?
want_rc rt0 1
grep -q "RUNS must be at least 1" "$tmp/rt0.out" || fail "pack_retime RUNS=0: $(cat "$tmp/rt0.out")"

if [ "$fails" -ne 0 ]; then
	echo "test_tune: $fails failures"
	exit 1
fi
echo "test_tune: ok"
