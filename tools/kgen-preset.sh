#!/usr/bin/env bash
# kgen-preset.sh: one task of a preset tuned as an indexed job, and the step
# that joins the tasks' packs. The Slurm array (tools/slurm/), the
# Kubernetes indexed Job (tools/k8s/) and tools/local-array.sh all run this.
#
#   kgen-preset.sh task I N   tune the problems i of the preset with
#                             i % N == I into a cache of this task's own,
#                             then export its records as WORK/shard-I.kgenpack
#   kgen-preset.sh merge [N]  merge WORK/shard-*.kgenpack into WORK/OUT,
#                             verify it, and check that it holds exactly the
#                             problems of the N shards (with python3; N
#                             defaults to the tasks' N, kept in WORK/shards)
#
# Environment:
#   KGEN_PRESET_WORK   shared folder of the job: logs, JSON lines and packs
#                      of every task, and the merged pack (required)
#   KGEN               the kgen command (default: kgen in PATH)
#   KGEN_PRESET        the preset (default llm)
#   KGEN_TUNE_ARGS     more options of 'kgen tune', e.g. "--budget 60" or
#                      "--rows 8192" (the merge step's check reads them too)
#   KGEN_PRESET_CACHE  the task's tuning cache (default
#                      ${TMPDIR:-/tmp}/kgen-preset-cache-I: LMDB wants a
#                      local disk; a cache that survives a requeued task
#                      lets it go on where it stopped)
#   KGEN_PRESET_TASKS  merge: the task indices that ran (default 0 .. N-1),
#                      for a job array run over only some shards
#   KGEN_PRESET_OUT    merge: the merged pack's name in WORK (default
#                      preset.kgenpack)
#
# Exit status of a task: that of 'kgen tune' (0 tuned, 1 a problem failed,
# 3 compiled but no GPU to time on, 130 or 143 stopped by SIGINT or
# SIGTERM), or 1 when the export
# failed; whatever was tuned is exported all the same, so a failed problem
# costs only itself. Of the merge: 0 when the pack holds every problem and
# verifies (verify's 3, no GPU of the SM here, counts as verified), else 1.
set -u
prog="kgen-preset"
kgen=${KGEN:-kgen}
preset=${KGEN_PRESET:-llm}
work=${KGEN_PRESET_WORK:-}
read -r -a tune_args <<<"${KGEN_TUNE_ARGS:-}"

die() {
	echo "$prog: error: $*" >&2
	exit 1
}
usage() {
	echo "usage: kgen-preset.sh task I N | merge [N]" >&2
	exit 2
}
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }

# task I N
task() {
	local i=$1 n=$2 cache rc gpu sm
	cache=${KGEN_PRESET_CACHE:-${TMPDIR:-/tmp}/kgen-preset-cache-$i}
	mkdir -p "$work" "$cache" || die "cannot make '$work' or '$cache'"
	if [ -f "$work/shards" ] && [ "$(cat "$work/shards")" != "$n" ]; then
		die "'$work' belongs to a job of $(cat "$work/shards") shards, not $n"
	fi
	echo "$n" >"$work/shards"
	echo "$prog: task $i of $n on $(hostname): kgen tune --preset $preset --shard $i/$n ${tune_args[*]}" >&2
	KGEN_CACHE_DIR=$cache "$kgen" tune --preset "$preset" --shard "$i/$n" --json "${tune_args[@]}" \
		>"$work/shard-$i.jsonl" 2>"$work/shard-$i.log" &
	local pid=$!
	# The scheduler's stop (Slurm's --signal, Kubernetes' SIGTERM) goes to
	# kgen as SIGTERM (a script started in the background cannot trap
	# SIGINT), which finishes the variant at hand, keeps the best so far and
	# exits 143; the records it kept are exported below.
	trap 'kill -TERM $pid 2>/dev/null' INT TERM
	while :; do
		wait $pid
		rc=$?
		kill -0 $pid 2>/dev/null || break
	done
	trap - INT TERM
	tail -2 "$work/shard-$i.log" >&2
	# The GPU model and SM the records were timed on, from the JSON lines.
	gpu=$(sed -n 's/.*"gpu":"\([^"]*\)".*"status":"\(tuned\|stopped\)".*/\1/p' "$work/shard-$i.jsonl" | head -1)
	sm=$(sed -n 's/.*"sm":\([0-9]*\),"gpu":"[^"]*".*"status":"\(tuned\|stopped\)".*/\1/p' "$work/shard-$i.jsonl" |
		head -1)
	rm -f "$work/shard-$i.kgenpack"
	if [ -z "$gpu" ]; then
		echo "$prog: task $i: no problem timed (kgen tune exit $rc): nothing to export" >&2
		return $((rc ? rc : 1))
	fi
	# Written under another name and renamed: the merge never sees half a pack.
	"$kgen" pack export --gpu "$gpu" --sm "$sm" --cache "$cache" -o "$work/shard-$i.kgenpack.part" >&2 &&
		mv "$work/shard-$i.kgenpack.part" "$work/shard-$i.kgenpack" || return 1
	return $rc
}

