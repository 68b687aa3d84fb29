#!/usr/bin/env bash
# test_cli.sh KGEN: usage errors give one clear line and exit 2; space and
# gen print what they should; tune without a GPU compiles into the cache
# and exits 3 saying that timing needs a GPU.
set -u
kgen=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KGEN_CACHE_DIR=$tmp/cache
fails=0

# expect STATUS PATTERN ARGS...: exit status and a line of stderr+stdout.
expect() {
	local want=$1 pattern=$2
	shift 2
	out=$("$kgen" "$@" 2>&1)
	local got=$?
	if [ "$got" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
		echo "FAIL: kgen $*: exit $got (want $want), output:"
		echo "$out" | head -20
		fails=$((fails + 1))
	fi
}

expect 2 '^usage: kgen <command>'
expect 0 'tune +compile, check and time' --help
expect 2 "kgen: error: unknown command 'frob'" frob
expect 2 "kgen: error: unknown op 'xsoftmax'" tune --op xsoftmax --cols 8 --sm 90
expect 2 "kgen: error: missing --op" tune --cols 8 --sm 90
expect 2 "kgen: error: unknown dtype 'f8'" tune --op softmax --cols 8 --dtype f8 --sm 90
expect 2 "kgen: error: --cols must be >= 1 \\(got 0\\)" tune --op softmax --cols 0 --sm 90
expect 2 "kgen: error: --cols needs an integer, not 'abc'" space --op softmax --cols abc --sm 90
expect 2 "kgen: error: unknown option '--bogus'" tune --op softmax --cols 8 --bogus
expect 2 "kgen: error: option '--config' does not apply to 'tune'" tune --op softmax --cols 8 --config vec=1
expect 2 "kgen: error: unknown config key 'bogus' for softmax" gen --op softmax --cols 8192 --sm 90 --config bogus=1
expect 2 "kgen: error: invalid config .*vec must divide cols" gen --op softmax --cols 1001 --dtype bf16 --sm 90 --config vec=8
expect 2 "kgen: error: unknown pass 'fused' for op 'softmax' \\(fwd, bwd\\)" tune --op softmax --pass fused --cols 8 --sm 90
expect 2 "kgen: error: --target, --weight, --smooth, --zloss and --softcap apply to xent only" space --op softmax --cols 8 --sm 90 --weight
expect 2 "kgen: error: unknown target type 'i16'" space --op xent --vocab 8 --sm 90 --target i16
expect 0 '^#define HAS_WEIGHT 1$' gen --op cross_entropy --vocab 1000 --sm 90 --weight --target i32
expect 0 'kgen_xent_prep' gen --op xent --pass fwd --vocab 1000 --sm 90 --geometry
expect 0 'kgen_log_softmax_bwd' gen --op log_softmax --pass bwd --cols 3000 --dtype f16 --sm 80
expect 0 '--softcap' tune --help
expect 0 '--rows N' tune --help
expect 0 '--config K=V' gen --help

# space: one valid config per line; gen: the default and an override.
n=$("$kgen" space --op softmax --cols 8192 --dtype bf16 --sm 90 | grep -c 'strategy=')
[ "$n" -ge 10 ] || { echo "FAIL: space listed $n variants"; fails=$((fails + 1)); }
expect 0 '^#define COLS 8192$' gen --op softmax --cols 8192 --dtype bf16 --sm 90
expect 0 '^#define VEC 4$' gen --op softmax --cols 8192 --dtype bf16 --sm 90 --config vec=4
expect 0 'block 256, dynamic smem 0' gen --op softmax --cols 8192 --sm 90 --geometry

# tune without a GPU: compiles every variant into the cache, exits 3.
if ! "$kgen" version | grep -q '^CUDA driver [0-9]'; then
	expect 3 "timing needs a GPU of sm_90.*$n variants are compiled into '$tmp/cache'" \
		tune --op softmax --cols 8192 --dtype bf16 --sm 90 --jobs 2
	[ -f "$tmp/cache/data.mdb" ] || { echo "FAIL: no cache written"; fails=$((fails + 1)); }
	expect 1 "no GPU to take the SM from" tune --op softmax --cols 8192
	# the user's own example: cross-entropy (fused by default) over a vocabulary of 8192
	nx=$("$kgen" space --op xent --pass fused --vocab 8192 --sm 90 | grep -c 'strategy=')
	expect 3 "timing needs a GPU of sm_90.*$nx variants are compiled" tune --op xent --vocab 8192 --sm 90 --jobs 2
else
	echo "note: a GPU driver is present; the no-GPU checks of tune were skipped"
fi

if [ "$fails" -ne 0 ]; then
	echo "test_cli: $fails failures"
	exit 1
fi
echo "test_cli: ok"
