#!/usr/bin/env bash
# One GPU run: the tuner's paths, packs end to end, the examples built
# against the installed tree, the LM-head step, one kgen.bench table, and
# the anchor shapes of bench/run.py. Logs under $OUT; summaries last.
set -u
out=${OUT:-/tmp/kgen-call3}
mkdir -p "$out"
export KGEN_LIBRARY=$PWD/build/libkgen.so PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
PRESET_SECONDS=0 OUT=$out/tune bash scripts/gpu_tune_check.sh build >"$out/tune_check.txt" 2>&1
OUT=$out/pack bash scripts/gpu_pack_check.sh build >"$out/pack_check.txt" 2>&1
{
	cmake --install build --prefix /tmp/kgen-prefix &&
		cmake -S examples -B /tmp/kgen-examples -DCMAKE_PREFIX_PATH=/tmp/kgen-prefix &&
		cmake --build /tmp/kgen-examples
} >"$out/install.log" 2>&1
echo "installed examples: build exit $?" >"$out/examples.txt"
for e in softmax_example xent_example; do
	KGEN_CACHE_DIR=/tmp/kgen-examples-cache /tmp/kgen-examples/$e >>"$out/examples.txt" 2>&1
	echo "$e exit $?" >>"$out/examples.txt"
done
python3 python/examples/lm_head.py >"$out/lm_head.txt" 2>&1
python3 python/examples/lm_head.py --dtype f32 --vocab 50257 >>"$out/lm_head.txt" 2>&1
python3 -m kgen.bench --backend kgen,kgen.torch,torch,compile --op softmax --rows 4096 --cols 1024 --dtype float16 \
	>"$out/kgen_bench.txt" 2>&1
python3 -m kgen.bench --backend kgen,kgen.torch,torch,compile --op cross_entropy --pass fwdbwd --rows 8192 --cols 32000 \
	--dtype bfloat16 >>"$out/kgen_bench.txt" 2>&1
SKIP_CHECK=1 SKIP_TUNE=1 SKIP_PYTEST=1 BENCH_MINUTES=${BENCH_MINUTES:-3.5} BENCH_ARGS="--grid anchors" \
	bash scripts/gpu_session.sh build >"$out/session.txt" 2>&1
cat "$out/examples.txt" "$out/lm_head.txt" "$out/kgen_bench.txt"
tail -30 "$out/pack_check.txt"
tail -12 "$out/tune_check.txt"
tail -3 "$out/session.txt"
