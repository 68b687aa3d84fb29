#!/usr/bin/env bash
# One GPU run: the bf16 third of --preset llm (--shard 0/3: the dtype varies
# fastest in the list) tuned with a per-problem budget, exported as the H100
# pack and verified, then the bf16 ladder of bench/run.py run again through
# that pack (empty cache: the way an application gets its kernels).
# $OUT keeps few files: the pack, the results and one tarball of logs.
set -u
out=${OUT:-/tmp/kgen-call4}
w=/tmp/kgen-call4-work
mkdir -p "$out" "$w"
export KGEN_LIBRARY=$PWD/build/libkgen.so PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
pack=$out/h100-sm90.kgenpack
export KGEN_CACHE_DIR=$w/cache
t0=$(date +%s)
timeout --preserve-status -s INT "${PRESET_SECONDS:-300}" build/kgen tune --preset llm --shard 0/3 \
	--budget "${BUDGET:-4}" --json >"$w/preset.jsonl" 2>"$w/preset.log"
echo "preset exit $? after $(( $(date +%s) - t0 )) s: $(wc -l <"$w/preset.jsonl") problems" | tee "$w/summary.txt"
build/kgen pack export --gpu "$gpu" --sm 90 -o "$pack" 2>&1 | tee -a "$w/summary.txt"
build/kgen pack verify "$pack" >"$w/verify.log" 2>&1
echo "verify exit $?: $(tail -1 "$w/verify.log")" | tee -a "$w/summary.txt"
build/kgen pack ls "$pack" >"$w/ls.txt" 2>&1
KGEN_CACHE_DIR=$w/empty KGEN_PACK_PATH=$pack python3 bench/run.py --grid ladder --dtypes bf16 --replace \
	--minutes "${BENCH_MINUTES:-3}" >"$w/bench.log" 2>&1
echo "bench: $(tail -1 "$w/bench.log")" | tee -a "$w/summary.txt"
KGEN_CACHE_DIR=$w/empty KGEN_PACK_PATH=$pack python3 -m kgen.bench --backend kgen,kgen.torch,torch,compile \
	--op softmax --rows 4096 --cols 1024 --dtype float16 >"$w/kgen_bench.txt" 2>&1
cp bench/results/nvidia-h100-80gb-hbm3.jsonl "$out/"
tar czf "$out/logs.tgz" -C "$w" --exclude cache --exclude empty .
cat "$w/kgen_bench.txt"
grep -E '^\[' "$w/preset.log" | tail -5
tail -25 "$w/preset.log"
cat "$w/summary.txt"
