#!/usr/bin/env bash
# gpu_call7.sh: after the double-buffered persistent tma variants and the
# one-exchange (max, sum) reduction: every variant checked at widths that
# exercise each strategy, timed tunes of the long-row shapes, then the
# pack shards in $SHARDS (scripts/gpu_pack_build.sh). Logs to $OUT/c7.tgz.
set -u
save=${OUT:-/tmp/out}
w=/tmp/c7
mkdir -p "$w"
export KGEN_PACK_DIR= KGEN_CACHE_DIR=/tmp/c7-cache
kgen=build/kgen
t0=$(date +%s)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$w/gpu.txt"
check() { # op pass cols rows dtype [options...]
	local op=$1 pass=$2 cols=$3 rows=$4 dtype=$5
	shift 5
	echo "check $op $pass $dtype ${cols}x$rows $*: $("$kgen" tune --op "$op" --pass "$pass" --cols "$cols" --rows "$rows" \
		--dtype "$dtype" --check-only -q --top 1 "$@" 2>&1 | tee -a "$w/check.log" | grep -E 'variants:|error' | tail -1)" | tee -a "$w/summary.txt"
}
if [ "${SKIP_CHECK:-0}" != 1 ]; then
	check softmax fwd 8192 67 bf16
	check softmax fwd 131072 300 bf16
	check log_softmax fwd 32768 1000 f32
	check softmax bwd 65536 200 bf16
	check xent fused 128256 67 bf16 --smooth
	check xent fwd 32001 67 bf16 --smooth
	check softmax fwd 1001 1000 bf16
	check log_softmax bwd 50257 67 f16
	check softmax fwd 100 1000 f16
	echo "checks done at $(( $(date +%s) - t0 )) s" | tee -a "$w/summary.txt"
fi
IFS=';' read -r -a tunes <<<"${TUNES:-softmax fwd 131072;xent fused 128256;softmax bwd 65536;softmax fwd 32768}"
for t in "${tunes[@]}"; do
	[ -n "$t" ] || continue
	set -- $t
	"$kgen" tune --op "$1" --pass "$2" --cols "$3" --rows 4096 --dtype bf16 -q --top 8 >"$w/tune_$1_$2_$3.log" 2>&1
	echo "tune $t: rc $? at $(( $(date +%s) - t0 )) s" | tee -a "$w/summary.txt"
done
if [ -n "${SHARDS:-}" ]; then
	OUT=$save SHARDS="$SHARDS" SHARD_SECONDS=${SHARD_SECONDS:-200} NAME=${NAME:-part0} MERGE=${MERGE:-} \
		bash scripts/gpu_pack_build.sh > "$w/pack.txt" 2>&1
	tail -8 "$w/pack.txt"
fi
tar czf "$save/c7.tgz" -C /tmp c7
for f in "$w"/tune_*.log; do [ -f "$f" ] && { echo "== $f"; sed -n '1,14p' "$f"; }; done
cat "$w/summary.txt"
