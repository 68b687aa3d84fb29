#!/usr/bin/env bash
# test_install.sh BUILD: cmake --install into a scratch prefix, then MOVE the
# prefix elsewhere and use it from there: a program built with
# `pkg-config --cflags --libs kgen` and one with find_package(kgen) run and
# find the installed packs directory (through a stand-in libcuda, so no GPU
# is needed); libkgen.so exports only kgen_* symbols; the examples build
# against the moved install.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/kgen.h lib/libkgen.so lib/libkgen.a lib/cmake/kgen/kgenConfig.cmake lib/pkgconfig/kgen.pc bin/kgen; do
	[ -e "$tmp/prefix/$f" ] || fail "$f not installed"
done
# the packs directory, with what packs/ holds (only *.kgenpack files)
[ -d "$tmp/prefix/share/kgen/packs" ] || fail "share/kgen/packs not installed"
want=$(cd "$src/packs" && ls -- *.kgenpack 2>/dev/null | sort)
got=$(cd "$tmp/prefix/share/kgen/packs" && ls -A | sort)
[ "$want" = "$got" ] || fail "share/kgen/packs holds '$got', packs/ has '$want'"
# nothing in the install names the prefix it was installed to
if grep -rlF "$tmp/prefix" "$tmp/prefix" >"$tmp/abs.txt"; then
	fail "the install names its prefix in: $(tr '\n' ' ' <"$tmp/abs.txt")"
fi

# Move it: everything below uses the new place only.
mv "$tmp/prefix" "$tmp/moved"
P=$tmp/moved
"$P/bin/kgen" pack --help | grep -q "installed packs directory" || fail "the installed kgen has no pack command"

# Only the public API is exported.
others=$(nm -D --defined-only "$P/lib/libkgen.so" | awk '{print $3}' | grep -v '^kgen_' || true)
[ -z "$others" ] || fail "libkgen.so exports symbols outside kgen_*: $(echo $others | head -c 300)"
nm -D --defined-only "$P/lib/libkgen.so" | grep -q ' kgen_xent_fused$' || fail "libkgen.so does not export kgen_xent_fused"
# The soname is the ABI version (CMakeLists.txt: 1 since the cross-entropy
# workspace grew), and the link a program's loader follows is installed.
soname=$(objdump -p "$P/lib/libkgen.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libkgen.so.1 ] && [ -e "$P/lib/libkgen.so.1" ] || fail "soname '$soname' (want libkgen.so.1, installed)"

# A program that opens kgen on the stand-in driver without NVRTC: a problem
# no pack serves fails with a message naming where the packs were looked
# for, which must be the moved prefix's share/kgen/packs.
cat >"$tmp/probe.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <kgen.h>
static char buf[4096] __attribute__((aligned(256)));
int main(void)
{
	kgen_ctx *kg;
	int rc = kgen_open(&kg, NULL);
	if (rc) {
		printf("kgen_open: %s: %s\n", kgen_strerror(rc), kgen_last_error());
		return 1;
	}
	rc = kgen_softmax_fwd(kg, buf, buf + 2048, 1, 7, 7, 7, KGEN_F32, NULL);
	printf("%d %s\n", rc, kgen_last_error());
	kgen_close(kg);
	return rc == KGEN_ENONVRTC ? 0 : 1;
}
C
fake=$build/tests/libkgen_fake_cuda.so
probe_env() {
	env -u KGEN_PACK_PATH -u KGEN_PACK_DIR KGEN_CUDA_LIBRARY="$fake" KGEN_NVRTC_LIBRARY=/nonexistent/libnvrtc.so \
		KGEN_CACHE_DIR="$tmp/cache" "$@"
}
check_probe() { # $1: the program, $2: how it was built
	probe_env "$1" >"$tmp/probe.log" 2>&1 || { cat "$tmp/probe.log"; fail "the program built with $2 did not run as expected"; }
	grep -qF "KGEN_PACK_PATH=(unset), $P/share/kgen/packs)" "$tmp/probe.log" ||
		{ cat "$tmp/probe.log"; fail "the program built with $2 does not look for packs in '$P/share/kgen/packs'"; }
}
if command -v pkg-config >/dev/null; then
	flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs kgen)
	inc=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --variable=includedir kgen)
	[ "$(cd "$inc" 2>/dev/null && pwd -P)" = "$(cd "$P/include" && pwd -P)" ] ||
		fail "pkg-config's includedir is '$inc', not the moved prefix's include"
	case "$flags" in *-lkgen*) ;; *) fail "pkg-config --cflags --libs kgen gave '$flags'" ;; esac
	# shellcheck disable=SC2086
	cc -o "$tmp/probe_pc" "$tmp/probe.c" $flags -Wl,-rpath,"$P/lib" || fail "compiling with pkg-config's flags"
	check_probe "$tmp/probe_pc" pkg-config
else
	fail "pkg-config is not installed (scripts/deps.sh installs it)"
fi
mkdir "$tmp/fp"
cp "$tmp/probe.c" "$tmp/fp/"
cat >"$tmp/fp/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(probe LANGUAGES C)
find_package(kgen 0.1 REQUIRED)
add_executable(probe probe.c)
target_link_libraries(probe PRIVATE kgen::kgen)
CM
cmake -S "$tmp/fp" -B "$tmp/fp/build" -DCMAKE_PREFIX_PATH="$P" >"$tmp/cfg.log" 2>&1 ||
	{ cat "$tmp/cfg.log"; fail "configuring a find_package(kgen) project against the moved install"; }
cmake --build "$tmp/fp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building it"; }
check_probe "$tmp/fp/build/probe" "find_package(kgen)"
echo "test_install: moved install ok: pkg-config and find_package programs find '$P/share/kgen/packs'"

if ! command -v nvcc >/dev/null && [ ! -d /usr/local/cuda ]; then
	echo "SKIP: no CUDA toolkit to build the examples with"
	exit 77
fi
cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$P" >"$tmp/cfg.log" 2>&1 ||
	{ cat "$tmp/cfg.log"; fail "configuring the examples against the installed kgen"; }
cmake --build "$tmp/ex" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "building the examples"; }
[ -x "$tmp/ex/softmax_example" ] && [ -x "$tmp/ex/xent_example" ] || fail "no example binaries"
# Without a GPU the example must say so and fail cleanly, not crash.
"$tmp/ex/softmax_example" 8 8 >"$tmp/run.log" 2>&1 && grep -q PASS "$tmp/run.log" || grep -qiE 'no CUDA|kgen_open' "$tmp/run.log" ||
	{ cat "$tmp/run.log"; fail "the example neither ran nor reported the missing GPU"; }
echo "test_install: ok ($(head -1 "$tmp/run.log"))"
