#!/bin/bash
# tree_unregistered.sh - a tree member whose live child runs without libckpt
# (here: exec'd with LD_PRELOAD removed) cannot be restored, so its
# checkpoint must fail at checkpoint time, naming the child, and commit
# nothing (docs/process-trees.md, "Checked at checkpoint time"); before the
# check, the generation committed and only 'ckpt restart' refused it.
#
#   tree_unregistered.sh CKPT
#
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-unreg
tree_cleanup_extra() { pkill -9 -f "sleep 6[0-9][0-9]\.$$" 2>/dev/null; }

# The root (bash, under libckpt) starts a child that drops LD_PRELOAD before
# it execs sleep: a live child with no image. A unique argument names it.
"$ckpt" run -- bash -c "env -u LD_PRELOAD sleep 600.$$ & echo started; wait" >"$work/out" 2>&1 &
runpid=$!
deadline=$((SECONDS + 60))
until grep -q '^started' "$work/out" && pgrep -f "^sleep 600\.$$" >/dev/null; do
	kill -0 "$runpid" 2>/dev/null || fail "ckpt run ended before its child started"
	((SECONDS < deadline)) || fail "the child did not start within 60 s"
	sleep 0.1
done

# The root may still be registering: that abort ("registered during the
# checkpoint") is retried; not the refusal this test expects, which also
# says "would be missing from". Any other outcome is checked below.
tree_checkpoint_refused "registered during the checkpoint"
grep -q "a child of participant pid [0-9]*, has not registered and would be missing" "$work/ckpt.out" ||
	fail "the checkpoint failed without naming the unregistered child: $(cat "$work/ckpt.out")"
grep -q "pid [0-9]* (sleep)" "$work/ckpt.out" ||
	fail "the message does not name the child's command (sleep): $(cat "$work/ckpt.out")"
tree_refused_after
echo "ok: refused at checkpoint time, nothing committed, the tree runs on"
