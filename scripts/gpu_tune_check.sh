#!/usr/bin/env bash
# gpu_tune_check.sh [BUILD]: measure the tuner's paths on a GPU machine (an
# H100 with 16 cores; about 6 minutes of GPU time). Every step runs on a
# cold cache of its own unless it says otherwise; logs go to $OUT (or
# /tmp/kgen-gpu-tune-check), the summary is printed last.
#
#  1. cold tune of xent fused 8192x128256 bf16, timed (target: <= 30 s)
#  2. the same again: nothing compiled, every outcome resumed
#  3. the same with --fresh: cubins reused, everything timed again
#  4. --budget 5 on a cold problem, then the run that goes on from it
#  5. Ctrl-C after 5 s (timeout -s INT), exit 130, then the resumed run
#  6. --json of one problem, parsed
#  7. --preset llm --shard 0/8 (21 problems) on a cold cache, stopped by
#     SIGINT after 200 s at most: its lines give the elapsed time and ETA
set -u
build=${1:-build}
out=${OUT:-/tmp/kgen-gpu-tune-check}
mkdir -p "$out"
kgen=$build/kgen
summary=()
note() { summary+=("$*"); }
cold() { # a fresh cache directory
	KGEN_CACHE_DIR=$(mktemp -d)
	export KGEN_CACHE_DIR
}
# timed NAME COMMAND...: run, log stdout+stderr to $out/NAME.log, $rc and $secs
timed() {
	local name=$1 t0
	shift
	t0=$(date +%s%N)
	"$@" >"$out/$name.log" 2>&1
	rc=$?
	secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
}
counts() { grep -E '^[0-9]+ variants:|^time:|^budget|^stopped' "$out/$1.log" | tr '\n' ' '; }

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
echo "cores: $(nproc)" | tee -a "$out/gpu.txt"
"$kgen" version | tee -a "$out/gpu.txt"

xent=(tune --op xent --pass fused --vocab 128256 --rows 8192 --dtype bf16 --top 5)

# 1-3: one problem, cold, again, fresh
cold
timed 1_cold "$kgen" "${xent[@]}"
note "1 cold xent fused 8192x128256 bf16: exit $rc, ${secs} s: $(counts 1_cold)"
timed 2_again "$kgen" "${xent[@]}"
note "2 again: exit $rc, ${secs} s: $(counts 2_again)"
timed 3_fresh "$kgen" "${xent[@]}" --fresh
note "3 --fresh: exit $rc, ${secs} s: $(counts 3_fresh)"

# 4: a budget of 5 s on a cold problem, then the run that finishes it
cold
timed 4_budget "$kgen" tune --op xent --pass fused --vocab 151936 --rows 8192 --dtype bf16 --top 3 --budget 5
note "4 --budget 5 xent fused 8192x151936 bf16: exit $rc, ${secs} s: $(counts 4_budget)"
timed 4_after "$kgen" tune --op xent --pass fused --vocab 151936 --rows 8192 --dtype bf16 --top 3
note "4 after the budget: exit $rc, ${secs} s: $(counts 4_after)"

# 5: Ctrl-C after 5 s, then resume
cold
timed 5_int timeout --preserve-status -s INT 5 "$kgen" tune --op softmax --cols 131072 --rows 4096 --dtype bf16 --top 3
note "5 SIGINT after 5 s, softmax fwd 4096x131072 bf16: exit $rc (want 130), ${secs} s: $(counts 5_int)"
timed 5_resume "$kgen" tune --op softmax --cols 131072 --rows 4096 --dtype bf16 --top 3
note "5 resumed: exit $rc, ${secs} s: $(counts 5_resume)"

# 6: --json
cold
"$kgen" tune --op xent --pass fwd --vocab 50257 --rows 4096 --dtype bf16 --json >"$out/6_json.json" 2>"$out/6_json.log"
rc=$?
note "6 --json xent fwd 4096x50257 bf16: exit $rc: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["config"], d["time_us"], "us", d["pct_of_copy"], "% of copy", d["counts"], d["phases"])' "$out/6_json.json" 2>&1)"

# 7: a shard of the preset, capped at $PRESET_SECONDS (default 200; 0 skips
# it) (SIGINT: the problem at hand finishes)
if [ "${PRESET_SECONDS:-200}" != 0 ]; then
	cold
	timed 7_shard timeout --preserve-status -s INT "${PRESET_SECONDS:-200}" "$kgen" tune --preset llm --shard 0/8 --json
	mv "$out/7_shard.log" "$out/7_shard.all"
	grep '^{' "$out/7_shard.all" >"$out/7_shard.jsonl"
	grep -v '^{' "$out/7_shard.all" >"$out/7_shard.log"
	note "7 --preset llm --shard 0/8: exit $rc, ${secs} s, $(wc -l <"$out/7_shard.jsonl") of 21 problems: $(grep -E '^\[[0-9]+/21\]' "$out/7_shard.log" | tail -1)"
fi

cat "$out"/1_cold.log "$out"/7_shard.log 2>/dev/null
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
