#!/usr/bin/env bash
# The node agents under proctrack/cgroup (production configuration): agents
# started from a job's steps live in the step's cgroup, where Slurm freezes,
# signals and kills every process of the step. A --qos=preempt job goes
# through a walltime cycle (checkpoint before --time=1, requeue) and a
# preemption cycle (a QOS normal job; checkpoint in the QOS's GraceTime,
# requeue) and completes with the output of an uninterrupted run. In each
# of its first three runs the job's coordinator and node agent run, inside the
# job's cgroup; the agents of a run are gone once the next run starts, and
# every agent of the job is gone once it has ended.
# Argument: the counter program (tests/standalone/cli/counter).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/production_lib.sh"
require_cluster
require_production cgroup
make_workdir cgroup-agents
counter=$1
steps=100

# agent_cgroup PID: the freezer cgroup of PID (cgroup v1), empty if it is gone.
agent_cgroup() {
	sed -n 's/^[0-9]*:freezer://p' "/proc/$1/cgroup" 2>/dev/null || true
}

# agent_of_job PID: PID still is a ckpt-agent of the job.
agent_of_job() {
	{ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qE -- "ckpt-agent .*--job $job( |\$)"
}

# run_has_agents: the job runs (its restart count is $run) with a
# coordinator and a node agent.
run_has_agents() {
	[ "$(job_state "$job")" = RUNNING ] && [ "$(job_field "$job" Restarts)" = "$run" ] || return 1
	pgrep -af ckpt-agent | grep -E -- "--job $job( |\$)" | grep -q -- '--margin' &&
		pgrep -af ckpt-agent | grep -E -- "--job $job( |\$)" | grep -q -- '--relay'
}

# check_run RUN: waits for run RUN's agents, checks they are in the job's
# cgroup and that the previous run's agents are gone; sets run_agents.
prev_agents=
check_run() {
	run=$1
	tc_wait_for "$(scaled 120)" "run $run of job $job with its coordinator and node agent" run_has_agents ||
		fail "run $run of job $job: no coordinator and node agent (state $(job_state "$job"), restarts $(job_field "$job" Restarts)); agents: $(pgrep -af ckpt-agent || echo none)"
	run_agents=$(job_agents "$job")
	local pid cg
	for pid in $run_agents; do
		cg=$(agent_cgroup "$pid")
		case "$cg" in
		*/job_"$job"/*) echo "run $run: agent $pid in cgroup $cg" ;;
		"") ;; # ended between the listing and here (a node agent of a past step)
		*) fail "run $run: agent $pid of job $job is outside the job's cgroup: $cg" ;;
		esac
	done
	for pid in $prev_agents; do
		agent_of_job "$pid" && fail "run $run: agent $pid of the previous run still runs: $(agent_cgroup "$pid")"
	done
	prev_agents=$run_agents
}

"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable --qos=preempt --time=1 --requeue --open-mode=append \
	--comment=00:10:00 -N1 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" -o out.txt \
	--wrap "srun -n1 $counter $steps 1000")
trap 'scancel "$job" ${normal:-} 2>/dev/null || true' EXIT
echo "job $job (--qos=preempt --time=1) submitted"

check_run 0
# Run 1 starts after the walltime checkpoint and requeue.
check_run 1
wait_file_grep out.txt '^slurm-ckpt: step 0 task 0 resumes from gen-' 60
normal=$(as_user sbatch --parsable --qos=normal -N2 --exclusive -o normal.out \
	--wrap 'echo normal ran on $SLURM_JOB_NODELIST')
echo "normal job $normal submitted to preempt run 1"
wait_file_grep out.txt '^slurm-ckpt: checkpoint gen-[0-9]*, .*(preempt); stopping until restart' 120
wait_job_done "$normal" 120
check_run 2
follow_job "$job" 600

grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' out.txt >app.txt || true
diff -q ref.txt app.txt >/dev/null ||
	fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"
grep -q 'checkpoint gen-[0-9]*, .*(preempt)' out.txt || fail "no checkpoint at preemption in out.txt"

no_agents() { [ -z "$(job_agents "$job")" ]; }
tc_wait_for "$(scaled 60)" "the agents of job $job to end" no_agents ||
	fail "job $job ended but its agents still run: $(pgrep -af ckpt-agent | grep -E -- "--job $job( |\$)")"
echo "ok: job $job ran $(($(job_field "$job" Restarts) + 1)) times (walltime, preemption) under proctrack/cgroup with its agents in its cgroup; none left after it ended"
