#!/bin/bash
# epoll_refused.sh - an epoll that cannot come back whole is refused at
# checkpoint time, naming the process, the epoll descriptor and why
# (docs/files-and-state.md, "epoll"): the checkpoint commits nothing and
# the program runs on.
#
#   epoll_refused.sh CKPT T_EPOLL MODE
#
# MODE closed: an entry whose target descriptor was closed (its file kept
# alive by a dup); MODE shared: an epoll a child inherited over fork.
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2 mode=$3
. "$(dirname "$0")/tree_lib.sh"
tree_setup "epoll-refused-$mode"

tree_run_until_ready "$ckpt" "$prog" "$mode"
# "ready: epoll fd E watches closed fd T" / "ready: epoll fd E shared with pid C"
read -r _ _ _ epfd _ _ _ other < <(grep '^ready' "$work/out")

tree_checkpoint_refused
if [ "$mode" = closed ]; then
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $epfd: epoll entry for fd $other cannot be restored: fd $other was closed since it was added.*checkpoint refused: remove an entry with EPOLL_CTL_DEL before closing its descriptor" "$work/out" ||
		fail "no message names the process, epoll fd $epfd and closed target fd $other, and what to do"
else
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $epfd: epoll is shared with pid $other \(its fd $epfd, inherited over fork\).*checkpoint refused: create the epoll after fork\(\), or close the child's copy" "$work/out" ||
		fail "no message names the process, epoll fd $epfd and pid $other sharing it, and what to do"
fi
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the program runs on"
