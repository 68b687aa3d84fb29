#!/usr/bin/env bash
# test_job_array.sh KGEN MOCK_LIBCUDA SOURCE_DIR: the preset as an indexed
# job (tools/): tools/local-array.sh runs shards of --preset llm as local
# processes through the Slurm array script, on the stand-in libcuda
# (tests/stand_in_cuda.c, mock mode), and merges their packs; the merged
# pack must hold exactly the shards' problems, each verified (loaded on the
# stand-in GPU).
# The Kubernetes manifests must parse and agree with themselves, and the
# indexed Job's command, run here with JOB_COMPLETION_INDEX set, must give
# the same record as the Slurm task. Without a driver a shard is compiled
# only (exit 3) and the merge finds no pack.
#
# The subset: as many shards as the preset has problems, so that shard i is
# problem i, and the shards 63, 65 and 67 (softmax forward: bf16 and f32 at
# 1024 columns, f16 at 2048), problems the stand-in computes; --rows 64
# keeps its fp64 work small. The stand-in computes one (cols, dtype) per process:
# a wrapper of kgen sets it from the shard's --list.
set -u
# the tools of scripts/deps.sh are in .venv (PyYAML); else the system python3
py=python3
[ -x "$3/.venv/bin/python" ] && py=$3/.venv/bin/python
kgen=$1 mock=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
export KGEN_CUDA_LIBRARY=$mock KGEN_PACK_DIR= KGEN_PACK_PATH=
export KGEN_TUNE_ARGS="--rows 64 --reps 5"
tasks="63 65 67"
# one shard per problem of the preset: shard i is problem i of --list
n=$("$kgen" tune --preset llm --list | wc -l)

cat >"$tmp/kgen" <<EOF
#!/usr/bin/env bash
# kgen, with the stand-in GPU told the problem of a one-problem shard
if [ "\$1" = tune ] && [[ " \$* " =~ " --shard "([0-9]+/[0-9]+)" " ]] && [[ " \$* " != *" --list "* ]]; then
	p=\$("$kgen" tune --preset llm --shard "\${BASH_REMATCH[1]}" --list)
	read -r _ _ _ dtype cols _ <<<"\$p"
	export KGEN_MOCK_COLS=\$cols KGEN_MOCK_DTYPE=\$dtype
fi
exec "$kgen" "\$@"
EOF
chmod +x "$tmp/kgen"
export KGEN=$tmp/kgen

