#!/usr/bin/env bash
# test_pack_cli.sh KGEN PACK_FIXTURE FAKE_LIBCUDA: kgen pack export, ls, merge,
# import and verify on caches of synthetic records (pack_fixture), without a
# GPU; ls on a stand-in driver (stand_in_cuda.c, fake mode) naming another
# model of the SM.
set -u
kgen=$1
fixture=$2
fake=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KGEN_CACHE_DIR=$tmp/default-cache
export TMPDIR=$tmp/scratch
mkdir -p "$TMPDIR"
fails=0
gpu='Test GPU A'

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# expect STATUS PATTERN ARGS...: kgen's exit status, and a line of its output.
expect() {
	local want=$1 pattern=$2
	shift 2
	out=$("$kgen" "$@" 2>&1)
	local got=$?
	if [ "$got" != "$want" ] || ! grep -qE -- "$pattern" <<<"$out"; then
		fail "kgen $*: exit $got (want $want, and a line matching '$pattern'), output:"
		echo "$out" | head -20
	fi
}

# body FILE: the record lines of `kgen pack ls` (no header).
body() {
	"$kgen" pack ls "$1" | tail -n +4
}

# usage errors
expect 2 '^usage: kgen pack <command>' pack
expect 0 'export +copy the best records' pack --help
expect 0 'pack ls FILE \[--json\]' pack ls --help
expect 2 "kgen: error: unknown pack command 'frob'" pack frob
expect 2 "kgen: error: missing --gpu NAME" pack export -o "$tmp/x.kgenpack"
expect 2 "kgen: error: missing -o FILE" pack export --gpu "$gpu"
expect 2 "kgen: error: missing the pack FILE" pack ls
expect 2 "kgen: error: option '--gpu' does not apply to 'pack verify'" pack verify --gpu x "$tmp/x.kgenpack"
expect 2 "kgen: error: merge needs two packs or more" pack merge "$tmp/x.kgenpack" -o "$tmp/y.kgenpack"
expect 2 "kgen: error: --sm needs an SM such as 90, not 'x'" pack export --gpu "$gpu" --sm x -o "$tmp/x.kgenpack"

# cache A: GPU A (softmax 10 us, xent 30 us, threads=128) and another GPU;
# cache B: GPU A (softmax 5 us, xent 40 us, threads=64)
"$fixture" "$tmp/A" "$gpu" 90 10 30 128 || fail "pack_fixture A"
"$fixture" "$tmp/A" 'Other GPU' 80 7 7 256 || fail "pack_fixture A other"
"$fixture" "$tmp/B" "$gpu" 90 5 40 64 || fail "pack_fixture B"

# export: the GPU's two current records; the stale one skipped and counted
expect 0 "^wrote '$tmp/a.kgenpack': 2 records, 2 cubins \\([0-9.]+ KiB\\) for 'Test GPU A' sm 90$" \
	pack export --gpu "$gpu" --cache "$tmp/A" -o "$tmp/a.kgenpack"
grep -q '^skipped 1 stale record (made by another template or kgen version' <<<"$out" || fail "export: stale count: $out"
[ -f "$tmp/a.kgenpack" ] || fail "export wrote no file"
left=$(ls -A "$tmp" | grep -c 'kgenpack[.-]')
[ "$left" = 0 ] || fail "export left files beside the pack: $(ls -A "$tmp")"
[ -z "$(ls -A "$TMPDIR")" ] || fail "export left scratch files: $(ls -A "$TMPDIR")"
expect 0 "^wrote .*: 2 records" pack export --gpu "$gpu" --cache-dir "$tmp/A" -o "$tmp/a.kgenpack" # replaces it
expect 0 "^wrote .*: 2 records, 2 cubins .* for 'Other GPU' sm 80$" pack export --gpu 'Other GPU' --cache "$tmp/A" \
	-o "$tmp/o.kgenpack"
expect 1 "kgen: error: no current record for 'Nope' in cache '$tmp/A'.*records for .*'Other GPU' sm 80" \
	pack export --gpu Nope --cache "$tmp/A" -o "$tmp/n.kgenpack"
expect 1 "kgen: error: no current record for 'Test GPU A' sm 80" pack export --gpu "$gpu" --sm 80 --cache "$tmp/A" \
	-o "$tmp/n.kgenpack"
[ ! -e "$tmp/n.kgenpack" ] || fail "a failed export wrote a pack"
expect 0 "^wrote '$tmp/b.kgenpack': 2 records" pack export --gpu "$gpu" --sm 90 --cache "$tmp/B" -o "$tmp/b.kgenpack"

