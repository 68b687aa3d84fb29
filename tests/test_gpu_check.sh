#!/usr/bin/env bash
# test_gpu_check.sh KGEN: on a GPU, every variant of each op checked against
# the fp64 reference (kgen tune --check-only) at widths that exercise each
# strategy: several rows per warp and registers (1024-8192), rows no 16-byte
# vector divides (1001, 32001, 50257, 131071: shifted rows), loops and
# clusters (32768-262144), the staged loads and persistent grids among the
# variants; cross-entropy with and without its options. No variant may
# mismatch. KGEN_TEST_QUICK=1 checks one problem per op and strategy.
# Skips (77) without a GPU. Logs in $OUT/test_gpu_check when OUT is set.
. "$(dirname "$0")/gpu_lib.sh" test_gpu_check "$1"

check softmax fwd 8192 67 bf16
check softmax fwd 1001 1000 bf16
check softmax bwd 4096 67 f32
check log_softmax fwd 262144 3 bf16
check log_softmax bwd 32768 3 f16
check xent fused 128256 67 bf16 --smooth
check xent bwd 50257 67 bf16 --zloss --target i32
if [ -z "$quick" ]; then
	check softmax fwd 2048 1000 f16
	check xent fwd 262144 3 f32 --weight --softcap
	check log_softmax bwd 50257 67 f16
	check xent fused 50257 1000 f32 --smooth --weight --softcap
	check xent fwd 32001 67 bf16 --smooth
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
fi
finish