for f in "$src"/tools/kgen-preset.sh "$src"/tools/local-array.sh "$src"/tools/slurm/*.sbatch; do
	bash -n "$f" || fail "bash -n $f"
done

# 1. the shards as local processes (two at a time), then the merge
bash "$src/tools/local-array.sh" -p 2 -w "$tmp/work" $n $tasks >"$tmp/array.out" 2>&1
rc=$?
cat "$tmp/array.out"
[ $rc = 0 ] || fail "local-array: exit $rc"
for i in $tasks; do
	grep -q "^shard $i/$n: exit 0 after [0-9]* s: 1 problems; 1 problems: 1 tuned, 0 failed" "$tmp/array.out" ||
		fail "shard $i: $(grep "^shard $i/" "$tmp/array.out")"
	grep -q "kgen-preset: task $i of $n on " "$tmp/work/slurm-$i.out" || fail "shard $i: the sbatch script did not run the task"
done
grep -q "^3 records: 3 verified and loaded, 0 failed" "$tmp/array.out" || fail "merge: verify"
grep -q "^kgen-preset: 3 problems in the shards, 3 records in the pack, 0 differences" "$tmp/array.out" ||
	fail "merge: the check of the problems"
pack=$tmp/work/preset.kgenpack
[ -f "$pack" ] || fail "no merged pack"
[ "$(cat "$tmp/work/shards")" = "$n" ] || fail "the shard count kept: $(cat "$tmp/work/shards")"

# The pack against the preset's list, checked here as well (not only by the
# script under test): the same problems, each once, at the rows bucket 64.
for i in $tasks; do "$kgen" tune --preset llm --shard "$i/$n" --list --json --rows 64; done >"$tmp/want.jsonl"
"$kgen" pack ls "$pack" --json >"$tmp/ls.json" || fail "pack ls"
"$py" - "$tmp/want.jsonl" "$tmp/ls.json" <<'EOF' || fail "the merged pack's records are not the shards' problems"
import json, sys
want = sorted((p["op"], p["pass"], p["dtype"], p["cols"], p["options"], 64) for p in map(json.loads, open(sys.argv[1])))
assert len(want) == 3 and {w[3] for w in want} == {1024, 2048} and {w[2] for w in want} == {"bf16", "f16", "f32"}, want
recs = json.load(open(sys.argv[2]))["records"]
have = sorted((r["op"], r["pass"], r["dtype"], r["cols"], r["options"], r["rows_bucket"]) for r in recs)
assert have == want, (have, want)
assert all(r["gpu"] == "Mock GPU" and r["sm"] == 90 and r["time_us"] > 0 for r in recs), recs
EOF
"$kgen" pack verify "$pack" >"$tmp/verify.out" 2>&1 || fail "verify: exit $?: $(tail -3 "$tmp/verify.out")"
[ "$(grep -c '^ok ' "$tmp/verify.out")" = 3 ] || fail "verify: $(cat "$tmp/verify.out")"

# 2. a shard that never ran: the merge names its problem and fails
KGEN_PRESET_WORK=$tmp/work KGEN_PRESET_TASKS="$tasks 69" bash "$src/tools/kgen-preset.sh" merge >"$tmp/merge69.out" 2>&1
rc=$?
[ $rc = 1 ] || fail "merge with a shard missing: exit $rc (want 1)"
grep -q "task 69 left no pack" "$tmp/merge69.out" || fail "merge 69: no note of the task"
grep -q "missing: softmax fwd bf16 cols 4096 - rows 64" "$tmp/merge69.out" || fail "merge 69: $(cat "$tmp/merge69.out")"
KGEN_PRESET_WORK=$tmp/work bash "$src/tools/kgen-preset.sh" task 3 8 >"$tmp/other.out" 2>&1
[ $? = 1 ] && grep -q "belongs to a job of $n shards, not 8" "$tmp/other.out" || fail "a task of another job: $(cat "$tmp/other.out")"

# 3. the Kubernetes manifests: they parse, the indexed Job's shard count is
# one number, the volumes are those mounted; its command, run here with
# the index set, tunes shard 63 to the record the Slurm task found.
if "$py" -c 'import yaml' 2>/dev/null; then
	"$py" - "$src/tools/k8s" "$tmp/k8s.sh" <<'EOF' || fail "the Kubernetes manifests"
import glob, os, shlex, sys, yaml
docs = {}
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    for d in yaml.safe_load_all(open(f)):
        docs[d["metadata"]["name"]] = d
job, merge, pvc = docs["kgen-preset"], docs["kgen-preset-merge"], docs["kgen-preset-work"]
assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1", job
s = job["spec"]
assert s["completionMode"] == "Indexed" and s["completions"] >= s["parallelism"] >= 1, s
assert pvc["kind"] == "PersistentVolumeClaim" and pvc["spec"]["accessModes"] == ["ReadWriteMany"], pvc
for j in job, merge:
    pod = j["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never", pod
    vols = {v["name"]: v for v in pod["volumes"]}
    (c,) = pod["containers"]
    for m in c["volumeMounts"]:
        assert m["name"] in vols, m
    assert vols["work"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert vols["tools"]["configMap"]["name"] == "kgen-preset-tools"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["KGEN_PRESET_WORK"] == [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "work"][0]
    tools = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "tools"][0]
    assert any(tools + "/kgen-preset.sh" in a for a in c["command"]), c["command"]
(c,) = job["spec"]["template"]["spec"]["containers"]
env = {e["name"]: e["value"] for e in c["env"]}
assert int(env["KGEN_SHARDS"]) == s["completions"], (env, s)
assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
# the command as a shell line, its paths made this machine's by the test
with open(sys.argv[2], "w") as f:
    f.write(" ".join(shlex.quote(a) for a in c["command"]) + "\n")
EOF
	sed -i "s|/opt/kgen-tools|$src/tools|" "$tmp/k8s.sh"
	# the manifest's environment but the shard count, folders made local
	JOB_COMPLETION_INDEX=63 KGEN_SHARDS=$n KGEN_PRESET=llm KGEN_PRESET_WORK=$tmp/k8s KGEN_PRESET_CACHE=$tmp/k8s-cache \
		bash "$tmp/k8s.sh" >"$tmp/k8s.out" 2>&1
	rc=$?
	[ $rc = 0 ] || fail "the indexed Job's command: exit $rc: $(cat "$tmp/k8s.out")"
	best() { "$kgen" pack ls "$1" --json | "$py" -c 'import json,sys; print([(r["dtype"], r["cols"], r["config"]) for r in json.load(sys.stdin)["records"]])'; }
	[ "$(best "$tmp/k8s/shard-63.kgenpack")" = "$(best "$tmp/work/shard-63.kgenpack")" ] ||
		fail "the indexed Job's shard 63: $(best "$tmp/k8s/shard-63.kgenpack") (Slurm: $(best "$tmp/work/shard-63.kgenpack"))"
else
	echo "note: no yaml module (scripts/deps.sh installs PyYAML into .venv): the manifests were not checked"
fi

# 4. no driver: the shard is compiled only (exit 3), nothing exported
KGEN_CUDA_LIBRARY=/nonexistent/libcuda.so KGEN_TUNE_ARGS="--rows 64 --sm 90" KGEN_PRESET_WORK=$tmp/nogpu \
	KGEN_PRESET_CACHE=$tmp/cache63 bash "$src/tools/kgen-preset.sh" task 63 $n >"$tmp/nogpu.out" 2>&1
rc=$?
[ $rc = 3 ] || fail "no driver: exit $rc (want 3)"
grep -q "task 63: no problem timed (kgen tune exit 3): nothing to export" "$tmp/nogpu.out" ||
	fail "no driver: $(cat "$tmp/nogpu.out")"
[ -f "$tmp/nogpu/shard-63.kgenpack" ] && fail "no driver: a pack"

# 5. the scheduler's stop (Slurm's --signal=B:INT, a pod's SIGTERM) sent to
# the array script while kgen times (the cubins compiled above are reused;
# each launch sleeps 20 ms): kgen stops after the variant at hand, exit 143.
# (set -m: started as Slurm starts it, SIGINT not ignored as it would be in
# a background job of a script)
export KGEN_MOCK_SLEEP_US=20000
set -m
SLURM_ARRAY_TASK_ID=63 SLURM_ARRAY_TASK_COUNT=$n SLURM_SUBMIT_DIR=$src KGEN_TOOLS=$src/tools \
	KGEN_PRESET_WORK=$tmp/stop KGEN_PRESET_CACHE=$tmp/cache63 bash "$src/tools/slurm/kgen-preset.sbatch" \
	>"$tmp/stop.out" 2>&1 &
pid=$!
set +m
for _ in $(seq 300); do # until the tune has begun
	grep -q "^tuning 1 problems" "$tmp/stop/shard-63.log" 2>/dev/null && break
	sleep 0.1
done
sleep 2
kill -INT $pid
wait $pid
rc=$?
unset KGEN_MOCK_SLEEP_US
[ $rc = 143 ] || fail "stopped: exit $rc (want 143): $(cat "$tmp/stop.out")"
grep -q "1 problems: 0 tuned, 0 failed, 0 compiled but not timed, 1 not finished" "$tmp/stop.out" ||
	grep -q '"status":"stopped"' "$tmp/stop/shard-63.jsonl" || fail "stopped: $(cat "$tmp/stop.out")"

if [ "$fails" -ne 0 ]; then
	echo "test_job_array: $fails failures"
	exit 1
fi
echo "test_job_array: ok"
