#!/usr/bin/env bash
# deps.sh: install what kgen's build and tests use, on Debian 12 (as root).
#
#   - Debian packages: cmake, gcc, make, pkg-config (test_install),
#     dpkg-dev (dpkg-source, to unpack source packages), python3-venv;
#   - the Debian source packages of Lua 5.4 and LMDB, unpacked with Debian's
#     patches into third_party/lua and third_party/lmdb: the build compiles
#     them into PIC archives inside libkgen (it uses no Lua or LMDB binary
#     package: Debian's static archives are not position-independent);
#   - a virtual environment, .venv in the source tree (ignored by git, with
#     the system's site-packages visible so an installed torch is used), with
#     pytest (tests/test_python.sh) and cuobjdump/nvdisasm from PyPI
#     (tests/test_sass.sh). The system's python3 is not changed. The wheel
#     (python/) is built with pip's build isolation and needs nothing here.
#
# Every change to the system is printed ("deps: installing ..."); a failing
# step stops the script with a message naming it. The CUDA toolkit (cuda.h,
# nvrtc.h, libnvrtc) is expected in /usr/local/cuda or $CUDA_HOME; kgen needs
# no GPU to build.
set -Eeuo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
step="starting"
trap 'echo "deps: error: step failed: $step" >&2; exit 1' ERR

# The Debian packages the build and the tests use.
# libmd: SHA-256 for pack digests and entry checksums (linked statically);
# clang and its libFuzzer and sanitizer runtimes: the fuzzing and sanitizer
# steps of .ci/run.
packages=(cmake gcc make pkg-config dpkg-dev python3-venv libmd-dev clang libclang-rt-14-dev)

# apt_install PACKAGE...: install those not installed yet, saying which.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	step="apt-get update"
	apt-get update -qq
	step="apt-get install ${missing[*]}"
	echo "deps: installing Debian packages: ${missing[*]}"
	apt-get install -y -qq "${missing[@]}" >/dev/null
}

# fetch_source PACKAGE DIR: Debian's source of PACKAGE, patched, in third_party/DIR.
fetch_source() {
	local pkg=$1 dir=$2 tmp
	tmp=$(mktemp -d)
	step="apt-get source $pkg (needs a deb-src entry for the mirror of the binaries)"
	cd "$tmp"
	apt-get source -qq --download-only "$pkg" >/dev/null
	step="dpkg-source -x $pkg"
	dpkg-source -x --no-check ./"$pkg"_*.dsc src >/dev/null
	cd "$here"
	echo "deps: unpacking Debian's source of $pkg into $here/third_party/$dir"
	mkdir -p "$here/third_party"
	rm -rf "${here:?}/third_party/$dir"
	mv "$tmp/src" "$here/third_party/$dir"
	rm -rf "$tmp"
}

step="Debian packages"
apt_install "${packages[@]}"

if [ ! -f "$here/third_party/lua/src/lapi.c" ] || [ ! -f "$here/third_party/lmdb/libraries/liblmdb/mdb.c" ]; then
	# Source packages come from the same mirror as the binaries.
	if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
		step="adding a deb-src entry"
		if [ -f /etc/apt/sources.list.d/debian.sources ]; then
			echo "deps: writing /etc/apt/sources.list.d/kgen-deb-src.sources (deb-src of debian.sources)"
			sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
				>/etc/apt/sources.list.d/kgen-deb-src.sources
		else
			echo "deps: writing /etc/apt/sources.list.d/kgen-deb-src.list (deb-src of sources.list)"
			sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/kgen-deb-src.list
		fi
		step="apt-get update (with deb-src)"
		apt-get update -qq
	fi
	fetch_source lua5.4 lua
	fetch_source lmdb lmdb
fi

# The Python tools of the tests, in .venv (not in the system's python3).
venv=$here/.venv
if [ ! -x "$venv/bin/python" ]; then
	step="python3 -m venv $venv"
	echo "deps: creating the virtual environment $venv"
	python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
	step="pip install pyyaml (into $venv)"
	echo "deps: installing PyYAML into $venv (tests/test_job_array.sh checks tools/k8s/ with it)"
	"$venv/bin/python" -m pip install -q pyyaml
fi
if ! "$venv/bin/python" -c 'import pytest' 2>/dev/null; then
	step="pip install pytest (into $venv)"
	echo "deps: installing pytest into $venv"
	"$venv/bin/python" -m pip install -q pytest
fi
# cuobjdump and nvdisasm for tests/test_sass.sh: the Debian CUDA images often
# lack them. Best effort: without them that test is skipped.
has_cuobjdump() {
	command -v cuobjdump >/dev/null ||
		"$venv/bin/python" -c 'import nvidia, os, sys; sys.exit(not os.access(os.path.join(list(nvidia.__path__)[0], "cu13", "bin", "cuobjdump"), os.X_OK))' 2>/dev/null
}
if ! has_cuobjdump; then
	echo "deps: installing cuobjdump and nvdisasm (PyPI) into $venv"
	"$venv/bin/python" -m pip install -q nvidia-cuda-cuobjdump==13.5.37 nvidia-cuda-nvdisasm==13.5.37 ||
		echo "deps: note: cuobjdump not installed; tests/test_sass.sh will be skipped"
fi
echo "deps: ok (Lua and LMDB sources in third_party/, Python test tools in .venv/)"
