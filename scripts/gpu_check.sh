#!/usr/bin/env bash
# gpu_check.sh [BUILD]: a short GPU session: every variant of each op checked
# against the fp64 reference at widths that exercise each strategy (reg,
# loop, cluster), libkgen against torch, and two timed tunes. Logs go to
# $OUT (or /tmp/kgen-gpu-check); a summary is printed last.
set -u
build=${1:-build}
out=${OUT:-/tmp/kgen-gpu-check}
mkdir -p "$out"
export KGEN_CACHE_DIR=${KGEN_CACHE_DIR:-$(mktemp -d)}
kgen=$build/kgen
summary=()
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"

check() { # op pass cols rows dtype [options...]
	local op=$1 pass=$2 cols=$3 rows=$4 dtype=$5
	shift 5
	local line
	line=$("$kgen" tune --op "$op" --pass "$pass" --cols "$cols" --rows "$rows" --dtype "$dtype" --check-only -q \
		--top 1 "$@" 2>&1 | tee -a "$out/check.log" | grep -E 'variants:|error' | tail -1)
	summary+=("check $op $pass $dtype ${cols}x$rows $*: $line")
}

for dt in bf16 f32; do
	check softmax fwd 262144 3 $dt
	check softmax bwd 131071 1000 $dt
	check log_softmax fwd 32768 1000 $dt
	check log_softmax bwd 65536 3 $dt
	check xent fused 131071 1000 $dt
	check xent fwd 262144 3 $dt --weight --smooth --zloss --softcap --target i32
	check xent fused 50257 1000 $dt --weight --smooth --zloss --softcap
done
check xent fused 128256 1000 f16 --smooth

python3 tests/torch_parity.py "$PWD/$build/libkgen.so" >"$out/parity.log" 2>&1
summary+=("torch parity: $(tail -1 "$out/parity.log")")

"$kgen" tune --op xent --pass fused --vocab 128256 --rows 4096 --dtype bf16 -q --top 5 >"$out/tune_xent.log" 2>&1
"$kgen" tune --op softmax --cols 131072 --rows 4096 --dtype bf16 -q --top 5 >"$out/tune_softmax.log" 2>&1
cat "$out/tune_xent.log" "$out/tune_softmax.log"
printf '%s\n' "${summary[@]}"
