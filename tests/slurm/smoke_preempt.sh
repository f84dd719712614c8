#!/usr/bin/env bash
# A job in 'low' is requeued when a job in 'high' needs its nodes, and its
# second start sees SLURM_RESTART_COUNT=1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir preempt

cat >low.sh <<'JOB'
#!/bin/bash
echo "start restart_count=${SLURM_RESTART_COUNT:-0}"
[ "${SLURM_RESTART_COUNT:-0}" -ge 1 ] && exit 0
while :; do sleep 1; done
JOB
chmod 755 low.sh
low=$(as_user sbatch --parsable -p low -N2 --exclusive --requeue --open-mode=append -o low.out low.sh)
wait_job_state "$low" RUNNING 60
wait_file_grep low.out "restart_count=0" 30

high=$(as_user sbatch --parsable -p high -N2 --exclusive -o high.out --wrap 'echo high ran on $SLURM_JOB_NODELIST')
# Preemption comes at the next scheduling pass plus at most GraceTime (30 s).
wait_file_grep low.out "DUE TO PREEMPTION" 120
wait_job_done "$high" 60
grep -q "high ran on cn\[1-2\]" high.out || fail "high job output unexpected: $(cat high.out)"
wait_file_grep low.out "restart_count=1" 120
wait_job_done "$low" 60
[ "$(job_field "$low" Restarts)" = 1 ] || fail "low job Restarts=$(job_field "$low" Restarts), want 1"
echo "ok: low job $low preempted by $high, requeued, restarted once"
