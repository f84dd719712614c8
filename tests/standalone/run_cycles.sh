#!/bin/bash
# run_cycles.sh - checkpoint -> kill -> restart a program several times at
# random moments and compare its complete stdout with an uninterrupted run.
#
#   run_cycles.sh LIBCKPT RESTORE AGENT MIN_CYCLES MAX_IMAGE_MB PROG [ARG...]
#
# With NONFINAL=N in the environment, each run first takes N non-final
# checkpoints (the program goes on after each) before its final one.
# With LOAD=N, N busy loops compete for the CPUs during every run
# (the reference run included), so quiesce and restore happen under load.
# PROGRESS_TIMEOUT (seconds, default 120) bounds the wait for each run's
# progress.
#
# The checkpoint moments do not depend on the speed of the machine. PROG
# prints one line per step (and flushes it); the reference run gives the
# number of lines L. The harness picks C cycles, MIN_CYCLES <= C <=
# 2*MIN_CYCLES, and for each a line number K in the first three quarters of
# the output, increasing, each above the number of lines the output already
# holds when the run starts. Each run (the first under LD_PRELOAD, then each
# restore) is checkpointed (final) a random fraction of a step after its
# output reached line K: it provably made progress since the last restore,
# so the cycles end whatever the load. After the C-th cycle the last restore
# runs to its end. Until then the program waits before its last line
# (CKPT_TEST_END_GATE, end_gate.h): slow non-final checkpoints or a loaded
# machine cannot make a run end before its final checkpoint; a run restored
# at the gate is checkpointed there. Exit 0 only if the program ended with
# status 0, its output equals the reference, at least MIN_CYCLES cycles
# happened and no image exceeded MAX_IMAGE_MB.
set -u
lib=$1 restore=$2 agent=$3 min=$4 max_mb=$5
shift 5
work=$(mktemp -d /tmp/ckpt-standalone.XXXXXX)
burners=()
cleanup() {
	[ ${#burners[@]} -eq 0 ] || kill "${burners[@]}" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
for ((i = 0; i < ${LOAD:-0}; i++)); do
	# Each burner ends by itself after 10 minutes even if the trap is lost.
	timeout 600 bash -c 'while :; do :; done' &
	burners+=($!)
done
log=$work/log
fail() { echo "FAIL: $*"; cat "$log"; exit 1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { echo $(((RANDOM * 32768 + RANDOM) % $1)); }

# The gate is open for the reference run and the last run only.
export CKPT_TEST_END_GATE=$work/end-gate
: >"$CKPT_TEST_END_GATE"
t0=$(now_ms)
"$@" >"$work/ref" 2>>"$log"
rc=$?
t=$(($(now_ms) - t0))
[ $rc -eq 0 ] || fail "reference run failed with status $rc"
lines=$(wc -l <"$work/ref")
usable=$((lines * 3 / 4))
[ "$usable" -ge $((2 * min)) ] ||
	fail "the reference run printed $lines lines: too few steps for $min cycles"
# One step of the reference run: the random part of each checkpoint moment.
step_ms=$((t / lines + 1))

# The cycle targets: C distinct line numbers in [1, usable], increasing.
ncycles=$((min + $(rand $((min + 1)))))
targets=($(shuf -i 1-"$usable" -n "$ncycles" | sort -n))
echo "reference: $lines lines in $t ms; $ncycles cycles at lines ${targets[*]}" >>"$log"

nonfinal=${NONFINAL:-0}
progress_ms=$((${PROGRESS_TIMEOUT:-120} * 1000))

# run N CMD...: run N (0 the first, then restores) under the test agent; the
# final checkpoint of runs 0..C-1 comes after their output reached the
# line of their target. Returns the agent's status.
run() {
	local n=$1 at d have args=()
	shift
	[ "$n" -gt 0 ] || args=(--preload "$lib")
	if [ "$n" -lt "$ncycles" ]; then
		# Progress since the last restore: a line the output does not
		# hold yet.
		at=${targets[$n]}
		have=$(wc -l <"$work/out")
		[ "$at" -gt "$have" ] || at=$((have + 1))
		# A program at its end gate prints nothing more before it opens.
		[ "$at" -lt "$lines" ] || at=$((lines - 1))
		d=$(rand "$step_ms")
		args+=(--progress "$work/out" --at-line "$at" --progress-timeout "$progress_ms"
			--delay $((nonfinal * step_ms + d)))
		[ "$nonfinal" -eq 0 ] || args+=(--nonfinal "$nonfinal" --interval "$step_ms")
		echo "run $n: checkpoint ${d} ms after line $at (output holds $have)" >>"$log"
	else
		: >"$CKPT_TEST_END_GATE"
		echo "run $n: to the end" >>"$log"
	fi
	"$agent" --sock "$work/s$n" --image "$work/img" "${args[@]}" -- "$@" \
		>>"$work/out" 2>>"$log"
}

: >"$work/out"
rm -f "$CKPT_TEST_END_GATE"
cycles=0
run 0 "$@"
rc=$?
while [ $rc -eq 10 ]; do
	cycles=$((cycles + 1))
	size=$(stat -c %s "$work/img")
	[ "$size" -le $((max_mb * 1024 * 1024)) ] ||
		fail "image of cycle $cycles is $size bytes, over ${max_mb} MiB"
	# Bounded: one restore per target, the last one runs to the end.
	[ $cycles -le "$ncycles" ] || fail "cycle $cycles checkpointed, only $ncycles planned"
	run "$cycles" "$restore" "$work/img" --agent "$work/s$cycles"
	rc=$?
done
[ $rc -ne 3 ] || fail "run $cycles made no progress within ${progress_ms} ms (see above)"
[ $rc -eq 0 ] || fail "run ended with status $rc after $cycles cycles"
if ! cmp -s "$work/ref" "$work/out"; then
	echo "output differs from the uninterrupted run after $cycles cycles:"
	diff "$work/ref" "$work/out" | head -20
	fail "output differs"
fi
# The gate keeps every run but the last from ending; fewer cycles mean the
# harness or the gate is broken.
[ $cycles -ge "$min" ] || fail "only $cycles cycles (wanted $min): the program ended before its checkpoint"
grep '^ckpt:' "$log"
echo "ok: $cycles checkpoint/restart cycles, output identical"
