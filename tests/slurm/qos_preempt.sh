#!/usr/bin/env bash
# Preemption by QOS (production configuration: PreemptType=preempt/qos): a
# NERSC-style flex job (--qos=preempt --time-min) of 4 tasks on cn1+cn2
# under --checkpoint=auto is preempted by a job of QOS 'normal'. The QOS
# 'preempt' gives it a GraceTime of 30 s: libckpt holds back the SIGTERM and
# the coordinator takes a final checkpoint (trigger "preempt"); Slurm
# requeues the job; after the normal job it resumes from that generation and
# every task ends with the output of an uninterrupted run. The accounting
# database holds both starts, of QOS preempt.
# Arguments: the counter program, the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/production_lib.sh"
require_cluster
require_production
make_workdir qos-preempt
counter=$1
ckpt=$2
steps=120

"$counter" "$steps" 0 >ref.txt
flex=$(as_user sbatch --parsable --qos=preempt --time=10 --time-min=2 -N2 -n4 --exclusive \
	--checkpoint=auto --checkpoint-dir="$workdir/ckpt" --requeue --open-mode=append -o flex.out \
	--wrap "srun -N2 -n4 --open-mode=append -o task-%t.txt $counter $steps 500")
trap 'scancel "$flex" ${normal:-} 2>/dev/null || true' EXIT
echo "flex job $flex (--qos=preempt --time-min=2) submitted"
wait_job_state "$flex" RUNNING 180
[ "$(job_field "$flex" QOS)" = preempt ] || fail "job $flex has QOS $(job_field "$flex" QOS), not preempt"
for t in 0 1 2 3; do wait_file_grep "task-$t.txt" '^20 ' 60; done

normal=$(as_user sbatch --parsable --qos=normal -N2 --exclusive -o normal.out \
	--wrap 'echo normal ran on $SLURM_JOB_NODELIST')
echo "normal job $normal submitted"
wait_tasks_preempted 4
wait_job_done "$normal" 120
grep -q "normal ran on cn\[1-2\]" normal.out || fail "normal job output unexpected: $(cat normal.out)"

follow_job "$flex" 400
[ "$(job_field "$flex" Restarts)" -ge 1 ] || fail "flex job was not restarted"
expect_preempt_resumed "$flex" 4
wait_sacct_runs "$flex" $(($(job_field "$flex" Restarts) + 1)) 60
echo "sacct --duplicates -j $flex (start|end|state|qos):"
sed 's/^/    /' <<<"$sacct_lines"
if grep -v -q '|preempt$' <<<"$sacct_lines"; then
	fail "a start of job $flex is not of QOS preempt: $sacct_lines"
fi
echo "ok: flex job $flex preempted by QOS normal job $normal, checkpointed in its GraceTime, requeued, resumed, 4 tasks correct"
