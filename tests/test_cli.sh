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
expect 2 "kgen: error: invalid config .*vec must divide cols \\(or take shift=1\\)" gen --op softmax --cols 1001 --dtype bf16 --sm 90 --config vec=8,shift=0
expect 0 "cols=1001, sm_90, .*shift=1,.*vec=8 \\*/" gen --op softmax --cols 1001 --dtype bf16 --sm 90
expect 2 "kgen: error: invalid config .*shift=1 takes direct or cpasync loads" gen --op softmax --cols 8191 --dtype bf16 --sm 90 --config load=tma
expect 0 "^#define PERSIST 4 " gen --op softmax --cols 8192 --sm 90 --config persist=4,strategy=loop,threads=512,tpr=512
expect 2 "kgen: error: invalid config .*persist with strategy cluster takes load=tma" gen --op softmax --cols 65536 --sm 90 --config strategy=cluster,cluster=4,threads=512,tpr=512,persist=4
expect 0 "^#define STAGE_BYTES 65536 " gen --op softmax --cols 131072 --sm 90 --config strategy=cluster,cluster=4,threads=512,tpr=512,load=tma,persist=1
expect 2 "kgen: error: unknown pass 'fused' for op 'softmax' \\(fwd, bwd\\)" tune --op softmax --pass fused --cols 8 --sm 90
expect 2 "kgen: error: --target, --weight, --smooth, --zloss and --softcap apply to xent only" space --op softmax --cols 8 --sm 90 --weight
expect 2 "kgen: error: unknown target type 'i16'" space --op xent --vocab 8 --sm 90 --target i16
expect 0 '^#define HAS_WEIGHT 1$' gen --op cross_entropy --vocab 1000 --sm 90 --weight --target i32
expect 0 'kgen_xent_prep' gen --op xent --pass fwd --vocab 1000 --sm 90 --geometry
expect 0 'kgen_log_softmax_bwd' gen --op log_softmax --pass bwd --cols 3000 --dtype f16 --sm 80
expect 0 '--softcap' tune --help
expect 0 '--rows N' tune --help
expect 0 '--config K=V' gen --help
expect 0 '--budget SECONDS' tune --help
expect 0 '--shard I/N' tune --help
expect 0 '--devices D,...' tune --help
expect 0 '--json' space --help

# tune's lists, budget, devices: usage errors.
expect 2 "kgen: error: unknown preset 'gpt' \\(llm\\)" tune --preset gpt --list
expect 2 "kgen: error: --preset takes no --op, --pass, --dtype, --cols or cross-entropy options" tune --preset llm --op xent
expect 2 "kgen: error: --preset takes no --op" tune --preset llm --dtype f16 --list
expect 2 "kgen: error: --preset takes no --op" tune --preset llm --smooth --list
expect 2 "kgen: error: --shard applies to --preset only" tune --op softmax --cols 8 --shard 0/2
expect 2 "kgen: error: --list applies to --preset only" tune --op softmax --cols 8 --list
expect 2 "kgen: error: --shard needs I/N with 0 <= I < N, not '8/8'" tune --preset llm --shard 8/8 --list
expect 2 "kgen: error: --shard needs I/N with 0 <= I < N, not '1/0'" tune --preset llm --shard 1/0 --list
expect 2 "kgen: error: --shard needs I/N with 0 <= I < N, not '-1/4'" tune --preset llm --shard -1/4 --list
expect 2 "kgen: error: --shard needs I/N with 0 <= I < N, not '1'" tune --preset llm --shard 1 --list
expect 2 "kgen: error: --budget must be > 0 \\(got 0\\)" tune --op softmax --cols 8 --budget 0
expect 2 "kgen: error: --budget needs a number of seconds, not '5s'" tune --op softmax --cols 8 --budget 5s
expect 2 "kgen: error: --devices needs CUDA device ordinals like 0,1,2, not '0,,1'" tune --op softmax --cols 8 --devices 0,,1
expect 2 "kgen: error: --devices needs CUDA device ordinals like 0,1,2, not 'gpu0'" tune --op softmax --cols 8 --devices gpu0
expect 2 "kgen: error: --devices names device 1 twice" tune --op softmax --cols 8 --devices 1,0,1
expect 2 "kgen: error: give --device or --devices, not both" tune --op softmax --cols 8 --device 0 --devices 0,1
expect 2 "kgen: error: give --check-only or --keep-current, not both" tune --op softmax --cols 8 --check-only --keep-current
expect 2 "kgen: error: option '--fresh' does not apply to 'space'" space --op softmax --cols 8 --sm 90 --fresh
expect 2 "kgen: error: option '--preset' does not apply to 'gen'" gen --op softmax --cols 8 --sm 90 --preset llm

