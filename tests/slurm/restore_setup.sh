#!/usr/bin/env bash
# A task the plugin restores gets the set-up slurmstepd gives a fresh task
# of the same start: TaskProlog runs (here the user's --task-prolog) and
# its exports reach the process, TMPDIR is this start's and exists, the
# user's propagated limits are this start's, SLURM_RESTART_COUNT is the new
# one; all merged into the saved process's own environment, which it keeps
# otherwise (it is restored, not restarted: its running checksum goes on).
# The job's first start and its requeued start differ in each of these.
# Arguments: the ckpt CLI, tests/slurm/envprobe.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ckpt=$(realpath "$1")
envprobe=$(realpath "$2")
. "$(dirname "$0")/cluster_lib.sh"
require_cluster
make_workdir restore-setup
job=
trap cluster_cleanup EXIT

steps=900 # 90 s at 100 ms a step: the restore comes well before the end
"$envprobe" "$steps" 0 | sed -E 's/^(step [0-9]+ sum [0-9a-f]+) .*/\1/' >ref.txt
cat >prolog.sh <<PROLOG
#!/bin/sh
start=\${SLURM_RESTART_COUNT:-0}
touch "$workdir/prolog-ran.\$start"
echo "export PROLOG_MARK=start\$start"
PROLOG
cat >job.sh <<JOB
#!/bin/bash
start=\${SLURM_RESTART_COUNT:-0}
export TMPDIR=$workdir/tmp-\$start
ulimit -Sn \$((900 + 100 * start))
echo "start \$start"
srun -n1 --task-prolog=$workdir/prolog.sh --open-mode=append -o out.txt $envprobe $steps 100
JOB
chmod 755 prolog.sh job.sh
chown "$TESTCLUSTER_USER:" prolog.sh job.sh
job=$(as_user sbatch --parsable -n1 --requeue --open-mode=append --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" -o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

wait_running "$job" 1 180
wait_lines out.txt '^step ' 20 120
grep -q "^step 1 sum [0-9a-f]* restarts - prolog start0 tmpdir $workdir/tmp-0 nofile 900\$" out.txt ||
	fail "the first start's task did not see its own set-up: $(head -n 1 out.txt)"
checkpoint_ok "$job" 1 --requeue
lines_before=$(grep -c '^step ' out.txt)

wait_restarted "$job" 1 300
wait_job_done "$job" 300

resume=$(grep -n '^slurm-ckpt: step 0 task 0 resumes from gen-1' out.txt | cut -d: -f1)
[ -n "$resume" ] || fail "the task did not resume from gen-1: $(grep slurm-ckpt out.txt | head -n 5)"
tail -n +"$((resume + 1))" out.txt | grep '^step ' >after.txt || true
[ -s after.txt ] || fail "no step printed after the restore: $(tail -n 5 out.txt)"
first=$(head -n 1 after.txt | cut -d' ' -f2)
[ "$first" -ge 2 ] && [ "$first" -le "$((lines_before + 1))" ] ||
	fail "the task went on at step $first (the first start printed $lines_before): restarted, not restored"
want="restarts 1 prolog start1 tmpdir $workdir/tmp-1 nofile 1000"
bad=$(grep -v -m 1 -- " $want\$" after.txt || true)
[ -z "$bad" ] || fail "a restored step does not show this start's set-up ($want): $bad"
[ -e prolog-ran.1 ] || fail "TaskProlog did not run for the restored task (no prolog-ran.1)"
[ -d tmp-1 ] || fail "slurmstepd did not create the restored task's TMPDIR $workdir/tmp-1"

# The computation itself is the uninterrupted one.
{
	grep '^step ' out.txt | sed -n "1,$((first - 1))p"
	cat after.txt
} | sed -E 's/^(step [0-9]+ sum [0-9a-f]+) .*/\1/' >app.txt
grep '^done ' out.txt >>app.txt
diff -q ref.txt app.txt >/dev/null || fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 6)"
echo "ok: job $job: the restored task saw TaskProlog's export, TMPDIR, limits and restart count of its new start; output intact"
