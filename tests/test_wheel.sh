#!/usr/bin/env bash
# test_wheel.sh SOURCE BUILD: the Python wheel end to end, without a GPU:
# `pip wheel ./python` (scikit-build-core builds libkgen from the CMake
# project), then a fresh virtual environment outside the source tree
# installs it, and `import kgen` there loads the libkgen inside
# site-packages, whose runtime reads the packs inside the wheel (a stand-in
# libcuda that names itself an H100 makes it look up the H100 pack's
# records). No absolute path of the build machine is in the wheel.
set -eu
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
py=python3
[ -x "$src/.venv/bin/python" ] && py=$src/.venv/bin/python
"$py" -m pip --version >/dev/null 2>&1 || { echo "SKIP: no pip"; exit 77; }
"$py" -m pip wheel -q --no-deps "$src/python" -w "$tmp/dist" >"$tmp/wheel.log" 2>&1 ||
	{ tail -30 "$tmp/wheel.log"; fail "pip wheel ./python"; }
whl=$(ls "$tmp"/dist/kgen_kernels-*.whl)
mkdir "$tmp/unpacked"
(cd "$tmp/unpacked" && "$py" -m zipfile -e "$whl" .)
for f in kgen/lib/libkgen.so kgen/__init__.py kgen/torch.py; do
	[ -f "$tmp/unpacked/$f" ] || fail "the wheel has no $f"
done
want=$(cd "$src/packs" && ls -- *.kgenpack 2>/dev/null | sort)
got=$(cd "$tmp/unpacked/kgen/share/kgen/packs" 2>/dev/null && ls -A | sort)
[ "$want" = "$got" ] || fail "the wheel's packs are '$got', packs/ has '$want'"
if grep -rlF -e "$src" -e "$build" "$tmp/unpacked" >"$tmp/abs.txt"; then
	fail "the wheel names the build machine's paths in: $(tr '\n' ' ' <"$tmp/abs.txt")"
fi
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --no-index --no-deps "$whl" || fail "installing the wheel"
cd "$tmp"
out=$(env -u KGEN_LIBRARY -u KGEN_PACK_PATH -u KGEN_PACK_DIR -u PYTHONPATH KGEN_CACHE_DIR="$tmp/cache" \
	KGEN_CUDA_LIBRARY="$build/tests/libkgen_fake_cuda.so" FAKE_CUDA_NAME="NVIDIA H100 80GB HBM3" \
	KGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so "$tmp/venv/bin/python" - <<'PY'
import ctypes, sysconfig
import kgen
from kgen import _lib
lib = kgen.library()
site = sysconfig.get_paths()["purelib"]
print("LIB", lib._name, lib._name.startswith(site))
buf = ctypes.create_string_buffer(1 << 16)
p = (ctypes.addressof(buf) + 255) // 256 * 256
rc = lib.kgen_softmax_fwd(_lib.handle(), p, p + 8192, 4096, 1024, 1024, 1024, 2, None)
print("RC", rc, lib.kgen_last_error().decode())
print("SITE", site)
PY
) || fail "python in the fresh environment: $out"
echo "$out" | grep -q "^LIB .*/kgen/lib/libkgen.so True$" || fail "kgen did not load the wheel's libkgen: $out"
site=$(echo "$out" | sed -n 's/^SITE //p')
echo "$out" | grep -qF "the record of pack '$site/kgen/share/kgen/packs/h100-sm90.kgenpack'" ||
	fail "the wheel's libkgen did not read the wheel's H100 pack: $out"
echo "test_wheel: ok ($(basename "$whl"): libkgen and the H100 pack from $site/kgen)"