# ls on a GPU of the pack's SM but another model: it says that it borrows
if [ -n "$fake" ]; then
	out=$(KGEN_CUDA_LIBRARY=$fake FAKE_CUDA_NAME='NVIDIA H200' "$kgen" pack ls "$tmp/b.kgenpack" 2>&1)
	grep -q "^GPU 0 'NVIDIA H200' (sm_90) borrows these records where it has none of its own" <<<"$out" ||
		fail "ls: no borrowing line: $out"
	out=$(KGEN_CUDA_LIBRARY=$fake FAKE_CUDA_NAME='NVIDIA H200' KGEN_NO_BORROW=1 "$kgen" pack ls "$tmp/b.kgenpack" 2>&1)
	grep -q "^GPU 0 'NVIDIA H200' (sm_90) would borrow these records, but KGEN_NO_BORROW is set" <<<"$out" ||
		fail "ls: KGEN_NO_BORROW: $out"
	out=$(KGEN_CUDA_LIBRARY=$fake FAKE_CUDA_NAME="$gpu" "$kgen" pack ls "$tmp/b.kgenpack" 2>&1)
	! grep -q "borrow" <<<"$out" || fail "ls: the pack's own model borrows: $out"
fi

# ls: meta header, one line per record
expect 0 "^pack '$tmp/a.kgenpack': format 2, kgen [0-9.]+, created [0-9T:-]+Z$" pack ls "$tmp/a.kgenpack"
grep -q "^gpu 'Test GPU A', sm 90, 2 records$" <<<"$out" || fail "ls header: $out"
grep -qE "^softmax +fwd +bf16 +1024 +- +4096 +90 +'Test GPU A' +strategy=reg,threads=128,tpr=32,vec=8 +10.000 " \
	<<<"$out" || fail "ls softmax line: $out"
grep -qE "^xent +fused +bf16 +8192 +smooth=0,softcap=0,target=i64,weight=0,zloss=0 +4096 +90 .* 30.000 " <<<"$out" ||
	fail "ls xent line: $out"
[ "$(body "$tmp/a.kgenpack" | wc -l)" = 2 ] || fail "ls: not 2 records: $out"
grep -qE "Other GPU| bwd " <<<"$out" && fail "ls: a record of another GPU or a stale one: $out"
if command -v python3 >/dev/null; then
	"$kgen" pack ls --json "$tmp/a.kgenpack" | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = {x["op"] + " " + x["pass"]: x for x in d["records"]}
assert d["meta"]["format"] == "2" and d["meta"]["records"] == "2" and d["meta"]["gpu"] == "Test GPU A", d["meta"]
assert sorted(r) == ["softmax fwd", "xent fused"], r
assert r["softmax fwd"]["time_us"] == 10.0 and r["softmax fwd"]["cols"] == 1024 and r["softmax fwd"]["sm"] == 90
assert r["xent fused"]["rows_bucket"] == 4096 and len(r["xent fused"]["variant"]) == 16
' || fail "ls --json"
else
	expect 0 '"records": \[' pack ls --json "$tmp/a.kgenpack"
fi
echo "not a pack" >"$tmp/text.kgenpack"
expect 1 "kgen: error: cannot open pack '$tmp/text.kgenpack'" pack ls "$tmp/text.kgenpack"
expect 1 "^kgen: error: cannot open pack '$tmp/A/data.mdb': pack format 1, this build reads 2: rebuild or re-export it$" \
	pack ls "$tmp/A/data.mdb"
expect 1 "kgen: error: cannot open pack '$tmp/none.kgenpack': No such file" pack verify "$tmp/none.kgenpack"

# merge: on the same problem the faster record wins, whatever the order
expect 0 "^wrote '$tmp/ab.kgenpack': 2 records, 2 cubins" pack merge "$tmp/a.kgenpack" "$tmp/b.kgenpack" \
	-o "$tmp/ab.kgenpack"
