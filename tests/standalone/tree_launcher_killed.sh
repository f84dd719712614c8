#!/bin/bash
# tree_launcher_killed.sh - a tree ends with the process that made its
# namespace: SIGKILL of 'ckpt run', and of 'ckpt restart', must not leave
# the init and the program running on, reparented and unwatched
# (docs/process-trees.md, "Costs and limits of the choice").
#
#   tree_launcher_killed.sh CKPT COUNTER
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 counter=$2
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-launcher-killed
tree_cleanup_extra() { [ -n "${members:-}" ] && kill -9 $members 2>/dev/null; }
fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}
# descendants PID: the pids under PID (outer pids), children first.
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}
# wait_line: until the output gains a line (the program runs).
wait_line() {
	local have deadline=$((SECONDS + 60))
	have=$(wc -l <"$work/out")
	until [ "$(wc -l <"$work/out")" -gt "$have" ]; do
		kill -0 "$runpid" 2>/dev/null || fail "$1 ended before its program printed"
		((SECONDS < deadline)) || fail "$1: no output within 60 s"
		sleep 0.05
	done
}
# kill_and_check NAME: SIGKILL of the launcher; its init and program must
# be gone within 60 s.
kill_and_check() {
	members=$(descendants "$runpid" | tr "\n" " ")
	[ "$(echo $members | wc -w)" -ge 2 ] || fail "$1: expected an init and the program under pid $runpid, found '$members'"
	kill -9 "$runpid"
	wait "$runpid" 2>/dev/null
	runpid=
	local left deadline=$((SECONDS + 60))
	while :; do
		left=
		for p in $members; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
		[ -z "$left" ] && break
		((SECONDS < deadline)) || fail "$1 was killed, but pid(s)$left of its tree still run 60 s later"
		sleep 0.1
	done
	echo "ok: SIGKILL of $1 ended its tree (pids $members)"
}

: >"$work/out"
"$ckpt" run -- "$counter" 100000 20 >>"$work/out" 2>&1 &
runpid=$!
wait_line "ckpt run"
# A generation to restart from, while the run goes on.
for attempt in $(seq 10); do
	"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1 && break
	grep -q "registered during the checkpoint" "$work/ckpt.out" || fail "checkpoint: $(cat "$work/ckpt.out")"
	sleep 0.5
done
kill_and_check "ckpt run"
"$ckpt" restart >>"$work/out" 2>&1 &
runpid=$!
wait_line "ckpt restart"
kill_and_check "ckpt restart"
