#!/bin/bash
# tree_cycles.sh - checkpoint -> kill -> restart a process tree through the
# real CLI (ckpt run / ckpt checkpoint --kill / ckpt restart) and compare its
# output with an uninterrupted run (docs/process-trees.md).
#
#   tree_cycles.sh CKPT PROG MIN_CYCLES [ARG...]
#
# PROG runs with the ARGs (e.g. PROG=/bin/bash -c 'a | b' for a pipeline).
# CKPT_LIBDIR must name the directory of libckpt.so, ckpt-restore and
# ckpt-agent. PROG prints one line per step from several processes; the
# lines of different processes interleave, so outputs are compared sorted.
# As in run_cycles.sh, the cycles are at random increasing line numbers of
# the output, each above what the output holds when the run starts, so every
# restored run provably progressed before its next checkpoint (unless the
# output already holds more than 3/4 of the reference's lines, where the
# program may be held at its gate: it is then checkpointed where it
# stands); PROG waits before its end at CKPT_TEST_END_GATE until the last
# run. CKPT_TEST_TARGETS fixes the line numbers instead (see below). Exit 0 only if
# the last run ended with status 0, its sorted output equals the reference
# and at least MIN_CYCLES cycles happened; any line starting with FAIL fails.
set -u
ckpt=$1 prog=$2 min=$3
shift 3
args=("$@")
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree
log=$work/log
fail() {
	echo "FAIL: $*"
	# CKPT_TEST_KEEP=DIR: a copy of the work directory (the agent's log,
	# the generations, the run's log and output) for a later look.
	if [ -n "${CKPT_TEST_KEEP:-}" ]; then
		mkdir -p "$CKPT_TEST_KEEP" && cp -a "$work" "$CKPT_TEST_KEEP/" &&
			echo "kept: $CKPT_TEST_KEEP/$(basename "$work")"
	fi
	echo "--- log"; cat "$log"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 40 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { echo $(((RANDOM * 32768 + RANDOM) % $1)); }
timeout_s=${PROGRESS_TIMEOUT:-120}
attempts=${CKPT_TEST_ATTEMPTS:-10}

export CKPT_TEST_END_GATE=$work/end-gate
: >"$CKPT_TEST_END_GATE"
t0=$(now_ms)
"$prog" "${args[@]}" >"$work/ref" 2>>"$log" || fail "reference run failed with status $?"
t=$(($(now_ms) - t0))
lines=$(wc -l <"$work/ref")
usable=$((lines * 3 / 4))
[ "$usable" -ge $((2 * min)) ] || fail "reference printed $lines lines: too few for $min cycles"
step_ms=$((t / lines + 1))
# CKPT_TEST_TARGETS="K1 K2 ...": these line numbers (increasing, within
# the first 3/4 of the output) instead of random ones, for a test that must
# checkpoint at given points of its program.
if [ -n "${CKPT_TEST_TARGETS:-}" ]; then
	targets=($CKPT_TEST_TARGETS)
	ncycles=${#targets[@]}
	prev=0
	for k in "${targets[@]}"; do
		[ "$k" -gt "$prev" ] && [ "$k" -le "$usable" ] ||
			fail "CKPT_TEST_TARGETS: $k is not above $prev and at most $usable"
		prev=$k
	done
	[ "$ncycles" -ge "$min" ] || fail "CKPT_TEST_TARGETS: fewer than $min lines"
else
	ncycles=$((min + $(rand $((min + 1)))))
	targets=($(shuf -i 1-"$usable" -n "$ncycles" | sort -n))
fi
echo "reference: $lines lines in $t ms; $ncycles cycles at lines ${targets[*]}" >>"$log"
rm -f "$CKPT_TEST_END_GATE"

# wait_lines K: until the output holds K lines or the run ended.
wait_lines() {
	local deadline=$(($(now_ms) + timeout_s * 1000))
	while [ "$(wc -l <"$work/out")" -lt "$1" ]; do
		kill -0 "$runpid" 2>/dev/null || return 1
		[ "$(now_ms)" -lt "$deadline" ] || fail "$work/out did not reach line $1 in $timeout_s s"
		sleep 0.01
	done
}

# wait_registered: until the agent has a process of the run registered.
wait_registered() {
	local deadline=$(($(now_ms) + timeout_s * 1000))
	until "$ckpt" status --json 2>/dev/null |
		python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["processes"] else 1)'; do
		kill -0 "$runpid" 2>/dev/null || return 1
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

: >"$work/out"
for ((n = 0; n <= ncycles; n++)); do
	[ "$n" -lt "$ncycles" ] || : >"$CKPT_TEST_END_GATE"
	if [ "$n" -eq 0 ]; then
		"$ckpt" run -- "$prog" "${args[@]}" >>"$work/out" 2>>"$log" &
	else
		"$ckpt" restart >>"$work/out" 2>>"$log" &
	fi
	runpid=$!
	if [ "$n" -lt "$ncycles" ]; then
		k=${targets[$n]}
		have=$(wc -l <"$work/out")
		[ "$k" -gt "$have" ] || k=$((have + 1))
		# Past the targets' range (a slow checkpoint let the run go on)
		# the program may be held at its end gate, where no line comes:
		# it is checkpointed where it stands, once restored processes
		# registered (the retries below cover the others).
		if [ "$k" -gt "$usable" ]; then
			k=$have
			wait_registered || fail "run $n: no process registered in $timeout_s s"
		fi
		wait_lines "$k" || fail "run $n ended before line $k"
		# A random part of a step after the line, as run_cycles.sh does.
		sleep "$(printf '0.%03d' $(($(rand "$step_ms") % 1000)))"
		# A child forked while the checkpoint runs, or just before and not
		# registered yet, makes the agent abort that generation ("... would
		# be missing from the checkpoint"): the tree runs on, and the next
		# attempt includes the child. Any other
		# failure fails the test; so do CKPT_TEST_ATTEMPTS (10) such
		# aborts in a row (interpreters that fork every few milliseconds
		# need more, docs/process-trees.md, Status).
		for attempt in $(seq "$attempts"); do
			"$ckpt" checkpoint --kill --timeout 120 >"$work/ckpt.out" 2>&1 && break
			cat "$work/ckpt.out" >>"$log"
			# Also retried, and counted in the log: a bash process of
			# tree-pipeline whose agent connection was reset right as
			# PREPARE began (2 of 55 runs on a loaded machine, cause not
			# found yet; it registers again at once). docs/process-trees.md.
			grep -qE "would be missing from|registered during the checkpoint|disconnected during prepare" "$work/ckpt.out" &&
				[ "$attempt" -lt "$attempts" ] ||
				fail "checkpoint of run $n failed (attempt $attempt)"
		done
		cat "$work/ckpt.out" >>"$log"
		wait "$runpid"
		rc=$?
		[ "$rc" -eq 85 ] || fail "run $n ended with status $rc, not 85 after checkpoint --kill"
		echo "run $n: checkpointed after line $(wc -l <"$work/out")" >>"$log"
	else
		wait "$runpid"
		rc=$?
		[ "$rc" -eq 0 ] || fail "the last run ended with status $rc"
	fi
done
runpid=
grep -q '^FAIL' "$work/out" && fail "the program reported failures"
sort "$work/ref" >"$work/ref.sorted"
sort "$work/out" >"$work/out.sorted"
diff "$work/ref.sorted" "$work/out.sorted" >"$work/diff" ||
	fail "output differs from the reference: $(head -c 2000 "$work/diff")"
# With CKPT_TEST_KEEP, the aborted generations of a passing run too.
[ -z "${CKPT_TEST_KEEP:-}" ] || { mkdir -p "$CKPT_TEST_KEEP" &&
	grep -h "aborted:" "$CKPT_DIR/agent.log" >>"$CKPT_TEST_KEEP/aborts.log"; }
echo "ok: $ncycles cycles, $lines lines"