# --preset llm --list: the 639 problems; shards split them by index.
"$kgen" tune --preset llm --list >"$tmp/all" || { echo "FAIL: --list"; fails=$((fails + 1)); }
[ "$(wc -l <"$tmp/all")" = 639 ] || { echo "FAIL: llm lists $(wc -l <"$tmp/all") problems, not 639"; fails=$((fails + 1)); }
for want in "0 xent fused bf16 32000" "62 xent bwd f32 262144" "63 softmax fwd bf16 1024" "230 log_softmax bwd f32 262144" \
	"231 softmax fwd bf16 1024 rows=65536" "254 log_softmax bwd f32 2048 rows=65536" \
	"255 softmax fwd bf16 32000 rows=64" "257 softmax fwd f32 32000 rows=64" "263 softmax fwd f32 32000 rows=1" \
	"318 log_softmax fwd bf16 32000 rows=64" "443 xent fwd f32 262144 rows=1" "444 xent fused bf16 16384" \
	"461 xent bwd f32 65536" "462 xent fused bf16 32000 rows=8" "503 xent fused f32 262144 rows=1" \
	"504 xent fused bf16 1024" "548 xent bwd f32 32768" "549 xent fused bf16 1024 rows=65536" \
	"566 xent bwd f32 2048 rows=65536" "567 softmax fwd bf16 1024 rows=1024" "614 log_softmax bwd f32 8192 rows=1024" \
	"615 softmax fwd bf16 1048576 rows=8" "638 xent fused f32 1048576 rows=1"; do
	grep -qx "$want" "$tmp/all" || { echo "FAIL: --list lacks '$want'"; fails=$((fails + 1)); }
done
for v in 32000 50257 128256 131072 151936 256000 262144; do
	for p in fwd bwd fused; do
		[ "$(grep -c " xent $p .* $v\$" "$tmp/all")" = 3 ] || { echo "FAIL: xent $p $v not in 3 dtypes"; fails=$((fails + 1)); }
	done
done
for v in 1024 2048 4096 8192 16384 32768 65536; do # cross-entropy between and below the vocabularies
	[ "$(grep -cE " xent (fwd|bwd|fused) .* $v\$" "$tmp/all")" = 9 ] || { echo "FAIL: xent at $v is not 9 problems"; fails=$((fails + 1)); }
done
for c in 1024 2048 4096 8192 16384 32768 65536 32000 50257 128256 131072 151936 256000 262144; do
	[ "$(grep -cE " (softmax|log_softmax) (fwd|bwd) .* $c\$" "$tmp/all")" = 12 ] ||
		{ echo "FAIL: softmax ops at $c are not 12 problems"; fails=$((fails + 1)); }
done
: >"$tmp/union"
for i in 0 1 2 3 4 5 6; do
	"$kgen" tune --preset llm --list --shard $i/7 >"$tmp/shard$i"
	awk -v i=$i '$1 % 7 != i { bad = 1 } END { exit bad }' "$tmp/shard$i" ||
		{ echo "FAIL: shard $i/7 lists a problem of another shard"; fails=$((fails + 1)); }
	cat "$tmp/shard$i" >>"$tmp/union"
done
[ "$(grep -c 'rows=65536$' "$tmp/all")" = 42 ] || { echo "FAIL: llm lists $(grep -c 'rows=65536$' "$tmp/all") tall problems, not 42"; fails=$((fails + 1)); }
[ "$(grep -cE " (softmax|log_softmax) (fwd|bwd) .* rows=1024\$" "$tmp/all")" = 48 ] || # a batch: 4 widths, 4 ops, 3 dtypes
	{ echo "FAIL: llm lists $(grep -c 'rows=1024$' "$tmp/all") problems at 1024 rows, not 48"; fails=$((fails + 1)); }