# merge N
merge() {
	local n=$1 out=$work/${KGEN_PRESET_OUT:-preset.kgenpack} packs=() tasks i rc
	tasks=${KGEN_PRESET_TASKS:-$(seq 0 $((n - 1)))}
	for i in $tasks; do
		if [ -f "$work/shard-$i.kgenpack" ]; then
			packs+=("$work/shard-$i.kgenpack")
		else
			echo "$prog: task $i left no pack (see '$work/shard-$i.log')" >&2
		fi
	done
	[ ${#packs[@]} -gt 0 ] || die "no pack of any task in '$work'"
	rm -f "$out"
	if [ ${#packs[@]} = 1 ]; then
		cp "${packs[0]}" "$out" || die "cannot write '$out'"
	else
		"$kgen" pack merge "${packs[@]}" -o "$out" >&2 || die "cannot merge the packs of '$work'"
	fi
	"$kgen" pack verify "$out" >"$work/verify.log" 2>&1
	rc=$?
	tail -1 "$work/verify.log" >&2
	[ $rc = 0 ] || [ $rc = 3 ] || die "'$out' failed verification (see '$work/verify.log')"
	if ! command -v python3 >/dev/null; then
		echo "$prog: note: no python3: the pack's problems were not compared with the preset's" >&2
		return 0
	fi
	for i in $tasks; do
		"$kgen" tune --preset "$preset" --shard "$i/$n" --list --json "${tune_args[@]}" ||
			die "cannot list shard $i/$n of preset '$preset'"
	done >"$work/problems.jsonl"
	"$kgen" pack ls "$out" --json >"$work/ls.json" || die "cannot list '$out'"
	python3 - "$work/problems.jsonl" "$work/ls.json" <<'EOF' || die "'$out' does not hold exactly the problems of preset '$preset' ($n shards)"
# The problems of the shards against the pack's records: the same keys
# (op, pass, dtype, cols, options, rows bucket), each once.
import json, sys
def bucket(rows):
    b = 1
    while b < rows:
        b <<= 1
    return b
want = set()
for line in open(sys.argv[1]):
    p = json.loads(line)
    want.add((p["op"], p["pass"], p["dtype"], p["cols"], p["options"], bucket(p["rows"])))
recs = json.load(open(sys.argv[2]))["records"]
have = [(r["op"], r["pass"], r["dtype"], r["cols"], r["options"], r["rows_bucket"]) for r in recs]
name = lambda k: "%s %s %s cols %d %s rows %d" % k
bad = 0
for k in sorted(want - set(have)):
    print("kgen-preset: missing: " + name(k), file=sys.stderr)
    bad += 1
for k in sorted(set(have) - want):
    print("kgen-preset: not in the preset: " + name(k), file=sys.stderr)
    bad += 1
for k in sorted({k for k in have if have.count(k) > 1}):
    print("kgen-preset: twice: " + name(k), file=sys.stderr)
    bad += 1
print("kgen-preset: %d problems in the shards, %d records in the pack, %d differences" % (len(want), len(have), bad),
      file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
	echo "$prog: wrote '$out'"
}

[ -n "$work" ] || die "KGEN_PRESET_WORK is not set (the job's shared folder)"
case "${1:-}" in
task)
	[ $# = 3 ] && is_count "$2" && is_count "$3" && [ "$2" -lt "$3" ] || usage
	task "$2" "$3"
	;;
merge)
	[ $# -le 2 ] || usage
	n=${2:-$(cat "$work/shards" 2>/dev/null)} || die "no task has run in '$work' (no '$work/shards'): give N"
	is_count "$n" && [ "$n" -gt 0 ] || usage
	merge "$n"
	;;
*) usage ;;
esac
