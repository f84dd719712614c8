#!/usr/bin/env bash
# Preemption through the plugin: a 'low' job of 4 tasks on cn1+cn2 under
# --checkpoint=auto is preempted by a 'high' job. Slurm sends SIGTERM at the
# start of GraceTime; libckpt holds it back and the coordinator, seeing the
# job preempted, takes a final checkpoint (trigger "preempt") within
# GraceTime. Slurm requeues the job; the high job runs; the low job resumes
# from that generation and every task ends with the output of an
# uninterrupted run.
# Independent of the machine's speed: the counter waits at its end until the
# test opens its end gate (CKPT_TEST_END_GATE), which it does only once every
# task has said it was checkpointed for the preemption; so the low job cannot
# end before Slurm gets round to preempting it, however slow that is.
# Arguments: the counter program, the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir plugin-preempt
counter=$1
ckpt=$2
steps=120

"$counter" "$steps" 0 >ref.txt
gate=$workdir/end-gate
low=$(as_user sbatch --parsable -p low -N2 -n4 --exclusive --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" --requeue --open-mode=append -o low.out \
	--wrap "CKPT_TEST_END_GATE=$gate srun -N2 -n4 --open-mode=append -o task-%t.txt $counter $steps 500")
trap 'scancel "$low" ${high:-} 2>/dev/null || true' EXIT
echo "low job $low submitted"
wait_job_state "$low" RUNNING 180
for t in 0 1 2 3; do wait_file_grep "task-$t.txt" '^20 ' 60; done

high=$(as_user sbatch --parsable -p high -N2 --exclusive -o high.out \
	--wrap 'echo high ran on $SLURM_JOB_NODELIST')
echo "high job $high submitted"
# The SIGTERM comes at the next scheduling pass; the checkpoint must be
# committed before GraceTime (30 s) ends in a SIGKILL.
wait_tasks_preempted 4
# The restored tasks may end now.
as_user touch "$gate"
wait_job_done "$high" 120
grep -q "high ran on cn\[1-2\]" high.out || fail "high job output unexpected: $(cat high.out)"

follow_job "$low" 400
[ "$(job_field "$low" Restarts)" -ge 1 ] || fail "low job was not restarted"
expect_preempt_resumed "$low" 4
echo "ok: low job $low checkpointed at preemption by $high, requeued, resumed, 4 tasks correct"
