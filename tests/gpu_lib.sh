# gpu_lib.sh: sourced by the GPU tests written in bash (test_gpu_*.sh):
# the skip without a GPU, PASS/FAIL bookkeeping, and check(), every variant
# of a problem run against the fp64 reference. Sets kgen, out and tmp.
#
#   . gpu_lib.sh NAME KGEN    then pass/fail/check ..., and finish last
#
# Logs go to $OUT/NAME (default a folder that is removed at exit); each
# test runs on a cold cache of its own. KGEN_TEST_QUICK=1 asks for the
# short form (a test reads $quick).
gpu_lib_name=$1
kgen=$2
quick=${KGEN_TEST_QUICK:+1}
# A GPU, as nvidia-smi sees one; a stand-in libcuda is no GPU for these.
if ! command -v nvidia-smi >/dev/null; then
	echo "SKIP: $gpu_lib_name: no nvidia-smi (no NVIDIA driver on this machine)"
	exit 77
fi
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
	echo "SKIP: $gpu_lib_name: nvidia-smi lists no GPU"
	exit 77
fi
unset KGEN_CUDA_LIBRARY
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:+$OUT/$gpu_lib_name}
out=${out:-$tmp/logs}
mkdir -p "$out"
export KGEN_CACHE_DIR=$tmp/cache KGEN_PACK_DIR='' KGEN_PACK_PATH=''
gpu_lib_results=()
gpu_lib_fails=0
gpu_lib_t0=$SECONDS
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | head -1 | tee "$out/gpu.txt"

pass() { gpu_lib_results+=("PASS $*"); }
fail() {
	gpu_lib_results+=("FAIL $*")
	gpu_lib_fails=$((gpu_lib_fails + 1))
}

# check OP PASS COLS ROWS DTYPE [OPTIONS...]: every variant of the problem
# checked against the fp64 reference (kgen tune --check-only): none may
# mismatch, some must pass.
check() {
	local op=$1 pass=$2 cols=$3 rows=$4 dtype=$5 name line
	shift 5
	name="check $op $pass $dtype ${cols}x$rows${*:+ $*}"
	"$kgen" tune --op "$op" --pass "$pass" --cols "$cols" --rows "$rows" --dtype "$dtype" --check-only --json \
		"$@" >"$tmp/check.json" 2>>"$out/check.log"
	local rc=$?
	line=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); c = d["counts"]
ok = d["status"] == "checked" and c["rejected"] == 0 and c["variants"] - c["pruned"] > 0
print("ok" if ok else "bad", "%d variants, %d rejected, %d pruned, status %s" % (
    c["variants"], c["rejected"], c["pruned"], d["status"]))' "$tmp/check.json" 2>&1)
	if [ $rc = 0 ] && [ "${line%% *}" = ok ]; then
		pass "$name: ${line#* }"
	else
		fail "$name: exit $rc: ${line#* } (see $out/check.log)"
	fi
}

# finish: the PASS/FAIL lines, then exit with the failures counted.
finish() {
	printf '%s\n' "${gpu_lib_results[@]}" | tee "$out/summary.txt"
	echo "$gpu_lib_name: ${#gpu_lib_results[@]} checks, $gpu_lib_fails failed, $((SECONDS - gpu_lib_t0)) s"
	[ "$gpu_lib_fails" = 0 ]
	exit
}
