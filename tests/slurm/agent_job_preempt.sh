#!/usr/bin/env bash
# ckpt-agent in job mode: a job in 'low' preempted by one in 'high'
# (PreemptMode=REQUEUE, GraceTime=30) is checkpointed as soon as its
# preempt_time is set (trigger preempt) and requeued once, by the agent.
#   agent_job_preempt.sh CKPT_AGENT CKPT LIBCKPT_SO COUNTER
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_job_lib.sh"
agent_job_init "$@" agent-preempt

# Slurm sends SIGTERM at the start of GraceTime: this test's counter ignores
# it (libckpt's handling of that SIGTERM is not what is tested here).
agent_job_script low.sh "trap '' TERM"
low=$(as_user sbatch --parsable -p low -N2 --exclusive --requeue --time=10 \
	--open-mode=append -o low.out low.sh)
wait_job_state "$low" RUNNING 60
agent_job_start "$low"
wait_file_grep agent.stderr "registered pid" 60

high=$(as_user sbatch --parsable -p high -N2 --exclusive -o high.out --wrap 'echo high ran')
wait_file_grep agent.stderr "preempted (preempt_time set)" 120
wait_file_grep agent.stderr "final checkpoint (preempt) committed" 30
# The processes stay stopped until Slurm ends them: the job is requeued
# first, by the agent (a job whose processes exit within GraceTime would
# end FAILED and not be requeued by Slurm), and only once (checked below).
wait_file_grep low.out "(preempt); stopping until restart (job requeued)" 30
agent_job_wait_exit 30
grep -q "job $low requeued" agent.stderr || fail "the agent did not requeue the preempted job"
as_user "$cli" list "$dir" --json | grep -q '"trigger": *"preempt"' ||
	fail "no preempt generation: $(as_user "$cli" list "$dir")"
wait_job_done "$high" 90
wait_job_done "$low" 120
[ "$(job_field "$low" Restarts)" = 1 ] || fail "low job Restarts=$(job_field "$low" Restarts), want 1"
trap - EXIT
echo "ok: job $low checkpointed at preemption, requeued once"
