#!/bin/bash
# rtld_lock.sh - a process checkpointed while a thread holds one of ld.so's
# recursive locks must run on after its restore: the lock records its owner's
# tid, which the restore changes (libckpt/quiesce.c). t_rtld_lock --hold stays
# inside dl_iterate_phdr()'s callback (lock held) until it runs restored; the
# checkpoint comes once it printed that it is there, so it provably holds the
# lock whatever the load.
#
#   rtld_lock.sh LIBCKPT RESTORE AGENT PROG
set -u
lib=$1 restore=$2 agent=$3 prog=$4
work=$(mktemp -d /tmp/ckpt-rtldlock.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; cat "$work/log"; exit 1; }

"$prog" >"$work/ref" || fail "reference run failed"
lines=$(wc -l <"$work/ref")
"$agent" --sock "$work/s0" --image "$work/img" --preload "$lib" --delay 0 \
	--progress "$work/out" --at-line 1 -- "$prog" --hold >"$work/out" 2>"$work/log"
rc=$?
[ $rc -eq 10 ] || fail "checkpoint inside the callback failed (status $rc)"
# A restored process that hangs on the lock prints nothing more: the agent
# kills it after 60 s without its last line (status 3).
"$agent" --sock "$work/s1" --image "$work/img2" --progress "$work/out" --at-line "$lines" \
	--progress-timeout 60000 -- "$restore" "$work/img" --agent "$work/s1" \
	>>"$work/out" 2>>"$work/log"
rc=$?
[ $rc -ne 3 ] || fail "the restored process hung: $(wc -l <"$work/out") of $lines lines"
cmp -s "$work/ref" "$work/out" || { diff "$work/ref" "$work/out"; fail "output differs"; }
[ $rc -eq 0 ] || fail "restored run ended with status $rc"
echo "ok: restored inside dl_iterate_phdr(); $lines lines as the reference"
