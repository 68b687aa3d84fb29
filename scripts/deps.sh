#!/usr/bin/env bash
# deps.sh: install what kgen builds with, on Debian 12 (run as root).
#
#   - cmake, a C compiler, Lua 5.4 and LMDB development packages;
#   - the sources of the same Debian packages of Lua 5.4 and LMDB, unpacked
#     with Debian's patches into third_party/lua and third_party/lmdb:
#     Debian's liblua5.4.a and liblmdb.a are not position-independent, so
#     the build compiles these sources into PIC archives that link into the
#     shared libkgen as well as into libkgen.a and the kgen command.
#
# The CUDA toolkit (cuda.h, nvrtc.h, libnvrtc) is expected in
# /usr/local/cuda or $CUDA_HOME; kgen needs no GPU to build.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq cmake gcc make pkg-config liblua5.4-dev liblmdb-dev dpkg-dev >/dev/null

# fetch_source PACKAGE DIR: Debian's source of PACKAGE, patched, in third_party/DIR.
fetch_source() {
	local pkg=$1 dir=$2 tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get source -qq --download-only "$pkg" >/dev/null 2>&1 &&
		dpkg-source -x --no-check ./"$pkg"_*.dsc src >/dev/null)
	mkdir -p "$here/third_party"
	rm -rf "$here/third_party/$dir"
	mv "$tmp/src" "$here/third_party/$dir"
	rm -rf "$tmp"
}

if [ ! -f "$here/third_party/lua/src/lapi.c" ] || [ ! -f "$here/third_party/lmdb/libraries/liblmdb/mdb.c" ]; then
	# Source packages come from the same mirror as the binaries.
	if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then
			sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
				>/etc/apt/sources.list.d/kgen-deb-src.sources
		else
			sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/kgen-deb-src.list
		fi
		apt-get update -qq
	fi
	fetch_source lua5.4 lua
	fetch_source lmdb lmdb
fi
# cuobjdump and nvdisasm (for tests/test_sass.sh), from PyPI: the Debian CUDA
# images often lack them. Best effort: without them that test is skipped.
if command -v python3 >/dev/null && ! command -v cuobjdump >/dev/null; then
	python3 -m pip install -q nvidia-cuda-cuobjdump==13.5.37 nvidia-cuda-nvdisasm==13.5.37 2>/dev/null ||
		echo "deps: note: cuobjdump not installed; tests/test_sass.sh will be skipped"
fi
# pytest, for the Python package's tests (tests/test_python.sh).
if command -v python3 >/dev/null && ! python3 -c 'import pytest' 2>/dev/null; then
	python3 -m pip install -q pytest 2>/dev/null ||
		echo "deps: note: pytest not installed; tests/test_python.sh will be skipped"
fi
# libmd (SHA-256 for pack digests and entry checksums; linked statically),
# and clang with its libFuzzer and sanitizer runtimes, for the fuzzing and
# sanitizer steps of .ci/run.
apt-get install -y -qq libmd-dev clang libclang-rt-14-dev >/dev/null ||
	apt-get install -y -qq libmd-dev clang >/dev/null

# PyYAML, for the check of the Kubernetes manifests (tests/test_job_array.sh).
if command -v python3 >/dev/null && ! python3 -c 'import yaml' 2>/dev/null; then
	python3 -m pip install -q pyyaml 2>/dev/null ||
		echo "deps: note: PyYAML not installed; tests/test_job_array.sh will not check tools/k8s/"
fi
echo "deps: ok (Lua and LMDB sources in third_party/)"
