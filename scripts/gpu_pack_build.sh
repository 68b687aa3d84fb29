#!/usr/bin/env bash
# gpu_pack_build.sh: tune shards of --preset llm on this GPU (SHARDS="0 1",
# each stopped after SHARD_SECONDS with the best so far kept, per-problem
# --budget BUDGET) and export the cache's best records as $OUT/$NAME.kgenpack;
# with MERGE="a.kgenpack ..." merge those and this one into
# $OUT/$MERGED.kgenpack (default: h200-sm90 on an H200, else h100-sm90) and
# verify it. EXTRA="op:pass:dtype:cols ..." tunes those single problems too. Logs in $OUT/$NAME.tgz; work files
# (the cache) in $WORK (default /tmp/kgen-pack-work).
# After a change to one template family: IMPORT=packs/<gpu>-sm90.kgenpack
# (the GPU's last pack, imported into the cache once; its stale records are
# skipped) and KEEP=1 (any non-empty value: kgen tune --keep-current) tune only the problems
# whose template changed and those the pack lacks. PRIOR=some.kgenpack
# (kgen tune --prior: the pack of the build before, or another model's of
# the same SM) times that pack's configuration of each problem right after
# the default and stops once 8 variants have a time (docs/tuning.md);
# PRIOR_ADD=KEY=VALUE (kgen tune --prior-add) times every variant that sets
# it as well (a strategy new since that pack).
set -u
out=${OUT:-/tmp/kgen-pack}
name=${NAME:-part}
w=${WORK:-/tmp/kgen-pack-work}
mkdir -p "$out" "$w"
export KGEN_CACHE_DIR=$w/cache KGEN_PACK_DIR=
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in *H200*) merged=${MERGED:-h200-sm90} ;; *) merged=${MERGED:-h100-sm90} ;; esac
if [ -n "${IMPORT:-}" ] && [ ! -f "$w/imported" ]; then
	build/kgen pack import "$IMPORT" 2>&1 | tee -a "$w/summary.txt"
	[ "${PIPESTATUS[0]}" = 0 ] && touch "$w/imported"
fi
for s in ${SHARDS:-0 1}; do
	t0=$(date +%s)
	timeout --preserve-status -s INT "${SHARD_SECONDS:-270}" build/kgen tune --preset llm --shard "$s/3" \
		--budget "${BUDGET:-5}" ${KEEP:+--keep-current} ${PRIOR:+--prior "$PRIOR"} ${PRIOR_ADD:+--prior-add "$PRIOR_ADD"} --json >"$w/shard$s.jsonl" 2>"$w/shard$s.log"
	echo "shard $s/3: exit $? after $(( $(date +%s) - t0 )) s: $(wc -l <"$w/shard$s.jsonl") problems" | tee -a "$w/summary.txt"
done
for p in ${EXTRA:-}; do # op:pass:dtype:cols
	IFS=: read -r op pass dtype cols <<<"$p"
	build/kgen tune --op "$op" --pass "$pass" --dtype "$dtype" --cols "$cols" --budget "${BUDGET:-5}" -q >>"$w/extra.log" 2>&1
	echo "extra $p: exit $?" | tee -a "$w/summary.txt"
done
build/kgen pack export --gpu "$gpu" --sm 90 -o "$out/$name.kgenpack" 2>&1 | tee -a "$w/summary.txt"
if [ -n "${MERGE:-}" ]; then
	build/kgen pack merge -o "$out/$merged.kgenpack" ${MERGE} "$out/$name.kgenpack" 2>&1 | tee -a "$w/summary.txt"
	build/kgen pack verify "$out/$merged.kgenpack" >"$w/verify.log" 2>&1
	echo "verify exit $?: $(tail -1 "$w/verify.log")" | tee -a "$w/summary.txt"
	build/kgen pack ls "$out/$merged.kgenpack" >"$w/ls.txt" 2>&1
	echo "records: $(grep -c . "$w/ls.txt") lines in pack ls" | tee -a "$w/summary.txt"
fi
tar czf "$out/$name.tgz" -C "$w" --exclude cache .
for s in ${SHARDS:-0 1}; do grep -E '^\[' "$w/shard$s.log" | tail -3; done
cat "$w/summary.txt"
