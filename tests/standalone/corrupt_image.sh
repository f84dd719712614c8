#!/bin/bash
# corrupt_image.sh - a damaged image is refused with a message naming the
# file, never restored: a flipped byte in page data, a truncated file, and a
# file that is no image at all.
#
#   corrupt_image.sh LIBCKPT RESTORE AGENT PROG
set -u
lib=$1 restore=$2 agent=$3 prog=$4
work=$(mktemp -d /tmp/ckpt-corrupt.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Checkpointed once it printed its first line: it has a heap by then,
# whatever the load.
"$agent" --sock "$work/s" --image "$work/img" --preload "$lib" \
	--progress "$work/out" --at-line 1 --delay 0 -- "$prog" >"$work/out" 2>"$work/log"
[ $? -eq 10 ] || { cat "$work/log"; fail "no checkpoint taken"; }
size=$(stat -c %s "$work/img")

# refuse CASE FILE: ckpt-restore must fail cleanly and name FILE.
refuse() {
	local name=$1 file=$2 out rc
	out=$(timeout 30 "$restore" "$file" 2>&1 >/dev/null)
	rc=$?
	[ $rc -ne 0 ] || fail "$name: restored anyway"
	[ $rc -lt 124 ] || fail "$name: crashed or hung (status $rc)"
	grep -q "$file" <<<"$out" || fail "$name: message does not name the file: $out"
	echo "ok: $name refused: $(head -1 <<<"$out")"
}

cp "$work/img" "$work/flip"
# Complement the byte (writing a constant would change nothing if it
# already had that value).
old=$(od -An -tu1 -j $((size / 2)) -N1 "$work/img" | tr -d ' ')
printf "\\x$(printf %02x $((old ^ 0xff)))" |
	dd of="$work/flip" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$work/img" "$work/flip" && fail "flipping a byte changed nothing"
refuse "flipped byte" "$work/flip"

head -c $((size - 1000)) "$work/img" >"$work/trunc"
refuse "truncated" "$work/trunc"

head -c 100000 /dev/urandom >"$work/junk"
refuse "not an image" "$work/junk"

refuse "missing" "$work/none"
