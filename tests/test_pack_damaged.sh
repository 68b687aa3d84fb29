#!/usr/bin/env bash
# test_pack_damaged.sh KGEN PACK_FIXTURE CORPUS: damaged packs through the
# pack commands. Each must end in exit 1 and one line naming the file and
# the reason: never a signal (exit > 128), never a hang (timeout: 124).
set -u
kgen=$1
fixture=$2
corpus=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KGEN_CACHE_DIR=$tmp/cache
export TMPDIR=$tmp/scratch
mkdir -p "$TMPDIR"
fails=0
n=0

# refused FILE: ls, verify and import of FILE exit 1, saying which file
refused() {
	local f=$1 cmd out rc
	for cmd in ls verify import; do
		out=$(timeout 20 "$kgen" pack $cmd "$f" 2>&1 </dev/null)
		rc=$?
		n=$((n + 1))
		if [ "$rc" != 1 ] || ! grep -qF "kgen: error: cannot open pack '$f': " <<<"$out"; then
			echo "FAIL: kgen pack $cmd $f: exit $rc (want 1 and the file named), output:"
			echo "$out" | head -3
			fails=$((fails + 1))
		fi
	done
}

for f in "$corpus"/*; do
	refused "$f"
done

# a pack of this build, then copies of it cut short, changed, and a FIFO
"$fixture" "$tmp/A" 'Test GPU' 90 10 30 128 || { echo "FAIL: pack_fixture"; exit 1; }
"$kgen" pack export --gpu 'Test GPU' --cache "$tmp/A" -o "$tmp/good.kgenpack" >/dev/null || { echo "FAIL: export"; exit 1; }
"$kgen" pack verify "$tmp/good.kgenpack" >/dev/null 2>&1
rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "FAIL: the good pack does not verify ($rc)"; fails=$((fails + 1)); }
size=$(stat -c %s "$tmp/good.kgenpack")
for cut in 0 1 100 4096 8192 $((size / 2)) $((size - 65)) $((size - 64)) $((size - 1)); do
	head -c "$cut" "$tmp/good.kgenpack" >"$tmp/cut-$cut.kgenpack"
	refused "$tmp/cut-$cut.kgenpack"
done
for off in 0 16 40 136 4096 $((4096 + 136)) $((size / 2)) $((size - 40)) $((size - 8)); do
	cp "$tmp/good.kgenpack" "$tmp/flip-$off.kgenpack"
	printf '\x5a' | dd of="$tmp/flip-$off.kgenpack" bs=1 seek="$off" conv=notrunc status=none
	refused "$tmp/flip-$off.kgenpack"
done
mkfifo "$tmp/fifo.kgenpack"
refused "$tmp/fifo.kgenpack"
out=$(timeout 20 "$kgen" pack ls "$tmp/fifo.kgenpack" 2>&1)
grep -q "^kgen: error: cannot open pack '$tmp/fifo.kgenpack': not a regular file$" <<<"$out" ||
	{ echo "FAIL: fifo: $out"; fails=$((fails + 1)); }

echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
