#!/bin/bash
# inotify_refused.sh - an inotify watch that cannot be added again is
# refused at checkpoint time, naming the process, the inotify descriptor,
# the watch descriptor and why (docs/files-and-state.md, "inotify"): the
# checkpoint commits nothing and the program runs on.
#
#   inotify_refused.sh CKPT T_INOTIFY MODE
#
# MODE renamed: a watched directory renamed away since its watch was
# added; MODE raw: a watch added by a raw system call, whose path libckpt
# never saw; MODE unread: events the program has not read; MODE shared: an
# inotify a child inherited over fork (in a tree). CKPT_LIBDIR
# must name the directory of libckpt.so, ckpt-restore and ckpt-agent.
set -u
ckpt=$1 prog=$2 mode=$3
. "$(dirname "$0")/tree_lib.sh"
tree_setup "inotify-refused-$mode"
scratch=
tree_cleanup_extra() { [ -z "$scratch" ] || rm -rf "$scratch"; }

tree_run_until_ready "$ckpt" "$prog" "$mode"
# "ready: inotify fd F wd W in DIR"
read -r _ _ _ fd _ wd _ scratch < <(grep '^ready' "$work/out")
case $scratch in /tmp/t_inotify.*) ;; *) scratch=; fail "no scratch directory in the ready line" ;; esac
tree_checkpoint_refused
case $mode in
renamed)
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $fd: inotify watch wd $wd on $scratch/sub cannot be restored: that path is gone \(renamed or deleted\).*checkpoint refused" "$work/out" ||
		fail "no message names the process, inotify fd $fd, wd $wd and the path renamed away"
	;;
raw)
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $fd: inotify watch wd $wd \(inode [0-9]+\) cannot be restored: its path is unknown.*checkpoint refused" "$work/out" ||
		fail "no message names the process, inotify fd $fd, wd $wd and its unknown path"
	;;
unread)
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $fd: inotify has [1-9][0-9]* bytes of events not read yet.*checkpoint refused" "$work/out" ||
		fail "no message names the process, inotify fd $fd and its unread events"
	;;
shared)
	# The line's "wd" is the child's pid.
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $fd: inotify is shared with pid $wd \(its fd $fd, inherited over fork\).*checkpoint refused" "$work/out" ||
		fail "no message names the process, inotify fd $fd and pid $wd sharing it"
	;;
esac
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the program runs on"
