#!/bin/sh
# test_python.sh BUILD_DIR SOURCE_DIR: the Python package's tests (pytest).
# python/tests/test_lib.py needs neither torch nor a GPU; test_torch.py
# (kgen.torch against torch) and test_compile.py (torch.compile, export,
# CUDA graphs, one-pass cross-entropy) need torch and a CUDA device and are
# skipped (exit 77, with the reason) without them. The Python is the source
# tree's .venv (scripts/deps.sh; it sees the system's torch) when there is
# one, else python3.
build=$1 src=$2
py=python3
[ -x "$src/.venv/bin/python" ] && py=$src/.venv/bin/python
export KGEN_LIBRARY="${KGEN_LIBRARY:-$build/libkgen.so}" PYTHONPATH="$src/python${PYTHONPATH:+:$PYTHONPATH}"
export KGEN_CACHE_DIR="${KGEN_CACHE_DIR:-$build/test-python-cache}"
if ! "$py" -c 'import pytest' 2>/dev/null; then
	echo "SKIP: $py has no pytest (scripts/deps.sh)"
	exit 77
fi
"$py" -m pytest -q -p no:cacheprovider "$src/python/tests/test_lib.py" || exit 1
why=$("$py" -c 'import torch; print("" if torch.cuda.is_available() else "no CUDA device")' 2>/dev/null || echo "no torch")
if [ -n "$why" ]; then
	echo "SKIP: python/tests/test_torch.py, test_compile.py: $why"
	exit 77
fi
"$py" -m pytest -q -p no:cacheprovider "$src/python/tests/test_torch.py" "$src/python/tests/test_compile.py" \
	"$src/python/tests/test_docs.py"