grep -q '^from 4 records of 2 packs' <<<"$out" || fail "merge summary: $out"
expect 0 "^wrote '$tmp/ba.kgenpack'" pack merge "$tmp/b.kgenpack" "$tmp/a.kgenpack" -o "$tmp/ba.kgenpack"
ab=$(body "$tmp/ab.kgenpack")
grep -qE '^softmax .*threads=64,.* 5.000 ' <<<"$ab" || fail "merge: softmax is not b's (5 us): $ab"
grep -qE '^xent .*threads=128,.* 30.000 ' <<<"$ab" || fail "merge: xent is not a's (30 us): $ab"
[ "$ab" = "$(body "$tmp/ba.kgenpack")" ] || fail "merge a b and merge b a differ"
expect 0 "^wrote .*: 4 records, 4 cubins .* for '(Other GPU; Test GPU A|Test GPU A; Other GPU)' sm (80,90|90,80)$" \
	pack merge "$tmp/a.kgenpack" "$tmp/o.kgenpack" -o "$tmp/ao.kgenpack"

# import: into an empty cache, then export gives the same records back
expect 0 "^imported 2 records into '$tmp/D'$" pack import "$tmp/ab.kgenpack" --cache "$tmp/D"
expect 0 "^wrote .*: 2 records" pack export --gpu "$gpu" --cache "$tmp/D" -o "$tmp/d.kgenpack"
[ "$ab" = "$(body "$tmp/d.kgenpack")" ] || fail "import then export changed the records"
# into cache A: b's softmax is faster and replaces A's, A's xent is faster and stays
expect 0 "^imported 1 record into '$tmp/A'; kept the cache's own for 1 \\(as fast or faster\\)$" \
	pack import "$tmp/b.kgenpack" --cache "$tmp/A"
expect 0 "^wrote .*: 2 records" pack export --gpu "$gpu" --cache "$tmp/A" -o "$tmp/a2.kgenpack"
[ "$ab" = "$(body "$tmp/a2.kgenpack")" ] || fail "import into A: not the faster of each: $(body "$tmp/a2.kgenpack")"
# the default cache is $KGEN_CACHE_DIR
expect 0 "^imported 2 records into '$KGEN_CACHE_DIR'$" pack import "$tmp/a.kgenpack"

# another template version: softmax records are stale, xent ones are not
cp -r "$src/templates" "$tmp/tpl"
echo "-- edited" >>"$tmp/tpl/softmax.lua"
out=$(KGEN_TEMPLATE_DIR=$tmp/tpl "$kgen" pack import "$tmp/ab.kgenpack" --cache "$tmp/E" 2>&1)
[ $? = 0 ] && grep -q "^imported 1 record into '$tmp/E'; skipped 1 stale" <<<"$out" || fail "import of stale: $out"
out=$(KGEN_TEMPLATE_DIR=$tmp/tpl "$kgen" pack verify "$tmp/ab.kgenpack" 2>&1)
st=$?
[ $st = 1 ] && grep -qE "^FAIL +softmax fwd .*stamp template=[0-9a-f]{16},kgen=[0-9.]+ is not this build's" <<<"$out" &&
	grep -q "failed verification (1 of 2 records)" <<<"$out" || fail "verify of a stale record: exit $st: $out"

# verify: checksums and stamps fine; without a GPU nothing is loaded: exit 3
if ! "$kgen" version | grep -q '^CUDA driver [0-9]'; then
	expect 3 "no GPU of sm_90 \\('Test GPU A'\\) is present" pack verify "$tmp/ab.kgenpack"
	grep -qE "^unloaded +softmax fwd bf16 c1024 - r4096 sm90 'Test GPU A': checksum [0-9a-f]{16}, stamp current" \
		<<<"$out" || fail "verify lines: $out"
	grep -q "^2 records: 0 verified and loaded, 0 failed, 2 verified but not loaded$" <<<"$out" ||
		fail "verify summary: $out"
else
	echo "note: a GPU driver is present; the no-GPU checks of verify were skipped"
fi

# a record without its kernel name: verify fails it, with or without a GPU
"$fixture" "$tmp/G" "$gpu" 90 10 30 128 --no-kernel || fail "pack_fixture G"
"$kgen" pack export --gpu "$gpu" --cache "$tmp/G" -o "$tmp/g.kgenpack" >/dev/null || fail "export G"
expect 1 "^FAIL +softmax fwd .*: the record has no 'kernel': the runtime cannot use it" pack verify "$tmp/g.kgenpack"

# a changed byte anywhere: the pack's digest refuses the whole file, before
# LMDB reads it (ls, verify, import and merge alike)
cp "$tmp/ab.kgenpack" "$tmp/bad.kgenpack"
off=$(grep -obUaF 'KGENFIXTURE64|softmax' "$tmp/bad.kgenpack" | head -1 | cut -d: -f1)
roff=$(grep -obUaF 'rows_per_cta=8' "$tmp/ab.kgenpack" | head -1 | cut -d: -f1)
if [ -z "$off" ] || [ -z "$roff" ]; then
	fail "no fixture cubin or record found in the pack"
