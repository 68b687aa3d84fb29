#!/usr/bin/env bash
# test_install.sh BUILD: cmake --install into a scratch prefix, then build the
# examples against it with find_package(kgen), and check the pkg-config file.
set -eu
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/kgen.h lib/libkgen.so lib/libkgen.a lib/cmake/kgen/kgenConfig.cmake lib/pkgconfig/kgen.pc bin/kgen; do
	[ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
# the packs directory, with what packs/ holds (only *.kgenpack files)
[ -d "$tmp/prefix/share/kgen/packs" ] || { echo "FAIL: share/kgen/packs not installed"; exit 1; }
want=$(cd "$src/packs" && ls -- *.kgenpack 2>/dev/null | sort)
got=$(cd "$tmp/prefix/share/kgen/packs" && ls -A | sort)
[ "$want" = "$got" ] || { echo "FAIL: share/kgen/packs holds '$got', packs/ has '$want'"; exit 1; }
"$tmp/prefix/bin/kgen" pack --help | grep -q "installed packs directory" ||
	{ echo "FAIL: the installed kgen has no pack command"; exit 1; }
if ! command -v nvcc >/dev/null && [ ! -d /usr/local/cuda ]; then
	echo "SKIP: no CUDA toolkit to build the examples with"
	exit 77
fi
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cfg.log" 2>&1 ||
	{ cat "$tmp/cfg.log"; echo "FAIL: configuring the examples against the installed kgen"; exit 1; }
cmake --build "$tmp/ex" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; echo "FAIL: building the examples"; exit 1; }
[ -x "$tmp/ex/softmax_example" ] && [ -x "$tmp/ex/xent_example" ] || { echo "FAIL: no example binaries"; exit 1; }
if command -v pkg-config >/dev/null; then
	libs=$(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --libs kgen)
	case "$libs" in *-lkgen*) ;; *) echo "FAIL: pkg-config --libs kgen gave '$libs'"; exit 1 ;; esac
fi
# Without a GPU the example must say so and fail cleanly, not crash.
"$tmp/ex/softmax_example" 8 8 >"$tmp/run.log" 2>&1 && grep -q PASS "$tmp/run.log" || grep -qiE 'no CUDA|kgen_open' "$tmp/run.log" ||
	{ cat "$tmp/run.log"; echo "FAIL: the example neither ran nor reported the missing GPU"; exit 1; }
echo "test_install: ok ($(head -1 "$tmp/run.log"))"
