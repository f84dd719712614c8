#!/bin/bash
# tree_member_killed.sh - a tree member killed (SIGKILL: no "leave") is
# reported by the agent for what it means in a tree: the next checkpoints
# go on without it (its parent reaped it, or holds it as a zombie in its
# tree record). The agent once said "checkpoints of the job are refused
# until its task is back", which is true of a Slurm task, not of a tree
# member; this test checks the words and that a checkpoint then succeeds.
#
#   tree_member_killed.sh CKPT
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-member-killed
victim=
tree_cleanup_extra() { [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; }

# The root bash starts a sleep (under libckpt: a member) and, once it is
# reaped, blocks in a builtin read on a FIFO nobody writes, with no child.
mkfifo "$work/never"
"$ckpt" run -- bash -c "sleep 600.$$ & echo ready; wait; echo reaped; read -r _ <>'$work/never'" \
	>"$work/out" 2>&1 &
runpid=$!
deadline=$((SECONDS + 60))
until grep -q '^ready' "$work/out" && victim=$(pgrep -f "^sleep 600\.$$"); do
	kill -0 "$runpid" 2>/dev/null || fail "ckpt run ended before its child started"
	((SECONDS < deadline)) || fail "the child did not start within 60 s"
	sleep 0.1
done

# A checkpoint that commits: then the sleep is a registered participant
# (every live child of a member must be one). Retried while it registers.
ok=
for attempt in $(seq 10); do
	"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1 && ok=1 && break
	grep -qE "registered during the checkpoint|would be missing from" "$work/ckpt.out" ||
		fail "checkpoint: $(cat "$work/ckpt.out")"
	sleep 0.5
done
[ -n "$ok" ] || fail "no checkpoint committed in 10 attempts: $(cat "$work/ckpt.out")"

kill -9 "$victim"
deadline=$((SECONDS + 60))
until grep -qE "\(sleep\).* without exiting" "$CKPT_DIR/agent.log" 2>/dev/null && grep -q '^reaped' "$work/out"; do
	((SECONDS < deadline)) || fail "no warning about the sleep in agent.log, or the sleep not reaped, within 60 s"
	sleep 0.1
done
victim=
# Every such warning: the forked bash that executes sleep may have had
# its connection closed by the exec, as a tree member too.
line=$(grep -E " without exiting" "$CKPT_DIR/agent.log")
echo "agent: $line"
if grep -q "refused until its task is back" <<<"$line"; then
	fail "the agent says a Slurm task's words for a tree member: $line"
fi
grep -q "(sleep) of a 'ckpt run' tree closed its connection without exiting (killed, or an exec): if it ended, the next checkpoints go on without it" <<<"$line" ||
	fail "the agent's words for a killed tree member are not the expected ones: $line"

# What the words promise: the next checkpoint commits.
"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1 ||
	fail "the checkpoint after the member was killed failed: $(cat "$work/ckpt.out")"
echo "ok: a killed tree member is reported as such, and the next checkpoint commits"
