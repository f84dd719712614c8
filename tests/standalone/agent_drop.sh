#!/bin/bash
# agent_drop.sh - the agent hangs up while the application is quiesced: the
# process must release its threads, keep running and produce exactly the
# output of an uninterrupted run.
#
#   agent_drop.sh LIBCKPT AGENT PROG
set -u
lib=$1 agent=$2 prog=$3
work=$(mktemp -d /tmp/ckpt-drop.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$prog" >"$work/ref" || { echo "reference run failed"; exit 1; }
# The drop comes once the program printed its first line: it is running,
# whatever the load.
"$agent" --sock "$work/s" --image "$work/img" --preload "$lib" \
	--progress "$work/out" --at-line 1 --delay 0 --drop -- "$prog" >"$work/out" 2>"$work/log"
rc=$?
[ $rc -eq 0 ] || { echo "program ended with status $rc"; cat "$work/log"; exit 1; }
cmp -s "$work/ref" "$work/out" || { echo "output differs"; cat "$work/log"; exit 1; }
grep -q "lost the agent connection" "$work/log" || { echo "no warning logged"; cat "$work/log"; exit 1; }
echo "ok: agent hung up during a checkpoint; program finished normally"
