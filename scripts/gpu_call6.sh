#!/usr/bin/env bash
# gpu_call6.sh: tunes of the shifted-row and persistent-grid shapes first,
# then the checks of every variant at odd widths and the GPU tests (quick);
# logs to $OUT/s.tgz.
set -u
save=${OUT:-/tmp/out}
export OUT=/tmp/s
mkdir -p "$OUT"
export KGEN_PACK_DIR=  # the shipped pack predates these templates
TUNES=${TUNES:-"softmax fwd 50257;xent fused 50257;log_softmax bwd 50257;softmax bwd 32768;softmax fwd 1024;xent fused 8192"} \
	SKIP_CHECK=1 SKIP_PYTEST=1 BENCH_MINUTES=0 timeout 200 bash scripts/gpu_session.sh build > "$OUT/part1.txt" 2>&1
GPU_TESTS=1 KGEN_TEST_QUICK=1 SKIP_TUNE=1 SKIP_PYTEST=1 BENCH_MINUTES=0 timeout ${PART2_S:-330} bash scripts/gpu_session.sh build > "$OUT/part2.txt" 2>&1
tar czf "$save/s.tgz" -C /tmp s
cat "$OUT/part1.txt" | grep -vE "^\s*$" | tail -70
tail -25 "$OUT/part2.txt"
grep -E "FAIL" "$OUT/ctest_gpu.log" | head -20
