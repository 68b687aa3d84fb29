#!/usr/bin/env bash
# local-array.sh [-p P] [-w WORK] N [I ...]: the Slurm job array of
# tools/slurm/ run on this machine: the shards I ... of N (default all of
# them) as local processes, at most P at a time, each one running
# kgen-preset.sbatch with the variables Slurm would set; then
# kgen-preset-merge.sbatch. The merged pack is WORK/preset.kgenpack (WORK
# defaults to ./kgen-preset-work).
#
# With several GPUs (nvidia-smi -L), process slot s runs on GPU s % GPUs
# (CUDA_VISIBLE_DEVICES); P defaults to the number of GPUs, else 1: shards
# that share a GPU would disturb each other's timings. Without a GPU, each
# shard is compiled only (kgen exits 3) and nothing is merged.
# Environment: as for tools/kgen-preset.sh (KGEN, KGEN_TUNE_ARGS, ...).
#
# Prints one line per shard and the merge's summary; the exit status is 0
# when every shard was tuned and the merge passed, else 1.
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$PWD/kgen-preset-work parallel=
usage() {
	echo "usage: tools/local-array.sh [-p PARALLEL] [-w WORK] N [I ...]" >&2
	exit 2
}
while getopts p:w: opt; do
	case $opt in
	p) parallel=$OPTARG ;;
	w) work=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] && [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
n=$1
shift
tasks=${*:-$(seq 0 $((n - 1)))}
for i in $tasks; do
	[[ $i =~ ^[0-9]+$ ]] && [ "$i" -lt "$n" ] || { echo "local-array: error: no shard '$i' of $n" >&2; exit 2; }
done
[ -z "$parallel" ] || [[ $parallel =~ ^[1-9][0-9]*$ ]] || usage
gpus=()
if command -v nvidia-smi >/dev/null; then
	mapfile -t gpus < <(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null)
fi
parallel=${parallel:-$(( ${#gpus[@]} > 0 ? ${#gpus[@]} : 1 ))}
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd)
rm -f "$work"/shard-* "$work/shards" "$work/preset.kgenpack"
export KGEN_PRESET_WORK=$work KGEN_TOOLS=$here SLURM_SUBMIT_DIR=$PWD SLURM_ARRAY_JOB_ID=local
# An array's shards each get a cache of their own; a fresh one here.
caches=$(mktemp -d)
trap 'rm -rf "$caches"' EXIT

# shard I SLOT: one array task, as Slurm would start it.
shard() {
	local i=$1 slot=$2 t0=$SECONDS rc
	(
		[ ${#gpus[@]} = 0 ] || export CUDA_VISIBLE_DEVICES=${gpus[$((slot % ${#gpus[@]}))]}
		SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$n SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=$((n - 1)) \
			SLURM_JOB_ID=local-$i KGEN_PRESET_CACHE=$caches/$i \
			bash "$here/slurm/kgen-preset.sbatch" >"$work/slurm-$i.out" 2>&1
	)
	rc=$?
	echo "shard $i/$n: exit $rc after $((SECONDS - t0)) s: $(grep -c . "$work/shard-$i.jsonl" 2>/dev/null || echo 0)" \
		"problems; $(grep -E '^[0-9]+ problems:' "$work/shard-$i.log" 2>/dev/null | tail -1)"
	return $rc
}

# P workers: worker s runs the shards at positions s, s + P, ... of the
# list, one after another, on GPU s % GPUs.
worker() {
	local s=$1 k=0 i
	for i in $tasks; do
		if [ $((k % parallel)) = "$s" ]; then
			shard "$i" "$s" || echo "$i" >>"$caches/failed"
		fi
		k=$((k + 1))
	done
}
t0=$SECONDS
for s in $(seq 0 $((parallel - 1))); do
	worker "$s" &
done
wait
fails=$( (cat "$caches/failed" 2>/dev/null || true) | wc -l)
echo "$(wc -w <<<"$tasks") shards in $((SECONDS - t0)) s, $fails not tuned in full"
KGEN_PRESET_TASKS=$tasks bash "$here/slurm/kgen-preset-merge.sbatch" >"$work/slurm-merge.out" 2>&1
rc=$?
cat "$work/slurm-merge.out"
echo "merge: exit $rc; $((SECONDS - t0)) s in all"
[ "$fails" = 0 ] && [ $rc = 0 ]
