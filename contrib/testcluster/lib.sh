# lib.sh - helpers shared by up, down, status and the tests. Sourced, not run.

tc_die() {
	echo "testcluster: error: $*" >&2
	exit 1
}

tc_log() {
	echo "testcluster: $*" >&2
}

# tc_wait_for TIMEOUT_S DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it
# succeeds; on timeout prints DESCRIPTION and returns 1.
tc_wait_for() {
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "testcluster: timed out after ${timeout}s waiting for $what" >&2
			return 1
		fi
		sleep 0.5
	done
}

# tc_pid_alive PIDFILE: the pid recorded in PIDFILE is a running process.
tc_pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

tc_munge_works() {
	munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1
}

# tc_node_state NODE: the node's compact state as sinfo prints it (idle, alloc, ...).
tc_node_state() {
	sinfo -h -N -n "$1" -o '%t' 2>/dev/null | head -n 1
}

tc_nodes_idle() {
	[ "$(tc_node_state cn1)" = idle ] && [ "$(tc_node_state cn2)" = idle ]
}

# tc_running_config: loads the configuration `up` last started
# ($TESTCLUSTER_DIR/etc/testcluster.env): TESTCLUSTER_RUNNING_CONFIG
# (default | production), TESTCLUSTER_PROCTRACK, TESTCLUSTER_TASK and
# TESTCLUSTER_CGROUP_NOTE (why the cgroup plugins run or not). Returns 1
# when `up` has not written it.
tc_running_config() {
	local f=$TESTCLUSTER_DIR/etc/testcluster.env
	[ -s "$f" ] || return 1
	# shellcheck disable=SC1090
	. "$f"
}
