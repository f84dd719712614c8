#!/bin/bash
# tree_leader_exit.sh - a child whose main thread exited while another of
# its threads runs on shows as a zombie in /proc but is not one: the
# checkpoint is refused, naming it, and nothing is committed (before, it
# was recorded as a zombie that exited with status 0, and a restart would
# have replaced the live process by that zombie).
#
#   tree_leader_exit.sh CKPT T_LEADER_EXIT
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-leader-exit

tree_run_until_ready "$ckpt" "$prog"
tree_checkpoint_refused
grep -qE "child [0-9]+ of process [0-9]+ lives on after its main thread exited" "$work/out" ||
	fail "no message names the child whose main thread exited: $(cat "$work/ckpt.out")"
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the tree runs on"
