#!/usr/bin/env bash
# gpu_sanitize.sh [TOOL ...]: compute-sanitizer over the GPU tests' quick
# form, on the GPU at hand. For each tool (default: memcheck racecheck),
# test_gpu_ops with KGEN_TEST_QUICK=1 runs as $SHARDS processes (default 8)
# that share out its sweep of every variant (KGEN_TEST_SHARD=I/N: the
# narrow rows' problems one process each, the long rows' variants spread
# over all of them, since one long problem alone outlasts the rest) and
# $RUNTIME_SHARDS more (default 4) that share out its runtime sections
# (KGEN_TEST_SKIP_SWEEP=1 as well), all at once, then the two examples (the
# pack or the JIT path, a CUDA graph). SWEEP=0 leaves the sweep's processes
# out; SWEEP_ONLY="I ..." and RUNTIME_ONLY="I ..." run only those shares (of
# the same SHARDS and RUNTIME_SHARDS), so that a tool's run can be split
# over several sittings; RUNTIME_SECTIONS="F" (letters of test_gpu_ops's
# sections B to G) runs only those runtime sections, SWEEP=0 EXAMPLES=0 the
# runtime processes alone. A tool's instrumentation makes each kernel slow; the processes keep
# the GPU and the cores busy.
#
# Prints one line per process (the tool's summary, the test's last line)
# and exits 1 if any reports an error or hazard, fails a check, or runs
# past $TIMEOUT seconds (default 1500). Racecheck tracks every
# shared-memory access, so under it the sweep's row counts are capped at
# $RACECHECK_ROWS (default 264: two rows per SM of an H100, still several
# groups of rows per CTA of a persistent grid; empty: no cap), and the long
# width's variants that are not persistent run at $RACECHECK_FLAT_ROWS
# (default 7: one CTA or cluster per group of rows, so each CTA's accesses
# are the same at any row count; empty: at the capped count). SWEEP_PART=
# narrow or long runs only that part of the sweep. Logs:
# $OUT/gpu_sanitize when OUT is set, else a temporary directory (named at
# the end). BUILD=DIR (default build) is the build directory.
set -u
build=${BUILD:-build}
shards=${SHARDS:-8}
rshards=${RUNTIME_SHARDS:-4}
limit=${TIMEOUT:-1500}
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(memcheck racecheck)
command -v compute-sanitizer >/dev/null || { echo "gpu_sanitize: error: no compute-sanitizer on PATH" >&2; exit 2; }
[ -x "$build/tests/test_gpu_ops" ] || { echo "gpu_sanitize: error: no $build/tests/test_gpu_ops: build first" >&2; exit 2; }
if [ -n "${OUT:-}" ]; then logs=$OUT/gpu_sanitize; else logs=$(mktemp -d); fi
mkdir -p "$logs"
bad=0
t0=$(date +%s)

# run NAME TOOL ENV... -- COMMAND...: one sanitized process, its log and exit status in $logs
run() {
	local name=$1 tool=$2
	shift 2
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 9 "$@" >"$logs/$name.log" 2>&1
	echo $? >"$logs/$name.rc"
}

# report NAME: its line; counts a failure
report() {
	local name=$1 rc summary last
	rc=$(cat "$logs/$name.rc")
	summary=$(grep -E '(ERROR|RACECHECK) SUMMARY' "$logs/$name.log" | tail -1 | sed 's/^========= //')
	last=$(grep -vE '^=========' "$logs/$name.log" | grep -v '^$' | tail -1)
	# the tool's own failure (e.g. "Internal Sanitizer Error: Detected a
	# failure to track a kernel launch") is not a finding in kgen's kernels,
	# but it leaves the run unchecked: it fails the run, named as such
	internal=$(grep -m1 'Internal Sanitizer Error' "$logs/$name.log" | sed 's/^========= //')
	[ -n "$internal" ] && [ "$rc" != 124 ] && { echo "FAIL  $name: the tool failed: $internal | $summary | $last"; bad=1; return; }
	case $rc in
	0) echo "ok    $name: $summary | $last" ;;
	124) echo "FAIL  $name: still running after $limit s | $last"; bad=1 ;;
	*) echo "FAIL  $name: exit $rc: $summary | $last"; bad=1 ;;
	esac
}

# picked I LIST: whether share I is to run (LIST empty: every share)
picked() {
	[ -z "$2" ] && return 0
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

[ "${SWEEP:-1}" = 0 ] && shards=0
echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1); $shards shards of the sweep and $rshards of the runtime sections per tool"
for tool in "${tools[@]}"; do
	cap= flat=
	[ "$tool" = racecheck ] && cap=${RACECHECK_ROWS-264} flat=${RACECHECK_FLAT_ROWS-7}
	names=()
	for i in $(seq 0 $((shards - 1))); do
		picked "$i" "${SWEEP_ONLY:-}" || continue
		run "$tool-sweep-$i" "$tool" KGEN_TEST_QUICK=1 KGEN_TEST_SHARD="$i/$shards" KGEN_TEST_ROWS_MAX="$cap" \
			KGEN_TEST_FLAT_ROWS="$flat" KGEN_TEST_PART="${SWEEP_PART:-}" -- "$build/tests/test_gpu_ops" &
		names+=("$tool-sweep-$i")
	done
	for i in $(seq 0 $((rshards - 1))); do
		picked "$i" "${RUNTIME_ONLY:-}" || continue
		run "$tool-runtime-$i" "$tool" KGEN_TEST_QUICK=1 KGEN_TEST_SKIP_SWEEP=1 KGEN_TEST_SHARD="$i/$rshards" \
			KGEN_TEST_SECTIONS="${RUNTIME_SECTIONS:-}" \
			-- "$build/tests/test_gpu_ops" &
		names+=("$tool-runtime-$i")
	done
	wait
	for ex in $([ "${EXAMPLES:-1}" = 0 ] || echo softmax_example xent_example); do
		run "$tool-$ex" "$tool" -- "$build/$ex"
		names+=("$tool-$ex")
	done
	for n in "${names[@]}"; do report "$n"; done
	echo "[$(($(date +%s) - t0)) s] $tool done"
done
echo "logs: $logs"
exit $bad
