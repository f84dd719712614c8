#!/bin/bash
# epoll_refused.sh - an epoll that cannot come back whole is refused at
# checkpoint time, naming the process, the epoll descriptor and why
# (docs/files-and-state.md, "epoll"): the checkpoint commits nothing and
# the program runs on.
#
#   epoll_refused.sh CKPT T_EPOLL MODE
#
# MODE closed: an entry whose target descriptor was closed (its file kept
# alive by a dup); MODE shared: an epoll a child inherited over fork.
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent.
set -u
ckpt=$1 prog=$2 mode=$3
. "$(dirname "$0")/tree_lib.sh"
tree_setup "epoll-refused-$mode"
fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}

"$ckpt" run -- "$prog" "$mode" >"$work/out" 2>&1 &
runpid=$!
deadline=$((SECONDS + 60))
until grep -q '^ready' "$work/out"; do
	kill -0 "$runpid" 2>/dev/null || fail "ckpt run ended before the program was ready"
	((SECONDS < deadline)) || fail "the program was not ready within 60 s"
	sleep 0.1
done
# "ready: epoll fd E watches closed fd T" / "ready: epoll fd E shared with pid C"
read -r _ _ _ epfd _ _ _ other < <(grep '^ready' "$work/out")

# A child may still be registering: that abort is retried.
for attempt in $(seq 10); do
	"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1
	rc=$?
	grep -qE "registered during the checkpoint|would be missing from" "$work/ckpt.out" || break
	sleep 0.5
done
cat "$work/ckpt.out"
[ "$rc" -ne 0 ] || fail "the checkpoint of an epoll that cannot come back succeeded"
if [ "$mode" = closed ]; then
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $epfd: epoll entry for fd $other cannot be restored: fd $other was closed since it was added.*checkpoint refused" "$work/out" ||
		fail "no message names the process, epoll fd $epfd and closed target fd $other"
else
	grep -qE "libckpt\[[0-9]+\].*pid [0-9]+: fd $epfd: epoll is shared with pid $other \(its fd $epfd, inherited over fork\).*checkpoint refused" "$work/out" ||
		fail "no message names the process, epoll fd $epfd and pid $other sharing it"
fi
committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
[ "$committed" -eq 0 ] || fail "$committed generation(s) committed: $(ls "$CKPT_DIR")"
kill -0 "$runpid" 2>/dev/null || fail "the program did not run on after the refused checkpoint"
echo "ok: refused at checkpoint time, named, nothing committed, the program runs on"
