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

tree_run_until_ready "$ckpt" "$prog"
tree_checkpoint_refused
grep -q "capture failed" "$work/ckpt.out" ||
	fail "the checkpoint failed for another reason: $(cat "$work/ckpt.out")"
grep -qE "libckpt\[[0-9]+\].*fd 40: eventfd is shared with fd 40 of process [0-9]+ of the tree, which cannot be restored shared: checkpoint refused" "$work/out" ||
	fail "no message names the process, fd 40, its kind and the other holder"
! grep -q "fd 41: timerfd is shared" "$work/out" ||
	fail "the child's own timerfd was named as shared"
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the tree runs on"
