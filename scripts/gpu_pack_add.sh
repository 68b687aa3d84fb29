#!/usr/bin/env bash
# gpu_pack_add.sh: tune the problems of --preset llm whose width is in
# $COLS (e.g. "65536 131072 262144", widths added to the preset; with
# OWN_ROWS=1 only those timed at rows of their own, `rows=N` in --list) with
# --budget $BUDGET each, stop starting new ones after $SECONDS_MAX, export
# them as $OUT/$NAME.kgenpack, merge it with $BASE (the shipped pack) into
# $OUT/h100-sm90.kgenpack and verify that. Logs in $OUT/$NAME.tgz; work
# files (the cache) in $WORK (default /tmp/kgen-pack-add).
set -u
out=${OUT:-/tmp/kgen-pack}
name=${NAME:-added}
base=${BASE:-packs/h100-sm90.kgenpack}
w=${WORK:-/tmp/kgen-pack-add}
mkdir -p "$out" "$w"
export KGEN_CACHE_DIR=$w/cache KGEN_PACK_DIR= KGEN_PACK_PATH=
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
t0=$(date +%s)
build/kgen tune --preset llm --list | awk -v cols=" ${COLS:-65536 131072 262144} " -v own="${OWN_ROWS:-0}" \
	'index(cols, " " $5 " ") && (own != 1 || $6 ~ /^rows=/)' >"$w/list"
echo "$(wc -l <"$w/list") problems of widths ${COLS:-65536 131072 262144}" | tee -a "$w/summary.txt"
n=0
while read -r i op pass dtype cols rows; do
	if [ $(( $(date +%s) - t0 )) -ge "${SECONDS_MAX:-480}" ]; then
		echo "time limit: stopped before problem $i ($op $pass $dtype $cols)" | tee -a "$w/summary.txt"
		break
	fi
	rows=${rows#rows=}
	build/kgen tune --op "$op" --pass "$pass" --dtype "$dtype" --cols "$cols" --rows "${rows:-4096}" \
		--budget "${BUDGET:-8}" -q >>"$w/tune.log" 2>&1
	echo "$i $op $pass $dtype $cols: exit $? at $(( $(date +%s) - t0 )) s" >>"$w/summary.txt"
	n=$((n + 1))
done <"$w/list"
echo "tuned $n problems in $(( $(date +%s) - t0 )) s" | tee -a "$w/summary.txt"
build/kgen pack export --gpu "$gpu" --sm 90 -o "$out/$name.kgenpack" 2>&1 | tee -a "$w/summary.txt"
build/kgen pack merge -o "$out/h100-sm90.kgenpack" "$base" "$out/$name.kgenpack" 2>&1 | tee -a "$w/summary.txt"
build/kgen pack verify "$out/h100-sm90.kgenpack" >"$w/verify.log" 2>&1
echo "verify exit $?: $(tail -1 "$w/verify.log")" | tee -a "$w/summary.txt"
build/kgen pack ls "$out/h100-sm90.kgenpack" >"$w/ls.txt" 2>&1
tar czf "$out/$name.tgz" -C "$w" --exclude cache .
grep -E 'best|budget' "$w/tune.log" | tail -4
