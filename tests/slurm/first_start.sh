#!/usr/bin/env bash
# The first-start rule (issue 12, item 3): a job on its first start (restart
# count 0 at slurmctld) restores nothing, even when its checkpoint directory
# holds a generation that passes every other check: written for this job id
# and this submission (its job instance), with a verifying image of the
# very step and rank that starts.
# Such a generation is made within one first start: step 0 of the job is
# checkpointed (gen-1, the job's own), gen-1 is copied as gen-2 with its
# image renamed for step 1, rank 0, and step 0 is cancelled, so that the
# batch script starts step 1. Step 1 must say it starts for the first time
# and does not restore gen-2, and run from the beginning to its end.
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
ckpt=$(realpath "$2")
make_workdir first-start
ckdir=$workdir/ckpt

cat >job.sh <<JOB
#!/bin/bash
srun -n1 -o step0.txt $counter 100000 100
echo "step 0 ended: \$?"
srun -n1 -o step1.txt $counter 20 100
JOB
chmod 755 job.sh
"$counter" 20 0 >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$ckdir" -o job.txt job.sh)
trap 'scancel "$job" 2>/dev/null || true' EXIT
jobdir=$ckdir/$job
echo "job $job submitted"
wait_job_state "$job" RUNNING 120
wait_file_grep step0.txt '^5 ' 60

gen1=$(as_user "$ckpt" checkpoint "$job" 2>ckpt-err.txt) ||
	fail "ckpt checkpoint $job failed: $(cat ckpt-err.txt)"
[ "$(realpath "$gen1")" = "$(realpath "$jobdir/gen-1")" ] || fail "ckpt checkpoint printed '$gen1', expected $jobdir/gen-1"
as_user "$ckpt" inspect --verify "$jobdir/gen-1/0.0.img" >/dev/null ||
	fail "gen-1's image of step 0 does not verify"

# gen-2: gen-1 (this job's id and instance) with its image made step 1's.
as_user cp -r "$jobdir/gen-1" "$jobdir/gen-2"
as_user mv "$jobdir/gen-2/0.0.img" "$jobdir/gen-2/1.0.img"
as_user python3 - "$jobdir/gen-2/MANIFEST.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["gen"] = 2
m["images"] = [dict(i, file="1.0.img", step=1) for i in m["images"] if i["step"] == 0 and i["rank"] == 0]
json.dump(m, open(sys.argv[1], "w"))
PY
as_user "$ckpt" list "$jobdir" --json >list.json
jq -e \
	'any(.[]; .gen == 2 and .error == null and .images == 1)' list.json >/dev/null ||
	fail "the planted gen-2 is not a valid generation for ckpt list: $(cat list.json)"
instance=$(jq -r '.job_instance // empty' "$jobdir/gen-2/MANIFEST.json")
[ -n "$instance" ] || fail "gen-1 names no job instance: the test proves nothing"
[ "$(jq -r .job "$jobdir/gen-2/MANIFEST.json")" = "$job" ] ||
	fail "gen-1 does not name job $job: $(head -c 300 "$jobdir/gen-2/MANIFEST.json")"
echo "gen-2 planted: job $job, instance $instance, image 1.0.img"

scancel "$job.0"
# Step 1 says at its start whether it restores: a restored counter would
# count on for hours, so look before waiting for the job's end.
wait_file_grep step1.txt 'starts for the first time\|resumes from gen-' 120
! grep -q 'resumes from gen-' step1.txt || fail "step 1 restored on the job's first start: $(grep -v '^[0-9]' step1.txt | head -n 3)"
wait_job_done "$job" 120
[ "$(job_field "$job" Restarts)" = 0 ] || fail "job $job was restarted: the test is about a first start"
echo "step 1 output:"
sed 's/^/  | /' step1.txt
grep -q "job $job starts for the first time (restart count 0 at slurmctld): gen-2 in $jobdir is not its own and is not restored; step 1 task 0 starts from the beginning" step1.txt ||
	fail "step 1 did not say it starts for the first time without gen-2"
! grep -q 'resumes from gen-' step1.txt || fail "step 1 restored on the job's first start: $(grep 'resumes from' step1.txt)"
grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' step1.txt >step1-app.txt || true
diff -q ref.txt step1-app.txt >/dev/null ||
	fail "step 1 did not run from the beginning to its end: $(diff ref.txt step1-app.txt | head -n 5)"
echo "ok: job $job: step 1 did not restore its own job's gen-2 on the job's first start"
