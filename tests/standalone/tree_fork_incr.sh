#!/bin/bash
# tree_fork_incr.sh CKPT PROG - a child forked under 'ckpt run' after a
# committed checkpoint holds nothing of its parent's incremental tracking
# (no userfaultfd, no pagemap file of the parent): PROG (t_fork_incr) forks
# once the test has checkpointed it, the child lists its descriptors.
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent. Fails if the parent did not use uffd-wp tracking (then the
# test would prove nothing), if the child reports a descriptor, or if the
# program does not end with status 0.
set -u
ckpt=$1 prog=$2
. "$(dirname "$0")/tree_lib.sh"
tree_setup forkincr 10
unset CKPT_INCREMENTAL
factor=${CKPT_TEST_TIME_FACTOR:-5}
fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- stderr"; tail -n 20 "$work/err" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}
# wait_grep SECONDS PATTERN FILE
wait_grep() {
	local deadline=$((SECONDS + $1 * factor))
	until grep -q -- "$2" "$3" 2>/dev/null; do
		kill -0 "$runpid" 2>/dev/null || fail "the program ended before '$2' in $3"
		((SECONDS < deadline)) || fail "no '$2' in $3 after $(($1 * factor)) s"
		sleep 0.05
	done
}

"$ckpt" run -- "$prog" "$work/gate" >"$work/out" 2>"$work/err" &
runpid=$!
wait_grep 30 '^ready' "$work/out"
"$ckpt" checkpoint --timeout 120 >"$work/ckpt.out" 2>&1 ||
	fail "the checkpoint failed: $(cat "$work/ckpt.out")"
grep -q "incremental checkpoints: uffd-wp" "$work/err" ||
	fail "the program's libckpt does not track with uffd-wp: nothing to inherit, the test proves nothing"
: >"$work/gate"
wait "$runpid"
rc=$?
runpid=
grep -q '^child checked' "$work/out" ||
	fail "the child did not check its descriptors (not under a namespace of ckpt run?)"
grep -q '^FAIL' "$work/out" && fail "the forked child holds its parent's tracking"
[ "$rc" -eq 0 ] || fail "the program ended with status $rc"
echo "ok: $(grep '^child checked' "$work/out"), none of the parent's tracking"
