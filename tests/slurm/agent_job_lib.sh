# agent_job_lib.sh - shared by the agent_job_*.sh tests. Sourced after lib.sh.
# Runs ckpt-agent in job mode by hand, as the plugin would start it, against
# a job whose batch script runs the counter under libckpt.

# agent_job_init CKPT_AGENT CKPT LIBCKPT_SO COUNTER NAME: a fresh work
# directory with an empty checkpoint directory $dir.
agent_job_init() {
	agent=$1 cli=$2 lib=$3 counter=$4
	require_cluster
	make_workdir "$5"
	dir=$workdir/ckpt
	as_user mkdir "$dir"
}

# agent_job_script FILE [SHELL-LINES]: a batch script that waits for the
# agent's socket, runs the counter (long enough to outlive any limit) under
# libckpt and then sleeps, so the job is still RUNNING when the agent acts;
# SHELL-LINES run first. A requeued start only says so and ends.
agent_job_script() {
	cat >"$1" <<SCRIPT
#!/bin/bash
if [ "\${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then
	echo "start \$SLURM_RESTART_COUNT: done"
	exit 0
fi
${2:-}
deadline=\$((SECONDS + $(scaled 60)))
while [ ! -S "$dir/agent.sock" ] && [ \$SECONDS -lt \$deadline ]; do sleep 0.2; done
CKPT_AGENT_SOCKET=$dir/agent.sock CKPT_DIR=$dir LD_PRELOAD=$lib "$counter" 100000 10 >counter.out
echo "counter exit \$?"
sleep 200
SCRIPT
	chmod 755 "$1"
}

# agent_job_start JOB ARGS...: starts the agent for JOB as the job user
# (poll every 2 s), its log in agent.stderr; sets agent_pid.
agent_job_start() {
	local job=$1
	shift
	as_user env CKPT_JOB_POLL=2 "$agent" --dir "$dir" --job "$job" "$@" 2>>agent.stderr &
	agent_pid=$!
	trap 'kill $agent_pid 2>/dev/null || true; scancel '"$job"' 2>/dev/null || true' EXIT
}

# agent_job_wait_exit TIMEOUT: the agent ends by itself, cleanly, without
# leaving its socket or lock.
agent_job_wait_exit() {
	local timeout deadline rc=0
	timeout=$(scaled "$1")
	deadline=$((SECONDS + timeout))
	while kill -0 "$agent_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
	kill -0 "$agent_pid" 2>/dev/null &&
		fail "agent still running after $timeout s: $(tail -n 5 agent.stderr)"
	wait "$agent_pid" || rc=$?
	((rc == 0)) || fail "agent exited with status $rc: $(tail -n 5 agent.stderr)"
	[ ! -e "$dir/agent.sock" ] && [ ! -e "$dir/agent.lock" ] ||
		fail "agent left its socket or lock behind: $(ls "$dir")"
}