for r in 1 8; do # fused cross-entropy of a few rows: the 7 vocabularies and 1048576 in 3 dtypes
	[ "$(grep -cE " xent fused .* rows=$r\$" "$tmp/all")" = 24 ] ||
		{ echo "FAIL: llm lists $(grep -cE " xent fused .* rows=$r\$" "$tmp/all") fused problems at $r rows, not 24"; fails=$((fails + 1)); }
done
for r in 1 8 64; do # decode: the forward ops over the 7 vocabularies in 3 dtypes (and 1048576 at 1 and 8 rows)
	want=63
	[ $r = 64 ] || want=72
	[ "$(grep -cE " (softmax|log_softmax|xent) fwd .* rows=$r\$" "$tmp/all")" = $want ] ||
		{ echo "FAIL: llm lists $(grep -cE " (softmax|log_softmax|xent) fwd .* rows=$r\$" "$tmp/all") forward problems at $r rows, not $want"; fails=$((fails + 1)); }
done
[ "$(wc -l <"$tmp/shard0")" = 92 ] && [ "$(wc -l <"$tmp/shard6")" = 91 ] ||
	{ echo "FAIL: shards 0/7 and 6/7 list $(wc -l <"$tmp/shard0") and $(wc -l <"$tmp/shard6"), not 92 and 91"; fails=$((fails + 1)); }
sort -n "$tmp/union" | cmp -s - "$tmp/all" || { echo "FAIL: the shards of 7 do not make up the list"; fails=$((fails + 1)); }
"$kgen" tune --preset llm --list --json --shard 3/5 |
	python3 -c 'import json, sys; o = [json.loads(l) for l in sys.stdin]; assert len(o) == 128 and all(x["index"] % 5 == 3 for x in o) and [x["rows"] for x in o if x["index"] == 233] == [65536] and o[0]["rows"] == 4096, o' ||
	{ echo "FAIL: --list --json"; fails=$((fails + 1)); }

# space --json: one object, the default among the configs.
"$kgen" space --op xent --vocab 50257 --dtype f16 --sm 90 --json >"$tmp/space.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["variants"] == len(d["configs"]) > 0 and d["default"] in d["configs"] and d["cols"] == 50257 and d["dtype"] == "f16", d' "$tmp/space.json" ||
	{ echo "FAIL: space --json: $(head -c 300 "$tmp/space.json")"; fails=$((fails + 1)); }

# space: one valid config per line; gen: the default and an override.
n=$("$kgen" space --op softmax --cols 8192 --dtype bf16 --sm 90 | grep -c 'strategy=')
[ "$n" -ge 10 ] || { echo "FAIL: space listed $n variants"; fails=$((fails + 1)); }
expect 0 '^#define COLS 8192$' gen --op softmax --cols 8192 --dtype bf16 --sm 90
expect 0 '^#define VEC 4$' gen --op softmax --cols 8192 --dtype bf16 --sm 90 --config vec=4
expect 0 'block 256, dynamic smem 0' gen --op softmax --cols 8192 --sm 90 --geometry
# A narrower vec given alone on a long row (whose default stages 16-byte
# vectors through shared memory) loads directly instead of failing.
expect 0 '^#define VEC 1$' gen --op softmax --cols 100000 --dtype bf16 --sm 90 --config vec=1
expect 0 'load=cpasync' gen --op softmax --cols 100000 --dtype bf16 --sm 90
expect 2 "kgen: error: invalid config .*load cpasync moves 16-byte vectors" gen --op softmax --cols 100000 --dtype bf16 --sm 90 --config vec=1,load=cpasync

