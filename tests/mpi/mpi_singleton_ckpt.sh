#!/usr/bin/env bash
# An MPI program under the shadow libmpich.so.12 is checkpointed like any
# other under `ckpt run` (docs/mpi.md, "Checkpointing"): an MPICH singleton
# running mpi_cycle is checkpointed while it runs, then with --kill; `ckpt
# restart` re-creates its MPI lower half and it goes on, is checkpointed
# again, and ends with exactly the results of an uninterrupted native run.
# Standalone, no cluster.
# Arguments: the ckpt CLI, the mpi_cycle program, the shadow library's directory.
set -euo pipefail
ckpt=$1
prog=$2
shadow=$3
T=$(mktemp -d /tmp/ckpt-mpi-singleton.XXXXXX)
trap 'kill "${run:-}" 2>/dev/null || true; rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/err "$T"/ckpt/agent.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 60 "$f" >&2; }
	done
	exit 1
}
unset LD_PRELOAD LD_LIBRARY_PATH PMI_FD PMI_RANK PMI_SIZE
export CKPT_AGENT_IDLE_EXIT=10
# Waits are multiplied by CKPT_TEST_TIME_FACTOR, as in tests/slurm/lib.sh.
factor=${CKPT_TEST_TIME_FACTOR:-3}
# Not speed: the program waits before its results until $T/end-gate
# exists (end_gate.h), which the test creates after checkpoint 3, so a slow
# checkpoint on a loaded machine cannot come after the end of the run.
iters=400

# result_lines FILE: the program's final lines.
result_lines() {
	grep -E '^(rank [0-9]+ state|result) [0-9a-f]{16}$' "$1" || true
}

# wait_iter N: the program printed "iter N".
wait_iter() {
	local deadline=$((SECONDS + 60 * factor))
	until grep -q "^iter $1\$" "$T/out" 2>/dev/null; do
		((SECONDS < deadline)) || fail "no 'iter $1' after $((60 * factor)) s: $(tail -n 3 "$T/out")"
		sleep 0.1
	done
}

CKPT_TEST_END_GATE=/ "$prog" "$iters" 0 >"$T/ref.out" || fail "the native reference run failed"
export CKPT_TEST_END_GATE=$T/end-gate
result_lines "$T/ref.out" >"$T/ref.txt"
[ "$(wc -l <"$T/ref.txt")" = 2 ] || fail "reference printed $(wc -l <"$T/ref.txt") result lines"

LD_LIBRARY_PATH=$shadow "$ckpt" run --dir "$T/ckpt" -- "$prog" "$iters" 40 >"$T/out" 2>"$T/err" &
run=$!
wait_iter 20
grep -q '/libmpich.so.12.0.0' "/proc/$(pgrep -n -f "$prog $iters 40")/maps" ||
	fail "the program does not run under the shadow library"
"$ckpt" checkpoint --dir "$T/ckpt" >"$T/c1.out" 2>"$T/c1.err" ||
	fail "checkpoint 1 of the running MPI process failed: $(cat "$T/c1.err")"
wait_iter 40
"$ckpt" checkpoint --dir "$T/ckpt" --kill >"$T/c2.out" 2>"$T/c2.err" ||
	fail "checkpoint 2 (--kill) failed: $(cat "$T/c2.err")"
rc=0
wait "$run" || rc=$?
[ "$rc" = 85 ] || fail "the killed run exited $rc, expected 85"
grep -q '^result' "$T/out" && fail "the run finished before it was killed: raise iters"

LD_LIBRARY_PATH=$shadow "$ckpt" restart --dir "$T/ckpt" >>"$T/out" 2>>"$T/err" &
run=$!
wait_iter 80
"$ckpt" checkpoint --dir "$T/ckpt" >"$T/c3.out" 2>"$T/c3.err" ||
	fail "checkpoint 3, after the restart, failed: $(cat "$T/c3.err")"
: >"$CKPT_TEST_END_GATE"
rc=0
wait "$run" || rc=$?
[ "$rc" = 0 ] || fail "the restarted run exited $rc"
result_lines "$T/out" >"$T/got.txt"
diff -q "$T/ref.txt" "$T/got.txt" >/dev/null ||
	fail "results differ from the uninterrupted run: $(diff "$T/ref.txt" "$T/got.txt")"
echo "ok: MPI singleton checkpointed 3 times (once killed and restarted), results identical"
