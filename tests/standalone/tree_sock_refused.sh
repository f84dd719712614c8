#!/bin/bash
# tree_sock_refused.sh - what cannot be restored of Unix sockets in a tree is
# refused at checkpoint time, naming the process, the descriptor and its
# kind (docs/process-trees.md, "Socketpairs between processes of the
# tree"): a descriptor in flight (SCM_RIGHTS) on a socketpair fails the
# checkpoint, which commits nothing, and the tree runs on; a listening
# socket bound to a path is named and would be left closed.
#
#   tree_sock_refused.sh CKPT T_SOCK_TREE
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-sock-refused
fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}

"$ckpt" run -- "$prog" refuse "$work/listen.sock" >"$work/out" 2>&1 &
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
[ "$rc" -ne 0 ] || fail "the checkpoint of a socketpair with a descriptor in flight succeeded"
grep -q "pipe or socket shared in the process tree" "$work/ckpt.out" ||
	fail "the checkpoint failed for another reason: $(cat "$work/ckpt.out")"
grep -qE "libckpt\[[0-9]+\].*fd 32: Unix stream socket socket:\[[0-9]+\] has descriptors in flight \(SCM_RIGHTS\)" "$work/out" ||
	fail "no message names the process, fd 32, its kind and the descriptor in flight"
grep -qE "libckpt\[[0-9]+\].*fd 30: Unix stream socket at $work/listen.sock \(bound to a name" "$work/out" ||
	fail "no message names the process, fd 30 and the listening socket"
committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
[ "$committed" -eq 0 ] || fail "$committed generation(s) committed: $(ls "$CKPT_DIR")"
kill -0 "$runpid" 2>/dev/null || fail "the tree did not run on after the refused checkpoint"
echo "ok: refused at checkpoint time, named, nothing committed, the tree runs on"
