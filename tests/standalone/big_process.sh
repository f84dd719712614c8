#!/bin/bash
# big_process.sh CKPT BENCH_MEM MIB - a process with MIB MiB resident goes
# through `ckpt run`, a non-final checkpoint, `ckpt checkpoint --kill` and
# `ckpt restart`, and must come back with its data intact. The images must
# hold the data (at least a third of it, compressed) and nothing untouched.
# gen-2 is usually incremental (docs/engine.md): it then holds only what
# changed and refers to gen-1 for the rest, which counts as held (the
# agent log's "N MiB referred to"), and the restart reads it through gen-1.
set -u
ckpt=$1 bench_mem=$2 mib=$3
work=$(mktemp -d /var/tmp/ckpt-big.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CKPT_AGENT_IDLE_EXIT=5

fail() {
	echo "FAIL: $*"
	for f in "$work"/*.err "$work"/d/agent.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
	done
	exit 1
}

wait_for() {
	local limit=$1 deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@" 2>/dev/null; do
		((SECONDS < deadline)) || fail "timed out after $limit s waiting for $what"
		sleep 0.1
	done
}

"$ckpt" run --dir "$work/d" -- "$bench_mem" "$mib" compressible "$work/stop" "$work/gap" \
	>"$work/run.out" 2>"$work/run.err" &
run_pid=$!
wait_for 300 "the process to fill $mib MiB" grep -q ready "$work/run.out"

"$ckpt" checkpoint --dir "$work/d" >"$work/c1.out" 2>"$work/c1.err" || fail "non-final checkpoint"
kill -0 "$run_pid" || fail "the process did not survive a non-final checkpoint"
"$ckpt" checkpoint --dir "$work/d" --kill >"$work/c2.out" 2>"$work/c2.err" || fail "final checkpoint"
wait "$run_pid"
rc=$?
[ $rc -eq 85 ] || fail "ckpt run returned $rc after --kill, expected 85"

size=$(stat -c %s "$work"/d/gen-2/*.img)
size1=$(stat -c %s "$work"/d/gen-1/*.img)
referred=$(sed -n 's/.*generation 2: .*, \([0-9.]*\) MiB referred to.*/\1/p' "$work/d/agent.log" |
	tail -n 1 | awk '{ printf "%d\n", $1 * 1048576 }')
referred=${referred:-0}
min=$((mib * 1024 * 1024 / 3 / 3))
max=$(((mib + 64) * 1024 * 1024))
# Referred data is raw: what gen-1 stores of it is at most gen-1's size.
held=$((size + (referred < size1 ? referred : size1)))
[ "$held" -ge "$min" ] || fail "image of $size bytes (+ $referred referred to) is too small to hold $mib MiB"
[ "$size" -le "$max" ] || fail "image of $size bytes is larger than the resident data"
"$ckpt" inspect --verify "$work"/d/gen-2/*.img >/dev/null 2>"$work/inspect.err" ||
	fail "inspect --verify refused the image"

touch "$work/stop"
"$ckpt" restart --dir "$work/d" >"$work/restart.out" 2>"$work/restart.err"
rc=$?
[ $rc -eq 0 ] || fail "restarted process exited $rc"
grep -qx intact "$work/restart.out" || fail "restored data not intact"
echo "ok: $mib MiB process checkpointed (image $size bytes, $referred bytes of gen-1 referred to) and restored intact"
