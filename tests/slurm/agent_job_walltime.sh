#!/usr/bin/env bash
# ckpt-agent in job mode against a real job (no SPANK plugin): the agent,
# started by hand as the job user with --job, checkpoints the job's program
# before the time limit (trigger walltime, the program exits 85), shrinks
# the NERSC time comment by this start's run time, requeues the job, and
# exits once its processes are gone.
#   agent_job_walltime.sh CKPT_AGENT CKPT LIBCKPT_SO COUNTER
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_job_lib.sh"
agent_job_init "$@" agent-walltime

agent_job_script job.sh
job=$(as_user sbatch --parsable -N1 --requeue --time=2 --comment=0:10:00 \
	--open-mode=append -o out.txt job.sh)
wait_job_state "$job" RUNNING 60
start=$(date -d "$(job_field "$job" StartTime)" +%s)
agent_job_start "$job" --margin 100

wait_file_grep agent.stderr "final checkpoint planned at" 20
wait_file_grep agent.stderr "registered pid" 60
as_user "$cli" status --dir "$dir" | grep -q "^job: *$job" || fail "ckpt status shows no job"
as_user "$cli" status --dir "$dir" | grep -q "^next: *checkpoint at" ||
	fail "ckpt status shows no next checkpoint: $(as_user "$cli" status --dir "$dir")"
# Limit 120 s, margin 100 s: the checkpoint comes about 20 s into the run.
wait_file_grep agent.stderr "final checkpoint (walltime) committed" 90
wait_file_grep agent.stderr "job $job requeued" 10
# The program exits (85) right after the commit; the requeue that follows at
# once may kill the batch shell before it can say so, hence the agent's view.
wait_file_grep agent.stderr "(counter) left" 30
agent_job_wait_exit 30

# Generation 1, taken for the walltime, before the limit.
list=$(as_user "$cli" list "$dir" --json)
echo "$list" | grep -q '"trigger": *"walltime"' || fail "no walltime generation: $list"
[ -f "$dir/gen-1/MANIFEST.json" ] || fail "no gen-1: $(ls "$dir")"
taken=$(echo "$list" | sed -n 's/.*"time": *\([0-9]*\).*/\1/p' | head -n 1)
((taken > 0 && taken < start + 120)) || fail "gen-1 taken at $taken, limit at $((start + 120))"

# The comment: 10 min minus this start's run time (about 20 s), hours form.
comment=$(job_field "$job" Comment)
[[ "$comment" =~ ^([0-9]+):([0-9]{2}):([0-9]{2})$ ]] || fail "comment '$comment' is not HH:MM:SS"
left=$((10#${BASH_REMATCH[1]} * 3600 + 10#${BASH_REMATCH[2]} * 60 + 10#${BASH_REMATCH[3]}))
((left >= 480 && left < 600)) || fail "comment $comment: expected 8-10 min left"
grep -q "comment 0:10:00 -> $comment" agent.stderr || fail "agent did not log the comment change"

# Requeued once, and the second start runs to its end.
wait_job_done "$job" 120
restarts=$(job_field "$job" Restarts)
[ "$restarts" = 1 ] || fail "job $job: Restarts=$restarts, expected 1"
grep -q "start 1: done" out.txt || fail "second start did not run: $(cat out.txt)"
trap - EXIT
echo "ok: job $job checkpointed at $taken (limit $((start + 120))), comment 0:10:00 -> $comment, requeued once"
