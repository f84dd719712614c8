#!/bin/bash
# nonfinal_restore.sh - an image taken by a non-final checkpoint (the program
# went on and finished) restores into a process that prints exactly the rest
# of the uninterrupted output: its output is a non-empty proper suffix of the
# reference, starting at a line boundary.
#
#   nonfinal_restore.sh LIBCKPT RESTORE AGENT PROG
set -u
lib=$1 restore=$2 agent=$3 prog=$4
work=$(mktemp -d /tmp/ckpt-nonfinal.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; cat "$work/log"; exit 1; }

"$prog" >"$work/ref" || fail "reference run failed"
# The non-final checkpoint comes once the program printed its first line,
# so the image holds some output already whatever the load.
"$agent" --sock "$work/s0" --image "$work/img" --preload "$lib" --nonfinal 1 --interval 0 \
	--progress "$work/out0" --at-line 1 -- "$prog" >"$work/out0" 2>"$work/log"
[ $? -eq 0 ] || fail "checkpointed run failed"
cmp -s "$work/ref" "$work/out0" || fail "a non-final checkpoint changed the output"
[ -f "$work/img" ] || fail "no image"
"$agent" --sock "$work/s1" --image "$work/img2" -- "$restore" "$work/img" --agent "$work/s1" \
	>"$work/out1" 2>>"$work/log"
[ $? -eq 0 ] || fail "restored run failed"
ref_lines=$(wc -l <"$work/ref")
out_lines=$(wc -l <"$work/out1")
[ "$out_lines" -gt 0 ] && [ "$out_lines" -lt "$ref_lines" ] || fail "restored output has $out_lines of $ref_lines lines"
tail -n "$out_lines" "$work/ref" | cmp -s - "$work/out1" || fail "restored output is not the rest of the reference"
echo "ok: restored from a non-final image; printed the last $out_lines of $ref_lines lines"
