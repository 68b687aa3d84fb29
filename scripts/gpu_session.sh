#!/usr/bin/env bash
# gpu_session.sh [BUILD]: a maintainer's GPU session: checks, then the
# measurements that bench/NOTES.md follows.
#   1. the GPU tests (ctest -L gpu: every variant checked against the fp64
#      reference at widths of each strategy, the tuner's paths, packs end
#      to end, the ops against the reference and against torch, the Python
#      package); KGEN_TEST_QUICK=1 for their short forms, SKIP_CHECK=1 to
#      leave them out;
#   2. timed tunes of the shapes bench/NOTES.md follows (TUNES="op pass
#      cols;..." replaces them; SKIP_TUNE=1 leaves them out);
#   3. bench/run.py over the grid for at most $BENCH_MINUTES (default 4; 0
#      leaves it out; BENCH_ARGS are passed on);
#   4. with NCU="op:pass:rows:cols ..." last, Nsight Compute's throughput,
#      memory and occupancy sections of kgen's kernel for each shape
#      (through python -m kgen.bench).
# Logs go to $OUT (or /tmp/kgen-session); a summary is printed last.
set -u
build=${1:-build}
out=${OUT:-/tmp/kgen-session}
mkdir -p "$out"
export KGEN_CACHE_DIR=${KGEN_CACHE_DIR:-/tmp/kgen-session-cache}
export KGEN_LIBRARY=$PWD/$build/libkgen.so PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
kgen=$build/kgen
summary=()
t0=$(date +%s)
stamp() { echo "$(( $(date +%s) - t0 ))s"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

if [ "${SKIP_CHECK:-0}" != 1 ]; then
	OUT=$out ctest --test-dir "$build" -L gpu -V >"$out/ctest_gpu.log" 2>&1
	summary+=("ctest -L gpu (quick=${KGEN_TEST_QUICK:-0}): $(grep -E 'tests passed|tests failed' "$out/ctest_gpu.log" | tail -1) at $(stamp)")
	summary+=("$(grep -E '^[0-9]+: (test_gpu_[a-z]+: [0-9]+ checks|FAIL )' "$out/ctest_gpu.log")")
fi
if [ "${SKIP_TUNE:-0}" != 1 ]; then
	IFS=';' read -r -a tunes <<<"${TUNES:-softmax fwd 131072;xent fused 128256;softmax fwd 8192;xent fused 8192}"
	for t in "${tunes[@]}"; do
		set -- $t
		"$kgen" tune --op "$1" --pass "$2" --cols "$3" --rows 4096 --dtype bf16 -q --top 6 >"$out/tune_$1_$2_$3.log" 2>&1
		summary+=("tune $t bf16 x4096: rc $?")
	done
	summary+=("tunes done at $(stamp)")
fi
if [ "${BENCH_MINUTES:-4}" != 0 ]; then
	mkdir -p bench/results
	[ -d "${BENCH_IN:-}" ] && cp "$BENCH_IN"/*.jsonl bench/results/ 2>/dev/null
	python3 bench/run.py --minutes "${BENCH_MINUTES:-4}" ${BENCH_ARGS:-} >"$out/bench.log" 2>&1
	cp bench/results/* "$out/" 2>/dev/null
	summary+=("bench: $(tail -2 "$out/bench.log" | tr '\n' ' ') at $(stamp)")
fi
for n in ${NCU:-}; do
	IFS=: read -r op pass rows cols <<<"$n"
	ncu -k "regex:kgen_(softmax|log_softmax|xent)_(fwd|bwd|fused)" -c 1 --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
		--section LaunchStats python3 -m kgen.bench --backend kgen --op "$op" --pass "$pass" --rows "$rows" \
		--cols "$cols" >"$out/ncu_${op}_${pass}_$cols.log" 2>&1
	summary+=("ncu $n: $(grep -E 'DRAM Throughput|Memory Throughput|Achieved Occupancy|Duration' "$out/ncu_${op}_${pass}_$cols.log" | tr -s ' ' | tr '\n' ';')")
done
for f in "$out"/tune_*.log; do [ -f "$f" ] && { echo "== $f"; sed -n '1,14p' "$f"; }; done
printf '%s\n' "${summary[@]}"
