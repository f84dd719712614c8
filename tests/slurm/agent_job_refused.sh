#!/usr/bin/env bash
# ckpt-agent in job mode: when the job's comment (total time wanted) leaves
# 60 s or less after this start, the agent takes no final checkpoint and
# does not requeue; the job runs into its limit and the agent exits when the
# job leaves RUNNING.
#   agent_job_refused.sh CKPT_AGENT CKPT LIBCKPT_SO COUNTER
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_job_lib.sh"
agent_job_init "$@" agent-refused

agent_job_script job.sh
job=$(as_user sbatch --parsable -N1 --requeue --time=1 --comment=0:00:45 \
	--open-mode=append -o out.txt job.sh)
wait_job_state "$job" RUNNING 60
agent_job_start "$job" --margin 30

wait_file_grep agent.stderr "registered pid" 60
# Limit 60 s, margin 30 s: at 30 s, 45 - 30 = 15 s would be left.
wait_file_grep agent.stderr "no final checkpoint, no requeue" 60
# The user reads the job's output, not the agent's log: it says why too.
wait_file_grep out.txt "slurm-ckpt: the total time asked for (comment 0:00:45) is used up" 10
# slurmctld enforces limits every 30 s, then KillWait.
agent_job_wait_exit 120
grep -q "job $job is TIMEOUT: exiting" agent.stderr ||
	fail "agent did not exit for the job's end: $(tail -n 3 agent.stderr)"
[ ! -e "$dir/gen-1" ] || fail "a generation was taken: $(ls "$dir")"
grep -q "requeued" agent.stderr && fail "the agent requeued the job"
[ "$(job_field "$job" Restarts)" = 0 ] || fail "job requeued: Restarts=$(job_field "$job" Restarts)"
[ "$(job_field "$job" Comment)" = 0:00:45 ] || fail "comment changed to $(job_field "$job" Comment)"
trap - EXIT
echo "ok: job $job ran into its limit without checkpoint or requeue"
