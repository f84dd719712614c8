#!/bin/bash
# write_path.sh - a process writes its image only as a new file in its own
# CKPT_DIR/gen-N.tmp/, whatever path the agent's "write" names: a path
# outside, a traversal, a symlinked gen directory, an existing file or a
# symlink at the image path are refused with an "error" that reaches the
# agent, nothing is created or changed there, and the process runs on.
#
#   write_path.sh LIBCKPT AGENT WAITPROG
set -u
lib=$1 agent=$2 prog=$3
W=$(mktemp -d /tmp/ckpt-wpath.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; [ -f "$W/log" ] && cat "$W/log"; exit 1; }
J=$W/job
mkdir -p "$J" "$W/attacker" "$W/other/gen-1.tmp"

# One attempt: the final checkpoint's write names $1; the process must
# refuse it, survive, and end when told to.
refused() {
	local path=$1
	rm -f "$W/stop" "$W/log"
	"$agent" --sock "$W/s" --image "$J/img" --preload "$lib" --delay 0 \
		--bad-path "$path" -- "$prog" "$W/stop" >"$W/out" 2>"$W/log" &
	local pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q 'refused:' "$W/log" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	touch "$W/stop"
	wait $pid
	local rc=$?
	grep -q 'test-agent: refused: refusing to write\|test-agent: refused: cannot create' "$W/log" ||
		fail "write to $path was not refused (status $rc)"
	[ $rc -eq 0 ] && grep -qx done "$W/out" ||
		fail "process did not run on after refusing $path (status $rc)"
	echo "ok: $path: $(sed -n 's/^test-agent: refused: //p' "$W/log")"
}

# Outside the gen directory, in another directory, by traversal.
refused "$W/victim.img"
[ ! -e "$W/victim.img" ] || fail "victim.img was created"
refused "$J/0.0.img"
[ ! -e "$J/0.0.img" ] || fail "$J/0.0.img was created"
refused "$W/other/gen-1.tmp/0.0.img"
[ ! -e "$W/other/gen-1.tmp/0.0.img" ] || fail "image created in another job's directory"
mkdir "$J/gen-1.tmp"
refused "$J/gen-1.tmp/../victim.img"
refused "$J/gen-1.tmp/../../other/gen-1.tmp/0.0.img"
[ ! -e "$W/other/gen-1.tmp/0.0.img" ] || fail "image created through .."
refused "$J/gen-2.tmp/0.0.img"
refused "$J/gen-1.tmp/.profile"
[ ! -e "$J/gen-1.tmp/.profile" ] || fail ".profile was created"
rmdir "$J/gen-1.tmp"

# A symlinked gen directory (another user's directory, say).
ln -s "$W/attacker" "$J/gen-1.tmp"
refused "$J/gen-1.tmp/0.0.img"
[ -z "$(ls -A "$W/attacker")" ] || fail "something was written through the symlink"
rm "$J/gen-1.tmp"

# An existing file, and a symlink, at the image path.
mkdir "$J/gen-1.tmp"
echo keep >"$J/gen-1.tmp/0.0.img"
refused "$J/gen-1.tmp/0.0.img"
[ "$(cat "$J/gen-1.tmp/0.0.img")" = keep ] || fail "existing file was overwritten"
rm "$J/gen-1.tmp/0.0.img"
ln -s "$W/attacker/target" "$J/gen-1.tmp/0.0.img"
refused "$J/gen-1.tmp/0.0.img"
[ ! -e "$W/attacker/target" ] || fail "image written through a symlink"
rm -r "$J/gen-1.tmp"

# The right path still works: a final checkpoint into gen-1.tmp.
rm -f "$W/stop"
"$agent" --sock "$W/s" --image "$J/img" --preload "$lib" --delay 0 -- "$prog" "$W/stop" \
	>"$W/out" 2>"$W/log"
rc=$?
[ $rc -eq 10 ] && [ -s "$J/img" ] || fail "a checkpoint into gen-1.tmp failed (status $rc)"
echo "ok: checkpoint into $J/gen-1.tmp accepted"
