#!/usr/bin/env bash
# One GPU run: the f16 and f32 thirds of --preset llm (shards 1/3 and 2/3),
# exported and merged with the bf16 pack into packs/h100-sm90.kgenpack and
# verified; the Python tests; the anchor shapes of bench/run.py again
# through the merged pack. $OUT keeps few files.
set -u
out=${OUT:-/tmp/kgen-call5}
w=/tmp/kgen-call5-work
mkdir -p "$out" "$w"
export KGEN_LIBRARY=$PWD/build/libkgen.so PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
export KGEN_CACHE_DIR=$w/cache
t0=$(date +%s)
for s in 1 2; do
	timeout --preserve-status -s INT "${PRESET_SECONDS:-170}" build/kgen tune --preset llm --shard $s/3 \
		--budget "${BUDGET:-4}" --json >"$w/preset$s.jsonl" 2>"$w/preset$s.log"
	echo "preset shard $s/3 exit $? after $(( $(date +%s) - t0 )) s: $(wc -l <"$w/preset$s.jsonl") problems" | tee -a "$w/summary.txt"
done
build/kgen pack export --gpu "$gpu" --sm 90 -o "$w/f16f32.kgenpack" 2>&1 | tee -a "$w/summary.txt"
build/kgen pack merge packs/h100-sm90.kgenpack "$w/f16f32.kgenpack" -o "$out/h100-sm90.kgenpack" 2>&1 | tee -a "$w/summary.txt"
build/kgen pack verify "$out/h100-sm90.kgenpack" >"$w/verify.log" 2>&1
echo "verify exit $?: $(tail -1 "$w/verify.log")" | tee -a "$w/summary.txt"
build/kgen pack ls "$out/h100-sm90.kgenpack" >"$w/ls.txt" 2>&1
KGEN_CACHE_DIR=$w/pytest-cache python3 -m pytest -q -p no:cacheprovider python/tests >"$w/pytest.log" 2>&1
echo "pytest: $(tail -1 "$w/pytest.log")" | tee -a "$w/summary.txt"
KGEN_CACHE_DIR=$w/empty KGEN_PACK_PATH=$out/h100-sm90.kgenpack python3 bench/run.py --grid anchors --replace \
	--minutes "${BENCH_MINUTES:-2.5}" >"$w/bench.log" 2>&1
echo "bench: $(grep -c '^\[' "$w/bench.log") cases; $(tail -1 "$w/bench.log")" | tee -a "$w/summary.txt"
cp bench/results/nvidia-h100-80gb-hbm3.jsonl "$out/"
tar czf "$out/logs.tgz" -C "$w" --exclude cache --exclude empty --exclude pytest-cache .
tail -4 "$w/preset1.log" "$w/preset2.log"
grep -E "FAIL|Error" "$w/pytest.log" | head
cat "$w/summary.txt"
