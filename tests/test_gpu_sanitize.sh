#!/usr/bin/env bash
# test_gpu_sanitize.sh BUILD_DIR SOURCE_DIR FAKE_LIBCUDA: scripts/gpu_sanitize.sh's
# verdicts, without a GPU: a stand-in compute-sanitizer runs test_gpu_ops
# (section E only: bad arguments, on the stand-in libcuda) and appends the
# summary the case asks for. A clean run passes; a hazard, a non-zero exit
# or the tool's internal error fails the run and names why.
set -u
build=$1 src=$2 fake=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mkdir "$tmp/bin"
cat >"$tmp/bin/compute-sanitizer" <<'SAN'
#!/usr/bin/env bash
# --tool T --error-exitcode N COMMAND...
code=$4; shift 4
echo "========= COMPUTE-SANITIZER"
"$@"; rc=$?
case ${CASE:-clean} in
internal) echo "========= Internal Sanitizer Error: Detected a failure to track a kernel launch. Future records might be incomplete"
	echo "========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)"; exit "$code" ;;
hazard) echo "========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)"; exit "$code" ;;
*) echo "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"; exit $rc ;;
esac
SAN
chmod +x "$tmp/bin/compute-sanitizer"

run() { # CASE: the script's output in $tmp/out, its status in $rc
	(cd "$src" && env PATH="$tmp/bin:$PATH" CASE="$1" KGEN_CUDA_LIBRARY="$fake" BUILD="$build" OUT="$tmp/o$1" \
		SWEEP=0 EXAMPLES=0 RUNTIME_SHARDS=2 RUNTIME_SECTIONS=E TIMEOUT=120 \
		bash scripts/gpu_sanitize.sh racecheck) >"$tmp/out" 2>&1
	rc=$?
}

run clean
[ $rc = 0 ] || fail "clean: exit $rc: $(cat "$tmp/out")"
# the one unit of section E is share 0's; share 1 has none
grep -q '^ok    racecheck-runtime-0: RACECHECK SUMMARY: 0 hazards displayed .*| test_gpu_ops: runtime shard 0/2: 1 of the runtime.s units, [1-9][0-9]* checks, 0 failures$' "$tmp/out" ||
	fail "clean: $(cat "$tmp/out")"
grep -q '^ok    racecheck-runtime-1: .* runtime shard 1/2: 0 of the runtime.s units, 0 checks' "$tmp/out" ||
	fail "clean, share 1: $(cat "$tmp/out")"
grep -q 'example' "$tmp/out" && fail "EXAMPLES=0 ran an example: $(cat "$tmp/out")"
[ -s "$tmp/oclean/gpu_sanitize/racecheck-runtime-0.log" ] || fail "no log under \$OUT/gpu_sanitize"

run hazard
[ $rc = 1 ] || fail "hazard: exit $rc"
grep -q '^FAIL  racecheck-runtime-0: exit 9: RACECHECK SUMMARY: 1 hazard displayed' "$tmp/out" || fail "hazard: $(cat "$tmp/out")"

run internal
[ $rc = 1 ] || fail "internal: exit $rc"
grep -q '^FAIL  racecheck-runtime-0: the tool failed: Internal Sanitizer Error: Detected a failure to track a kernel launch' \
	"$tmp/out" || fail "internal: $(cat "$tmp/out")"

[ $fails = 0 ] && echo "test_gpu_sanitize: ok" || echo "test_gpu_sanitize: $fails failures"
[ $fails = 0 ]