else
	printf 'X' | dd of="$tmp/bad.kgenpack" bs=1 seek=$((off + 300)) conv=notrunc status=none
	cmp -s "$tmp/ab.kgenpack" "$tmp/bad.kgenpack" && fail "the pack was not changed"
	damaged="^kgen: error: cannot open pack '$tmp/bad.kgenpack': damaged \\(sha256 [0-9a-f]{16}\\.\\.\\., its trailer says [0-9a-f]{16}\\.\\.\\.\\)$"
	expect 1 "$damaged" pack ls "$tmp/bad.kgenpack"
	expect 1 "$damaged" pack verify "$tmp/bad.kgenpack"
	expect 1 "$damaged" pack import "$tmp/bad.kgenpack" --cache "$tmp/F"
	expect 1 "$damaged" pack merge "$tmp/a.kgenpack" "$tmp/bad.kgenpack" -o "$tmp/m.kgenpack"
	[ ! -e "$tmp/m.kgenpack" ] || fail "a failed merge wrote a pack"

	# the same change with the digest made anew (as a pack written from a
	# damaged cache would be): the cubin's own checksum catches it
	"$fixture" --reseal "$tmp/bad.kgenpack" || fail "reseal"
	expect 1 "^FAIL +softmax fwd .*cubin [0-9a-f]{16}: entry of cubin in pack '$tmp/bad.kgenpack' does not match its checksum \\(damaged\\)" \
		pack verify "$tmp/bad.kgenpack"
	grep -q "failed verification (1 of 2 records)" <<<"$out" || fail "verify of a corrupt pack: $out"
	expect 1 "does not match its checksum" pack import "$tmp/bad.kgenpack" --cache "$tmp/F"
	grep -q "^imported 1 record into" <<<"$out" || fail "import of a corrupt pack: the good record: $out"
	expect 1 "does not match its checksum .*; nothing written" pack merge "$tmp/a.kgenpack" "$tmp/bad.kgenpack" \
		-o "$tmp/m.kgenpack"
	[ ! -e "$tmp/m.kgenpack" ] || fail "a failed merge wrote a pack"

	# one byte of a record's launch geometry (rows_per_cta=8 -> 9), digest
	# made anew: the record's checksum catches it; it is never listed or used
	cp "$tmp/ab.kgenpack" "$tmp/rec.kgenpack"
	printf '9' | dd of="$tmp/rec.kgenpack" bs=1 seek=$((roff + 13)) conv=notrunc status=none
	expect 1 "^kgen: error: cannot open pack '$tmp/rec.kgenpack': damaged" pack verify "$tmp/rec.kgenpack"
	"$fixture" --reseal "$tmp/rec.kgenpack" || fail "reseal"
	expect 1 "^FAIL +1 damaged entry \\(first: best '[^']*'\\): checksum mismatch$" pack verify "$tmp/rec.kgenpack"
	grep -q "^1 records: .* 1 failed" <<<"$out" || fail "verify of a damaged record: $out"
	expect 1 "^kgen: error: 1 damaged entry in pack '$tmp/rec.kgenpack' \\(first: best '.*'\\): ignored$" \
		pack ls "$tmp/rec.kgenpack"
	expect 1 "damaged entry in pack" pack import "$tmp/rec.kgenpack" --cache "$tmp/F2"
	expect 1 "damaged entry in pack .*|nothing written" pack merge "$tmp/a.kgenpack" "$tmp/rec.kgenpack" -o "$tmp/m.kgenpack"
	[ ! -e "$tmp/m.kgenpack" ] || fail "a failed merge wrote a pack"
fi

# the same records and SOURCE_DATE_EPOCH: the same bytes
SOURCE_DATE_EPOCH=0 "$kgen" pack export --gpu "$gpu" --cache "$tmp/B" -o "$tmp/r1.kgenpack" >/dev/null
SOURCE_DATE_EPOCH=0 "$kgen" pack export --gpu "$gpu" --cache "$tmp/B" -o "$tmp/r2.kgenpack" >/dev/null
cmp -s "$tmp/r1.kgenpack" "$tmp/r2.kgenpack" || fail "two exports of the same records differ"
expect 0 "created 1970-01-01T00:00:00Z" pack ls "$tmp/r1.kgenpack"

if [ "$fails" -ne 0 ]; then
	echo "test_pack_cli: $fails failures"
	exit 1
fi
echo "test_pack_cli: ok"
