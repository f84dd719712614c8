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

tree_run_until_ready "$ckpt" "$prog" refuse "$work/listen.sock"
tree_checkpoint_refused
grep -q "pipe or socket shared in the process tree" "$work/ckpt.out" ||
	fail "the checkpoint failed for another reason: $(cat "$work/ckpt.out")"
grep -qE "libckpt\[[0-9]+\].*fd 32: Unix stream socket socket:\[[0-9]+\] has descriptors in flight \(SCM_RIGHTS\)" "$work/out" ||
	fail "no message names the process, fd 32, its kind and the descriptor in flight"
grep -qE "libckpt\[[0-9]+\].*fd 30: Unix stream socket at $work/listen.sock \(bound to a name" "$work/out" ||
	fail "no message names the process, fd 30 and the listening socket"
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the tree runs on"
