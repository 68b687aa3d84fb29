#!/usr/bin/env bash
# test_args_layout.sh KGEN SOURCE_DIR CUDA_INCLUDE_DIR CC: the kernel argument
# block kg_args is written twice, in C (runtime/internal.h, what the runtime
# fills) and in the templates (templates/lib/cuda.lua, what every kernel
# reads); this compiles the struct of a generated kernel beside the C one and
# asserts that every field of either has the same offset and size in both,
# and that the two have the same size. No GPU needed.
set -u
kgen=$1 src=$2 cudainc=$3 cc=${4:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$kgen" gen --op xent --pass fused --vocab 1024 --sm 80 >"$tmp/k.cu" || { echo "FAIL: kgen gen"; exit 1; }
awk '/^struct kg_args \{/,/^\};/' "$tmp/k.cu" | sed 's/^struct kg_args {/struct tmpl_args {/' >"$tmp/tmpl.h"
grep -q '^struct tmpl_args {' "$tmp/tmpl.h" || { echo "FAIL: no struct kg_args in a generated kernel"; exit 1; }
# every field name the template declares (the last identifier before each ';' or ',' of a declaration)
fields=$(sed -e '1d' -e '$d' -e 's#/\*.*\*/##' "$tmp/tmpl.h" | tr ',;' '\n\n' | sed -n 's/.*[ *]\([A-Za-z_][A-Za-z0-9_]*\) *$/\1/p')
[ "$(echo "$fields" | wc -w)" -ge 10 ] || { echo "FAIL: too few fields read from the template's struct: $fields"; exit 1; }
{
	echo '#include <stddef.h>'
	echo '#include "internal.h"'
	cat "$tmp/tmpl.h"
	echo '#define SAME(f) _Static_assert(offsetof(struct tmpl_args, f) == offsetof(kg_args, f) && \'
	echo '	sizeof(((struct tmpl_args *)0)->f) == sizeof(((kg_args *)0)->f), "kg_args." #f " differs")'
	for f in $fields; do echo "SAME($f);"; done
	echo '_Static_assert(sizeof(struct tmpl_args) == sizeof(kg_args), "kg_args sizes differ");'
} >"$tmp/t.c"
if ! "$cc" -std=c11 -fsyntax-only -I"$src/runtime" -I"$src/base" -I"$src/include" -I"$cudainc" "$tmp/t.c" 2>"$tmp/err"; then
	echo "FAIL: kg_args of runtime/internal.h and of templates/lib/cuda.lua differ:"
	cat "$tmp/err"
	exit 1
fi
echo "test_args_layout: ok ($(echo $fields | wc -w) fields: $(echo $fields))"
