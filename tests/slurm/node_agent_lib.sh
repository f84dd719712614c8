# shellcheck shell=bash
# node_agent_lib.sh - helpers for the tests of lost node agents
# (node_agent_*.sh). Sourced after lib.sh and cluster_lib.sh; uses $job,
# $jobdir and $workdir.

# node_agent_pid NODE: the pid of the job's live node agent of NODE (its
# lock file names it); fails when there is none. Keeps its command line and
# environment in $workdir/agent-NODE.{cmdline,environ}.
node_agent_pid() {
	local pid
	pid=$(head -n 1 "$jobdir/nodes/$1/agent.lock" 2>/dev/null || true)
	[ -n "$pid" ] && proc_alive "$pid" ||
		fail "no live node agent for $1 in $jobdir/nodes/$1/agent.lock ('$pid'): $(pgrep -af -- "ckpt-agent.*$jobdir" || echo none)"
	cat "/proc/$pid/cmdline" >"$workdir/agent-$1.cmdline"
	cat "/proc/$pid/environ" >"$workdir/agent-$1.environ"
	echo "$pid"
}

# node_agent_replaced NODE OLD TIMEOUT: a node agent other than OLD serves
# NODE, runs as the job's user with the command line and environment of the
# one killed (node_agent_pid), and the coordinator lists the four processes
# running again.
node_agent_replaced() {
	local node=$1 old=$2 deadline=$((SECONDS + $3)) t0=$SECONDS pid= uid want
	while :; do
		pid=$(head -n 1 "$jobdir/nodes/$node/agent.lock" 2>/dev/null || true)
		[ -n "$pid" ] && [ "$pid" != "$old" ] && proc_alive "$pid" && break
		((SECONDS < deadline)) || fail "no new node agent for $node $3 s after pid $old was killed;" \
			"agents: $(pgrep -af -- "ckpt-agent.*$jobdir" || echo none); log: $(tail -n 5 "$jobdir/nodes/$node/agent.log")"
		sleep 0.3
	done
	proc_alive "$old" && fail "the killed node agent (pid $old) is still alive"
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	want=$(id -u "$TESTCLUSTER_USER")
	[ "$uid" = "$want" ] || fail "the new node agent of $node (pid $pid) runs as uid $uid, not the job user's $want"
	cat "/proc/$pid/cmdline" | cmp -s - "$workdir/agent-$node.cmdline" ||
		fail "the new node agent of $node (pid $pid) runs '$(tr '\0' ' ' <"/proc/$pid/cmdline")'," \
			"not the killed one's '$(tr '\0' ' ' <"$workdir/agent-$node.cmdline")'"
	cat "/proc/$pid/environ" | cmp -s - "$workdir/agent-$node.environ" ||
		fail "the new node agent of $node (pid $pid) has another environment than the killed one"
	wait_status "$job" "(.processes | length) == 4 and all(.processes[]; .state == \"running\") and
		([.processes[] | select(.node == \"$node\")] | length) == 2" \
		"$3" "the 4 processes registered again (2 on $node)"
	echo "new node agent of $node: pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")), 4 processes after $((SECONDS - t0)) s"
}

# node_agents_gone JOB TIMEOUT: no agent of the job is left (the
# replacements went with the job) and its registry record is removed.
node_agents_gone() {
	local reg deadline=$((SECONDS + $2))
	reg=$(registry_file "$1")
	while [ -e "$reg" ] || pgrep -f -- "ckpt-agent.*$jobdir" >/dev/null; do
		((SECONDS < deadline)) || fail "$2 s after job $1 ended: registry $([ -e "$reg" ] && echo present || echo gone)," \
			"agents: $(pgrep -af -- "ckpt-agent.*$jobdir" || echo none)"
		sleep 1
	done
}