# tune without a GPU: compiles every variant into the cache, exits 3.
if ! "$kgen" version | grep -q '^CUDA driver [0-9]'; then
	expect 3 "timing needs a GPU of sm_90.*$n variants are compiled into '$tmp/cache'" \
		tune --op softmax --cols 8192 --dtype bf16 --sm 90 --jobs 2
	[ -f "$tmp/cache/data.mdb" ] || { echo "FAIL: no cache written"; fails=$((fails + 1)); }
	expect 1 "no GPU to take the SM from" tune --op softmax --cols 8192
	expect 1 "no GPU to take the SM from .*: give --sm" tune --preset llm --shard 0/165

	# an SM that NVRTC cannot target: refused up front, in NVRTC's own words
	for sm in 91 200 55; do
		expect 2 "^kgen: error: --sm $sm: NVRTC [0-9.]+ cannot target sm_$sm: .*invalid value.* \(it targets sm_.*sm_90" \
			tune --op softmax --cols 1024 --sm $sm
	done
	# a cache that cannot take the cubins (a file-size limit stands for a
	# full disk): an error and exit 1, not "compiled into the cache". 16 KiB
	# hold the cache's first pages but not one cubin (about 11 KiB here) with
	# them, so that the write fails even where a loaded machine compiles a
	# single variant within the budget (with 100 KiB, one cubin fit there)
	out=$(trap '' XFSZ; ulimit -f 16; "$kgen" tune --op softmax --cols 1024 --sm 90 --budget 1 --cache "$tmp/full" 2>&1)
	rc=$?
	if [ "$rc" != 1 ] || ! grep -qE "^kgen: error: [0-9]+ compiled variants? could not be stored in the cache: cannot write cubin of cache '$tmp/full'" <<<"$out"; then
		echo "FAIL: a failed cache write: exit $rc (want 1), output:"
		echo "$out" | head -5
		fails=$((fails + 1))
	fi

	# compiled cubins are kept by variant hash: a second run compiles nothing
	"$kgen" tune --op softmax --cols 1024 --sm 90 --jobs 2 >"$tmp/first" 2>&1
	r1=$?
	"$kgen" tune --op softmax --cols 1024 --sm 90 --jobs 2 >"$tmp/second" 2>&1
	r2=$?
	n1=$("$kgen" space --op softmax --cols 1024 --sm 90 | wc -l)
	c1=$(sed -nE 's/.*compiled ([0-9]+), reused ([0-9]+) from the cache.*/\1 \2/p' "$tmp/first")
	c2=$(sed -nE 's/.*compiled ([0-9]+), reused ([0-9]+) from the cache.*/\1 \2/p' "$tmp/second")
	if [ "$r1 $r2" != "3 3" ] || [ "$c1" != "$n1 0" ] || [ "$c2" != "0 $n1" ]; then
		echo "FAIL: reuse: exits $r1 $r2 (want 3 3), compiled/reused '$c1' then '$c2' (want '$n1 0', '0 $n1')"
		fails=$((fails + 1))
	fi
	# --json without a GPU: the object says untimed and counts the cubins
	"$kgen" tune --op softmax --cols 1024 --sm 90 --json -q >"$tmp/tune.json" 2>"$tmp/tune.err"
	r=$?
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["status"] == "untimed" and d["time_us"] is None and d["config"] is None and d["counts"]["reused"] == int(sys.argv[2]) and d["counts"]["compiled"] == 0 and d["sm"] == 90 and d["cols"] == 1024 and "timing needs a GPU" in d["error"], d' "$tmp/tune.json" "$n1" && [ $r = 3 ] ||
		{ echo "FAIL: tune --json without a GPU: exit $r: $(cat "$tmp/tune.json")"; fails=$((fails + 1)); }
	grep -q "^$n1 variants: compiled 0, reused $n1 from the cache" "$tmp/tune.err" ||
		{ echo "FAIL: tune --json: the counts did not go to stderr"; fails=$((fails + 1)); }
	# a budget spent while compiling: the first variant is compiled, the rest wait
	nb=$("$kgen" space --op xent --vocab 8192 --sm 90 | wc -l)
	expect 3 "1 of $nb variants are compiled" tune --op xent --vocab 8192 --sm 90 --jobs 1 --budget 0.001 --cache-dir "$tmp/c2"
	# a list and --devices without a GPU: every problem compiled, lines name the device, exit 3
	expect 3 "^\[gpu 1\] \[1/1\] softmax fwd bf16 cols 1024: compiled 0, reused $n1; not timed \(no GPU\)" \
		tune --preset llm --shard 63/600 --sm 90 --devices 1
	expect 3 "1 problems compiled but not timed" tune --preset llm --shard 63/600 --sm 90 --devices 0,1
	# a tall problem of the preset is tuned at its own rows, whatever --rows says
	"$kgen" tune --preset llm --shard 231/700 --sm 90 --rows 64 --json -q >"$tmp/tall.json" 2>/dev/null
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["rows"] == 65536 and d["key"].endswith("|r65536") and d["cols"] == 1024, d' "$tmp/tall.json" ||
		{ echo "FAIL: tall problem: $(head -c 300 "$tmp/tall.json")"; fails=$((fails + 1)); }
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
