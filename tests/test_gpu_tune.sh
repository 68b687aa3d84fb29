#!/usr/bin/env bash
# test_gpu_tune.sh KGEN: the tuner's paths on a GPU, each on a cold cache of
# its own unless it says otherwise, with the times printed (on an H100 with
# 16 cores: about 3 minutes, 1 with KGEN_TEST_QUICK=1); tests/test_tune.sh
# runs the same paths on the stand-in libcuda.
#
#  1. cold tune of xent fused 8192x128256 bf16 (quick: 4096x32000), timed
#     (on an H100: about 30 s): the best stored
#  2. the same again: nothing compiled or timed, every outcome resumed
#  3. the same with --fresh: every cubin reused, variants timed again
#  4. --budget 5 on a cold problem, then the run that goes on from it
#  5. SIGINT after 3 s of a run that times its whole space (--full: no
#     early stop ends it sooner): exit 130; the next run goes on (cubins
#     reused)
#  6. --json of one problem, parsed
#  7. (not quick) --preset llm --shard 0/16, stopped by SIGINT after 120 s
#     at most: its lines give the elapsed time and ETA
# Skips (77) without a GPU. Logs in $OUT/test_gpu_tune when OUT is set.
. "$(dirname "$0")/gpu_lib.sh" test_gpu_tune "$1"
cold() { # a fresh cache directory
	KGEN_CACHE_DIR=$(mktemp -d -p "$tmp")
	export KGEN_CACHE_DIR
}
# timed NAME COMMAND...: run, stdout to $out/NAME.json, stderr to
# $out/NAME.log; $rc and $secs
timed() {
	local name=$1 t0
	shift
	t0=$(date +%s%N)
	"$@" >"$out/$name.json" 2>"$out/$name.log"
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
}
# expect NAME WANT_RC PYTHON_EXPR: exit status and a condition on the JSON
# object d (c = d["counts"]); PASS or FAIL with the counts and the time.
expect() {
	local name=$1 want=$2 expr=$3 line
	line=$(python3 -c "import json, sys
d = json.load(open(sys.argv[1])); c = d['counts']
print('ok' if ($expr) else 'bad', d['status'], c, d['time_us'], 'us')" "$out/$name.json" 2>&1 | tail -1)
	if [ "$rc" = "$want" ] && [ "${line%% *}" = ok ]; then
		pass "$name: ${secs} s: ${line#* }"
	else
		fail "$name: exit $rc (want $want), ${secs} s: ${line#* } (want $expr)"
	fi
}
"$kgen" version | tee -a "$out/gpu.txt"
echo "cores: $(nproc)" | tee -a "$out/gpu.txt"

if [ -n "$quick" ]; then
	xent=(tune --op xent --pass fused --vocab 32000 --rows 4096 --dtype bf16 --top 5 --json)
	budget=(tune --op xent --pass fused --vocab 50257 --rows 4096 --dtype bf16 --top 3 --json)
	int=(tune --op xent --pass fused --vocab 50257 --rows 4096 --dtype bf16 --full --top 3 --json)
else
	xent=(tune --op xent --pass fused --vocab 128256 --rows 8192 --dtype bf16 --top 5 --json)
	budget=(tune --op xent --pass fused --vocab 151936 --rows 8192 --dtype bf16 --top 3 --json)
	int=(tune --op softmax --cols 131072 --rows 4096 --dtype bf16 --full --top 3 --json)
fi

# 1-3: one problem, cold, again, fresh
cold
timed 1_cold "$kgen" "${xent[@]}"
expect 1_cold 0 'd["status"] == "tuned" and d["stored"] and c["timed"] > 0 and c["reused"] == 0'
timed 2_again "$kgen" "${xent[@]}"
expect 2_again 0 'c["compiled"] == 0 and c["timed"] == 0 and c["resumed"] > 0'
timed 3_fresh "$kgen" "${xent[@]}" --fresh
expect 3_fresh 0 'c["compiled"] == 0 and c["resumed"] == 0 and c["timed"] > 0 and c["reused"] > 0'

# 4: a budget of 5 s on a cold problem, then the run that finishes it
cold
timed 4_budget "$kgen" "${budget[@]}" --budget 5
expect 4_budget 0 'd["status"] == "tuned" and c["timed"] >= 1 and (c["untimed"] > 0) == d["budget_spent"]'
timed 4_after "$kgen" "${budget[@]}"
expect 4_after 0 'd["status"] == "tuned" and c["untimed"] == 0 and c["resumed"] > 0'

# 5: SIGINT after 3 s (while compiling or timing), then the run that goes on
cold
timed 5_int timeout --preserve-status -s INT 3 "$kgen" "${int[@]}"
[ "$rc" = 130 ] && grep -q 'stopping after the variant at hand' "$out/5_int.log" &&
	pass "5_int: exit 130 after ${secs} s" || fail "5_int: exit $rc (want 130), ${secs} s: $(tail -2 "$out/5_int.log")"
timed 5_resume "$kgen" "${int[@]}"
expect 5_resume 0 'd["status"] == "tuned" and c["untimed"] == 0 and c["reused"] + c["resumed"] > 0'

# 6: --json of a cold problem
cold
timed 6_json "$kgen" tune --op xent --pass fwd --vocab 50257 --rows 4096 --dtype bf16 --json
expect 6_json 0 'd["status"] == "tuned" and d["time_us"] > 0 and 0 < d["pct_of_copy"] and set(d["phases"]) >= {"compile", "check_time"}'

# 7: a shard of the preset, at most 120 s (SIGINT: the problem at hand finishes)
if [ -z "$quick" ]; then
	cold
	n=$("$kgen" tune --preset llm --shard 0/16 --list | wc -l)
	timed 7_shard timeout --preserve-status -s INT 120 "$kgen" tune --preset llm --shard 0/16 --json
	done_n=$(grep -c '^{' "$out/7_shard.json")
	if { [ "$rc" = 0 ] || [ "$rc" = 130 ]; } && [ "$done_n" -ge 1 ] &&
		grep -qE "^\[[0-9]+/$n\] .*elapsed .*ETA" "$out/7_shard.log"; then
		pass "7 --preset llm --shard 0/16: exit $rc, ${secs} s, $done_n of $n problems: $(grep -E "^\[[0-9]+/$n\]" "$out/7_shard.log" | tail -1)"
	else
		fail "7 --preset llm --shard 0/16: exit $rc, $done_n of $n problems: $(tail -2 "$out/7_shard.log")"
	fi
fi
grep -E '^[0-9]+ variants:|^time:' "$out/1_cold.log"
finish
