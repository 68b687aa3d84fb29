#!/bin/sh
# test_python.sh BUILD_DIR SOURCE_DIR: the Python package's tests (pytest).
# python/tests/test_lib.py needs neither torch nor a GPU; test_torch.py
# compares kgen.torch with torch on a GPU and is skipped (exit 77, with the
# reason) where pytest, torch or a CUDA device is missing.
build=$1 src=$2
export KGEN_LIBRARY="$build/libkgen.so" PYTHONPATH="$src/python${PYTHONPATH:+:$PYTHONPATH}"
export KGEN_CACHE_DIR="${KGEN_CACHE_DIR:-$build/test-python-cache}"
if ! python3 -c 'import pytest' 2>/dev/null; then
	echo "SKIP: python3 has no pytest (pip install pytest)"
	exit 77
fi
python3 -m pytest -q -p no:cacheprovider "$src/python/tests/test_lib.py" || exit 1
why=$(python3 -c 'import torch; print("" if torch.cuda.is_available() else "no CUDA device")' 2>/dev/null || echo "no torch")
if [ -n "$why" ]; then
	echo "SKIP: python/tests/test_torch.py: $why"
	exit 77
fi
python3 -m pytest -q -p no:cacheprovider "$src/python/tests/test_torch.py"
