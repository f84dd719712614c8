#!/usr/bin/env bash
# A generation of another job with the same id: after a slurmctld state
# reset, job ids start again and a new job finds in its directory the
# generations of the old job that had its id. Simulated on one job: once it
# has a committed generation it is requeued (held); a copy of its newest
# generation, whose manifest names another job instance (as the old job's
# would), is added as the newest one. On the restart the job must not
# restore it, say why, and run from the beginning to completion.
# It also checks that the first start restored nothing from a generation
# the user's own directory held before the job existed.
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
ckpt=$(realpath "$2")
make_workdir dir-reused-id
ckdir=$workdir/ckpt
steps=150 # 200 ms each: 30 s of work

# plant SRC DST INSTANCE: copies generation directory SRC to DST, as the
# job user, with job_instance INSTANCE in its manifest.
plant() {
	as_user cp -r "$1" "$2"
	as_user python3 - "$2/MANIFEST.json" "$3" <<'PY'
import json, sys
path, instance = sys.argv[1], sys.argv[2]
m = json.load(open(path))
m.pop("job_instance", None)
if instance:
    m["job_instance"] = instance
json.dump(m, open(path, "w"))
PY
}

"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$ckdir" \
	--checkpoint-interval=5s --time=10 --requeue --open-mode=append -o out.txt \
	--wrap "srun -n1 $counter $steps 200")
trap 'scancel "$job" 2>/dev/null || true' EXIT
jobdir=$ckdir/$job
echo "job $job submitted"
wait_job_state "$job" RUNNING 120
wait_job_gens "$job" "$jobdir" 1 90
requeue_held_quiet "$job" "$jobdir"
newest=$(job_gens "$jobdir" | tail -n 1)
stale=$((newest + 1))
plant "$jobdir/gen-$newest" "$jobdir/gen-$stale" 00000000000000000000000000000001
[ "$(job_gens "$jobdir" | tail -n 1)" = "$stale" ] || fail "the planted gen-$stale is not the newest: $(job_gens "$jobdir" | tr '\n' ' ')"
echo "$(date +%T) gen-$stale planted in $jobdir with another job instance"
# Kept for the second part: the restart below prunes old generations.
as_user cp -r "$jobdir/gen-$newest" "$workdir/saved-gen"
instance=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("job_instance", ""))' "$workdir/saved-gen/MANIFEST.json")

start_lines=$(wc -l <out.txt)
scontrol release "$job"
follow_job "$job" 300
tail -n +"$((start_lines + 1))" out.txt >second.txt
grep -q "gen-$stale in $jobdir is not this job's (it was written by an earlier job with the same id): not restored; step 0 task 0 starts from the beginning" second.txt ||
	fail "the restart did not say why gen-$stale is not restored; second start's output: $(grep -v '^[0-9]' second.txt | head -n 10)"
! grep -q 'resumes from gen-' second.txt ||
	fail "the restart resumed: $(grep 'resumes from' second.txt)"
grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' second.txt >second-app.txt || true
diff -q ref.txt second-app.txt >/dev/null ||
	fail "the restart did not run from the beginning to the end: $(diff ref.txt second-app.txt | head -n 5)"
echo "ok: job $job: gen-$stale of another job instance not restored, the job ran again from the beginning"

# A first start restores nothing, even from the user's own directory: the
# next job's directory gets a copy of a generation of this job's instance.
probe=$(as_user sbatch --parsable --hold -o /dev/null --wrap true)
scancel "$probe"
next=$((probe + 1))
as_user mkdir -m 700 "$ckdir/$next"
plant "$workdir/saved-gen" "$ckdir/$next/gen-1" "$instance"
job2=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$ckdir" --time=5 -o out2.txt \
	--wrap "srun -n1 $counter 20 100")
trap 'scancel "$job" "$job2" 2>/dev/null || true' EXIT
[ "$job2" = "$next" ] || fail "job id $job2, expected $next: another job was submitted meanwhile"
follow_job "$job2" 120
grep -q "job $job2 starts for the first time (restart count 0 at slurmctld): gen-1 in $ckdir/$job2 is not its own and is not restored" out2.txt ||
	fail "job $job2 did not say why it does not restore gen-1: $(grep -v '^[0-9]' out2.txt | head -n 5)"
! grep -q 'resumes from gen-' out2.txt || fail "job $job2 restored on its first start"
grep -q '^done 20 ' out2.txt || fail "job $job2 did not run to its end: $(tail -n 3 out2.txt)"
echo "ok: job $job2: nothing restored on its first start"
