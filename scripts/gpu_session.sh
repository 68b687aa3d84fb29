#!/usr/bin/env bash
# gpu_session.sh [BUILD]: one GPU session's checks and measurements.
#   1. every variant (the staged cpasync / tma loads, shifted rows and
#      persistent grids included) checked against the fp64 reference at
#      widths that exercise each strategy;
#   2. timed tunes of the shapes bench/NOTES.md follows;
#   3. the Python package's tests (pytest, against torch);
#   4. bench/run.py over the grid for at most $BENCH_MINUTES (default 4);
#   5. with GPU_TESTS=1 first, the GPU tests (ctest -L gpu; KGEN_TEST_QUICK=1
#      for the short variant); with NCU="op:pass:rows:cols ..." last, Nsight
#      Compute's throughput, memory and occupancy sections of kgen's kernel
#      for each shape (through python -m kgen.bench).
# TUNES="op pass cols;..." replaces the default tunes.
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

check() { # op pass cols rows dtype [options...]
	local op=$1 pass=$2 cols=$3 rows=$4 dtype=$5 line
	shift 5
	line=$("$kgen" tune --op "$op" --pass "$pass" --cols "$cols" --rows "$rows" --dtype "$dtype" --check-only -q \
		--top 1 "$@" 2>&1 | tee -a "$out/check.log" | grep -E 'variants:|error' | tail -1)
	summary+=("check $op $pass $dtype ${cols}x$rows $*: $line")
}
if [ "${GPU_TESTS:-0}" = 1 ]; then
	ctest --test-dir "$build" -L gpu --output-on-failure >"$out/ctest_gpu.log" 2>&1
	summary+=("ctest -L gpu (quick=${KGEN_TEST_QUICK:-0}): $(grep -E 'tests passed|tests failed' "$out/ctest_gpu.log" | tail -1); $(grep -E 'checks,' "$out/ctest_gpu.log" | tail -1) at $(stamp)")
fi
if [ "${SKIP_CHECK:-0}" != 1 ]; then
	check softmax fwd 8192 67 bf16
	check softmax fwd 2048 1000 f16
	check softmax bwd 4096 67 f32
	check log_softmax bwd 32768 3 f16
	check log_softmax fwd 262144 3 bf16
	check xent fused 128256 67 bf16 --smooth
	check xent fwd 262144 3 f32 --weight --softcap
	check xent bwd 50257 67 bf16 --zloss --target i32
	check softmax fwd 1001 1000 bf16
	check log_softmax bwd 50257 67 f16
	check xent fused 50257 1000 f32 --smooth --weight --softcap
	check xent fwd 32001 67 bf16 --smooth
	summary+=("checks done at $(stamp)")
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
if [ "${SKIP_PYTEST:-0}" != 1 ]; then
	python3 -m pytest -q -p no:cacheprovider python/tests >"$out/pytest.log" 2>&1
	summary+=("pytest: $(tail -1 "$out/pytest.log") at $(stamp)")
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
grep -E "FAIL|Error|error" "$out/pytest.log" 2>/dev/null | head -20
printf '%s\n' "${summary[@]}"
