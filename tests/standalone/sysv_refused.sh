#!/bin/bash
# sysv_refused.sh - a process that uses a System V semaphore set or message
# queue is refused at checkpoint time, naming the process, the object and
# what to do (docs/limitations.md): nothing is committed and the program
# runs on. Once the set is removed (MODE removed) it no longer counts and
# the checkpoint commits.
#
#   sysv_refused.sh CKPT T_SYSV MODE        MODE: sem | msg | removed
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2 mode=$3
. "$(dirname "$0")/tree_lib.sh"
tree_setup "sysv-refused-$mode"
id=
remove_obj() {
	[ -n "$id" ] || return 0
	case $mode in
	sem) ipcrm -s "$id" 2>/dev/null ;;
	msg) ipcrm -q "$id" 2>/dev/null ;;
	esac
}
trap 'remove_obj; tree_cleanup' EXIT

tree_run_until_ready "$ckpt" "$prog" "$mode"
read -r _ _ id < <(grep '^ready' "$work/out")
[ -n "$id" ] || fail "no id in the ready line"

if [ "$mode" = removed ]; then
	"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1 ||
		fail "the checkpoint of a process whose semaphore set is removed failed: $(cat "$work/ckpt.out")"
	committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
	[ "$committed" -eq 1 ] || fail "$committed generation(s) committed, want 1"
	echo "ok: a removed semaphore set does not stop the checkpoint"
	exit 0
fi
tree_checkpoint_refused
[ "$mode" = sem ] && what="System V semaphore set" || what="System V message queue"
grep -qE "libckpt\[[0-9]+\].*pid [0-9]+ uses $what id $id \(key 0\), which is not restored: checkpoint refused; use POSIX semaphores or message queues \(sem_open, mq_open\), or remove it \(IPC_RMID\) before the checkpoint" "$work/out" ||
	fail "no message names the process, the $what $id and what to do"
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the program runs on"
