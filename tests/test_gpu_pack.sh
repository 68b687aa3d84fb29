#!/usr/bin/env bash
# test_gpu_pack.sh KGEN BUILD: the pack path end to end, on a GPU.
#
#   1. tune two small problems into a scratch cache (softmax fwd bf16 256x1024,
#      as examples/softmax_example runs it; fused cross-entropy fp32 with label
#      smoothing 128x8192, as examples/xent_example runs it);
#   2. export the GPU's records to a pack, list it, verify it (exit 0: every
#      cubin loaded on this GPU);
#   3. run the examples with an empty cache and only the pack: softmax_example
#      must say "via pack ..." (kgen_last_kernel); both must PASS, also with
#      NVRTC made unloadable (KGEN_NVRTC_LIBRARY=/nonexistent), which leaves
#      the pack as the only way to a kernel;
#   4. without the pack and without NVRTC the example must fail with
#      KGEN_ENONVRTC and the message naming what to install; a width the
#      pack lacks within 2x of a tuned one takes that width's config
#      ("via nearest ... (tuned at 1024 cols)"), one further away the
#      template's default ("via fallback"), both compiled with NVRTC;
#   5. a pack with one byte of a cubin changed must fail verify (exit 1).
#
# Skips (77) without a GPU; logs in $OUT/test_gpu_pack when OUT is set;
# PASS/FAIL lines are printed last; exits 1 on a failure.
build=$2
. "$(dirname "$0")/gpu_lib.sh" test_gpu_pack "$1"
[ -x "$build/softmax_example" ] && [ -x "$build/xent_example" ] || {
	echo "test_gpu_pack: no $build/softmax_example or xent_example (the build found no CUDA toolkit)"
	exit 1
}

# 1. tune
export KGEN_CACHE_DIR=$tmp/tuned
"$kgen" tune --op softmax --cols 1024 --rows 256 --dtype bf16 -q --top 3 >"$out/tune_softmax.log" 2>&1 &&
	pass "tune softmax 256x1024 bf16" || fail "tune softmax (see $out/tune_softmax.log)"
"$kgen" tune --op xent --pass fused --vocab 8192 --rows 128 --dtype f32 --smooth -q --top 3 \
	>"$out/tune_xent.log" 2>&1 && pass "tune xent fused 128x8192 f32 --smooth" || fail "tune xent (see $out/tune_xent.log)"
cat "$out/tune_softmax.log" "$out/tune_xent.log"
# the GPU model and SM as the driver names them, from tune's "GPU: NAME   problem: KEY"
gpu=$(sed -n 's/^GPU: \(.*\)   problem: .*/\1/p' "$out/tune_softmax.log" | head -1)
sm=$(sed -n 's/^GPU: .*   problem: .*|sm\([0-9]*\)|.*/\1/p' "$out/tune_softmax.log" | head -1)
echo "GPU '$gpu', sm $sm"

# 2. export, ls, verify
pack=$out/check-sm$sm.kgenpack
"$kgen" pack export --gpu "$gpu" --sm "$sm" -o "$pack" >"$out/export.log" 2>&1 &&
	grep -q "^wrote '$pack': 2 records" "$out/export.log" && pass "export: 2 records" ||
	fail "export: $(cat "$out/export.log")"
"$kgen" pack ls "$pack" | tee "$out/ls.txt"
"$kgen" pack verify "$pack" >"$out/verify.log" 2>&1
st=$?
cat "$out/verify.log"
[ $st = 0 ] && grep -q "^2 records: 2 verified and loaded, 0 failed" "$out/verify.log" &&
	pass "verify: exit 0, 2 cubins loaded" || fail "verify: exit $st (want 0)"

# 3. the examples from the pack alone
export KGEN_CACHE_DIR=$tmp/empty
export KGEN_PACK_PATH=$pack
"$build/softmax_example" 256 1024 >"$out/softmax_pack.log" 2>&1
st=$?
cat "$out/softmax_pack.log"
[ $st = 0 ] && grep -q "via pack .*PASS" "$out/softmax_pack.log" &&
	pass "softmax_example from the pack: $(head -1 "$out/softmax_pack.log")" || fail "softmax_example from the pack: exit $st"
KGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so "$build/softmax_example" 256 1024 >"$out/softmax_nonvrtc.log" 2>&1
st=$?
[ $st = 0 ] && grep -q "via pack .*PASS" "$out/softmax_nonvrtc.log" && pass "softmax_example from the pack without NVRTC" ||
	fail "softmax_example without NVRTC: exit $st: $(cat "$out/softmax_nonvrtc.log")"
KGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so "$build/xent_example" 128 8192 >"$out/xent_nonvrtc.log" 2>&1
st=$?
[ $st = 0 ] && grep -q "PASS" "$out/xent_nonvrtc.log" && pass "xent_example from the pack without NVRTC (prep kernel too)" ||
	fail "xent_example without NVRTC: exit $st: $(cat "$out/xent_nonvrtc.log")"

# 4. no pack and no NVRTC: KGEN_ENONVRTC naming what to install; a problem
#    the pack lacks: the nearest tuned width's config, else the fallback
KGEN_PACK_PATH='' KGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so "$build/softmax_example" 256 1024 \
	>"$out/softmax_nothing.log" 2>&1
st=$?
cat "$out/softmax_nothing.log"
[ $st != 0 ] && grep -q "KGEN_ENONVRTC.*no tuned kernel for softmax fwd bf16 cols 1024 on '$gpu' (sm_$sm).*install a pack" \
	"$out/softmax_nothing.log" && pass "no pack, no NVRTC: KGEN_ENONVRTC with the message" ||
	fail "no pack, no NVRTC: exit $st"
"$build/softmax_example" 256 2048 >"$out/softmax_nearest.log" 2>&1
st=$?
[ $st = 0 ] && grep -q "via nearest .*(tuned at 1024 cols).*PASS" "$out/softmax_nearest.log" &&
	pass "a width within 2x of a tuned one: its config" || fail "nearest: exit $st: $(cat "$out/softmax_nearest.log")"
"$build/softmax_example" 256 4096 >"$out/softmax_fallback.log" 2>&1
st=$?
[ $st = 0 ] && grep -q "via fallback .*PASS" "$out/softmax_fallback.log" && pass "a problem the pack lacks: fallback" ||
	fail "fallback: exit $st: $(cat "$out/softmax_fallback.log")"

# 5. a changed byte inside a cubin (the first cubin's ELF header, in the file):
# the file's SHA-256 trailer refuses the whole pack (or, for a file without
# one, the cubin's own checksum)
cp "$pack" "$tmp/bad.kgenpack"
off=$(grep -obUaP '\x7fELF' "$tmp/bad.kgenpack" | head -1 | cut -d: -f1)
if [ -n "$off" ]; then
	b=$(od -An -tu1 -j $((off + 200)) -N1 "$tmp/bad.kgenpack" | tr -d ' ')
	printf "\\x$(printf %02x $(((b + 1) % 256)))" |
		dd of="$tmp/bad.kgenpack" bs=1 seek=$((off + 200)) conv=notrunc status=none
	cmp -s "$pack" "$tmp/bad.kgenpack" && fail "the copy of the pack was not changed"
	"$kgen" pack verify "$tmp/bad.kgenpack" >"$out/verify_bad.log" 2>&1
	st=$?
	[ $st = 1 ] && grep -qE "does not match its checksum|damaged \(sha256" "$out/verify_bad.log" &&
		pass "verify of a changed cubin: exit 1" || fail "verify of a changed cubin: exit $st"
else
	fail "no ELF header found in the pack"
fi

finish
