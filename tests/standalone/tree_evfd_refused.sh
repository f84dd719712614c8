#!/bin/bash
# tree_evfd_refused.sh - an eventfd inherited over fork() is one object held
# by two processes of the tree; libckpt cannot make it again shared, so the
# checkpoint is refused, naming the process, the descriptor, its kind and
# the other holder (docs/files-and-state.md, "eventfd, timerfd, signalfd").
# Nothing is committed and the tree runs on. The child's own timerfd is not
# named.
#
#   tree_evfd_refused.sh CKPT T_EVFD_TREE
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-evfd-refused
fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}

"$ckpt" run -- "$prog" >"$work/out" 2>&1 &
runpid=$!
deadline=$((SECONDS + 60))
until grep -q '^ready' "$work/out"; do
	kill -0 "$runpid" 2>/dev/null || fail "ckpt run ended before the program was ready"
	((SECONDS < deadline)) || fail "the program was not ready within 60 s"
	sleep 0.1
done

# The child may still be registering: that abort is retried.
for attempt in $(seq 10); do
	"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1
	rc=$?
	grep -qE "registered during the checkpoint|would be missing from" "$work/ckpt.out" || break
	sleep 0.5
done
cat "$work/ckpt.out"
[ "$rc" -ne 0 ] || fail "the checkpoint of an eventfd shared by two processes succeeded"
grep -q "capture failed" "$work/ckpt.out" ||
	fail "the checkpoint failed for another reason: $(cat "$work/ckpt.out")"
grep -qE "libckpt\[[0-9]+\].*fd 40: eventfd is shared with fd 40 of process [0-9]+ of the tree, which cannot be restored shared: checkpoint refused" "$work/out" ||
	fail "no message names the process, fd 40, its kind and the other holder"
! grep -q "fd 41: timerfd is shared" "$work/out" ||
	fail "the child's own timerfd was named as shared"
committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
[ "$committed" -eq 0 ] || fail "$committed generation(s) committed: $(ls "$CKPT_DIR")"
kill -0 "$runpid" 2>/dev/null || fail "the tree did not run on after the refused checkpoint"
echo "ok: refused at checkpoint time, named, nothing committed, the tree runs on"
