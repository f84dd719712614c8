#!/bin/bash
# memfd_refused.sh - a shared mapping whose object cannot come back is
# refused at checkpoint time, naming the process, the address range, the
# object and what to do (docs/engine.md, "Memory areas"): the checkpoint
# commits nothing and the program runs on.
#
#   memfd_refused.sh CKPT T_MEMFD MODE
#
# MODE sysv: a System V shared memory segment; MODE deleted: a file of the
# test's own directory (not /dev/shm) mapped shared, then unlinked; MODE
# tree: a memfd descriptor a child inherited over fork.
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2 mode=$3
. "$(dirname "$0")/tree_lib.sh"
tree_setup "memfd-refused-$mode"

if [ "$mode" = sysv ] || [ "$mode" = tree ]; then
	tree_run_until_ready "$ckpt" "$prog" "$mode"
else
	mkdir -p "$work/files"
	tree_run_until_ready "$ckpt" "$prog" deleted "$work/files"
fi
# "ready: 0xADDR [PATH]" or, MODE tree, "ready: FD CHILD"
read -r _ addr path < <(grep '^ready' "$work/out")
[ "$mode" = tree ] || addr=$(printf '%#x' "$addr")

tree_checkpoint_refused
if [ "$mode" = tree ]; then
	grep -qE "libckpt\[[0-9]+\].*fd $addr: memfd /memfd:t_memfd_tree is shared with fd $addr of process $path of the tree, which cannot be restored shared: checkpoint refused; let one process close it, or create it after fork\(\)" "$work/out" ||
		fail "no message names fd $addr, the memfd, the child $path sharing it and what to do"
elif [ "$mode" = sysv ]; then
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: area $addr-0x[0-9a-f]+ mapped shared: checkpoint refused: System V shared memory is not restored \(use shm_open\(\) or MAP_SHARED\|MAP_ANONYMOUS instead\): /SYSV[0-9a-f]+ \(deleted\)" "$work/out" ||
		fail "no message names the process, the SysV area at $addr and what to do"
else
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: area $addr-0x[0-9a-f]+ mapped shared: checkpoint refused: the contents of a deleted file outside /dev/shm cannot be saved \(keep the file linked while it is mapped, or use memfd_create\(\) or shm_open\(\)\): $path \(deleted\)" "$work/out" ||
		fail "no message names the process, the deleted file $path mapped at $addr and what to do"
fi
tree_refused_after
echo "ok: refused at checkpoint time, named, nothing committed, the program runs on"
