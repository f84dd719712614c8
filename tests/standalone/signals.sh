#!/bin/bash
# signals.sh - SIGTERM and SIGUSR1 as checkpoint triggers (libckpt/triggers.c),
# through the real CLI and engine:
#  (a) CKPT_SIGNALS=1: SIGUSR1 commits a final generation (trigger "signal"),
#      the program exits 85, 'ckpt restart' continues it; once more from the
#      restored process; the output equals an uninterrupted run;
#  (b) SIGTERM outside Slurm: the agent refuses ("state"), the program dies
#      of SIGTERM (143), no generation;
#  (c) a program with its own handlers gets both signals itself, sees SIG_DFL
#      before installing them, and no checkpoint is requested; after it puts
#      SIGUSR1 back to SIG_DFL, SIGUSR1 is a trigger again;
#  (d) without CKPT_SIGNALS, SIGUSR1 kills the program (138) as before;
#  (e) CKPT_SIGNALS_ONLY=1 in a bash script: what it runs has neither
#      libckpt.so mapped nor the variables; a refused SIGUSR1 prints one line
#      and the script goes on; a bash trap keeps USR1; a committed SIGUSR1
#      ends the shell with SIGTERM; a SIGTERM is delivered after the answer.
. "$TEST_LIB"
LIB=$BUILD_ROOT/libckpt/libckpt.so
if [ ! -f "$LIB" ] || [ ! -x "$BUILD_ROOT/libckpt/ckpt-restore" ]; then
	echo "FAIL: libckpt.so or ckpt-restore not built under $BUILD_ROOT/libckpt" >&2
	exit 1
fi
unset CKPT_LIBDIR CKPT_SIGNALS CKPT_SIGNALS_ONLY CKPT_SIGTERM_WAIT
export CKPT_AGENT_IDLE_EXIT=10
STEPS=300
MS=20

ngens() { "$CKPT" list "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo 0; }
last_trigger() { "$CKPT" list "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["trigger"])'; }
has_line() { grep -qxF -- "$2" "$1"; }
sock_of() { if [ -f "$1/agent.addr" ]; then cat "$1/agent.addr"; else echo "$1/agent.sock"; fi; }
dump() {
	echo "# $1:"
	sed 's/^/#   /' "$2" 2>/dev/null | tail -n "${3:-15}"
}

"$COUNTER" $STEPS 0 >"$T/ref.out"
# The counters of (a), (b) and (d) wait before their last line until this
# file exists (end_gate.h): on a loaded machine a counter could otherwise
# end before the signal the test sends it.
export CKPT_TEST_END_GATE=$T/end-gate

# (a) SIGUSR1 -> final checkpoint, exit 85, restart; twice.
D=$T/a
CKPT_SIGNALS=1 "$CKPT" run --dir "$D" -- "$COUNTER" $STEPS $MS >"$T/a.out" 2>"$T/a.err" &
JOB=$!
BG+=($JOB)
for cycle in 1 2; do
	have=$(wc -l <"$T/a.out")
	want=$((have + 30 < STEPS ? have + 30 : STEPS))
	wait_for 20 "(a) cycle $cycle: the program makes progress" lines_at_least "$T/a.out" $want || break
	# After a restart the restored process registers anew before it can
	# be checkpointed; wait for that so the signal is not refused.
	wait_for 20 "(a) cycle $cycle: the process is registered" has_nprocs "$D" 1
	kill -USR1 $JOB
	wait_exit 30 $JOB
	check "(a) cycle $cycle: SIGUSR1 stopped the program with status 85" test "$WAIT_RC" = 85
	check "(a) cycle $cycle: generation $cycle is committed" test "$(ngens "$D")" = $cycle
	check "(a) cycle $cycle: its trigger is 'signal'" test "$(last_trigger "$D")" = signal
	"$CKPT" restart --dir "$D" >>"$T/a.out" 2>>"$T/a.err" &
	JOB=$!
	BG+=($JOB)
done
: >"$CKPT_TEST_END_GATE"
wait_exit 60 $JOB
rm -f "$CKPT_TEST_END_GATE"
check "(a) the restored program ends with status 0" test "$WAIT_RC" = 0
check "(a) the output equals the uninterrupted run" cmp "$T/ref.out" "$T/a.out"
check "(a) no failure was reported" test "$(grep -c 'failed' "$T/a.err")" = 0
if [ "$FAIL" != 0 ]; then
	dump "(a) stderr" "$T/a.err"
	dump "(a) agent log" "$D/agent.log"
fi

# (b) SIGTERM outside Slurm: refused by the agent, delivered to the program.
D=$T/b
CKPT_SIGNALS=1 "$CKPT" run --dir "$D" -- "$COUNTER" $STEPS $MS >"$T/b.out" 2>"$T/b.err" &
JOB=$!
BG+=($JOB)
wait_for 20 "(b) the program makes progress" lines_at_least "$T/b.out" 20
wait_for 20 "(b) the process is registered" has_nprocs "$D" 1
kill -TERM $JOB
wait_exit 30 $JOB
check "(b) SIGTERM killed the program (ckpt run exits 143)" test "$WAIT_RC" = 143
check "(b) no generation is committed" test "$(ngens "$D")" = 0
check "(b) the refusal is not reported as a failure" test "$(grep -c 'slurm-ckpt' "$T/b.err")" = 0
[ "$FAIL" != 0 ] && dump "(b) agent log" "$D/agent.log"

# (c) the program's own handlers.
D=$T/c
CKPT_SIGNALS=1 "$CKPT" run --dir "$D" -- "$SIGOWN" >"$T/c.out" 2>"$T/c.err" &
JOB=$!
BG+=($JOB)
wait_for 20 "(c) the program installed its handlers" has_line "$T/c.out" ready
kill -USR1 $JOB
wait_for 20 "(c) its SIGUSR1 handler ran" has_line "$T/c.out" "handled SIGUSR1"
kill -TERM $JOB
wait_exit 30 $JOB
check "(c) its SIGTERM handler ran" has_line "$T/c.out" "handled SIGTERM"
check "(c) the program ended with status 0" test "$WAIT_RC" = 0
check "(c) no generation is committed" test "$(ngens "$D")" = 0
check "(c) the program saw SIG_DFL before installing its handlers" test "$(grep -c BAD "$T/c.out")" = 0
[ "$FAIL" != 0 ] && dump "(c) output" "$T/c.out" && dump "(c) stderr" "$T/c.err"

D=$T/c2
CKPT_SIGNALS=1 "$CKPT" run --dir "$D" -- "$SIGOWN" redefault >"$T/c2.out" 2>"$T/c2.err" &
JOB=$!
BG+=($JOB)
wait_for 20 "(c) redefault: the program installed its handlers" has_line "$T/c2.out" ready
wait_for 20 "(c) redefault: the process is registered" has_nprocs "$D" 1
kill -USR1 $JOB
wait_for 20 "(c) redefault: SIGUSR1 went back to SIG_DFL" has_line "$T/c2.out" "SIGUSR1 default again"
kill -USR1 $JOB
wait_exit 30 $JOB
check "(c) redefault: the next SIGUSR1 is a trigger again (status 85)" test "$WAIT_RC" = 85
check "(c) redefault: one generation is committed" test "$(ngens "$D")" = 1
[ "$FAIL" != 0 ] && dump "(c) redefault output" "$T/c2.out" && dump "(c) redefault stderr" "$T/c2.err"

# (d) without CKPT_SIGNALS nothing changes: SIGUSR1 kills.
D=$T/d
"$CKPT" run --dir "$D" -- "$COUNTER" $STEPS $MS >"$T/d.out" 2>"$T/d.err" &
JOB=$!
BG+=($JOB)
wait_for 20 "(d) the program makes progress" lines_at_least "$T/d.out" 20
wait_for 20 "(d) the process is registered" has_nprocs "$D" 1
kill -USR1 $JOB
wait_exit 30 $JOB
check "(d) SIGUSR1 killed the program (ckpt run exits 138)" test "$WAIT_RC" = 138
check "(d) no generation is committed" test "$(ngens "$D")" = 0

# (e) signals-only mode in a bash script.
unset CKPT_TEST_END_GATE
D=$T/e
mkdir -p "$D"
CKPT_AGENT_IDLE_EXIT=60 "$AGENT" --dir "$D" 2>>"$D/agent.log" &
BG+=($!)
wait_for 20 "(e) the agent listens" test -S "$(sock_of "$D")"
SOCK=$(sock_of "$D")
cat >"$T/shell.sh" <<'EOF'
# $1: a file to wait for, then the script goes on; $2: "trap" for a USR1 trap
[ "$2" = trap ] && trap 'echo "trapped USR1"' USR1
has() { grep -q libckpt && echo yes || echo no; }
echo "shell maps libckpt: $(has </proc/$$/maps)"
echo "child maps libckpt: $(cat /proc/self/maps | has)"
echo "child env: LD_PRELOAD=$(printenv LD_PRELOAD) CKPT_SIGNALS_ONLY=$(printenv CKPT_SIGNALS_ONLY)"
echo ready
while [ ! -e "$1" ]; do sleep 0.05; done
echo "after the signal, child maps libckpt: $(cat /proc/self/maps | has)"
echo end
EOF
shell() { # shell NAME [trap]: starts the script in signals-only mode
	LD_PRELOAD="$LIB" CKPT_SIGNALS_ONLY=1 CKPT_AGENT_SOCKET=$SOCK \
		bash "$T/shell.sh" "$T/$1.go" "${2:-}" >"$T/$1.out" 2>"$T/$1.err" &
	SH=$!
	BG+=($SH)
	wait_for 20 "(e) $1: the script runs" has_line "$T/$1.out" ready
}

# e1: no process registered: the agent refuses, the script goes on.
shell e1
check "(e) the shell itself has libckpt.so" has_line "$T/e1.out" "shell maps libckpt: yes"
check "(e) a command it runs has not" has_line "$T/e1.out" "child maps libckpt: no"
check "(e) nor LD_PRELOAD or CKPT_SIGNALS_ONLY" has_line "$T/e1.out" \
	"child env: LD_PRELOAD= CKPT_SIGNALS_ONLY="
kill -USR1 $SH
wait_for 20 "(e) e1: a refused SIGUSR1 is reported in one line" \
	grep -q '^slurm-ckpt: checkpoint on SIGUSR1 failed: .*registered' "$T/e1.err"
touch "$T/e1.go"
wait_exit 20 $SH
check "(e) e1: the script went on and ended normally" test "$WAIT_RC" = 0
check "(e) e1: a command run after the signal has no libckpt.so" has_line "$T/e1.out" \
	"after the signal, child maps libckpt: no"
check "(e) e1: the failure line is the only stderr output" test "$(wc -l <"$T/e1.err")" = 1

# e2: the script's own USR1 trap wins; no request reaches the agent.
shell e2 trap
kill -USR1 $SH
wait_for 20 "(e) e2: the script's trap ran" has_line "$T/e2.out" "trapped USR1"
touch "$T/e2.go"
wait_exit 20 $SH
check "(e) e2: the script ended normally" test "$WAIT_RC" = 0
check "(e) e2: nothing was asked of the agent" test "$(grep -c 'slurm-ckpt' "$T/e2.err")" = 0

# e3: SIGTERM: the standalone agent refuses; the shell dies of SIGTERM.
shell e3
kill -TERM $SH
wait_exit 20 $SH
check "(e) e3: SIGTERM ended the shell (143)" test "$WAIT_RC" = 143
check "(e) e3: the script did not go on" test "$(grep -c end "$T/e3.out")" = 0

# e4: a process under checkpoint control; SIGUSR1 to the shell commits a
# final generation of it, and the shell ends with SIGTERM.
"$CKPT" run --dir "$D" -- "$COUNTER" 3000 $MS >"$T/e4p.out" 2>"$T/e4p.err" &
P=$!
BG+=($P)
wait_for 20 "(e) e4: the checkpointed program is registered" has_nprocs "$D" 1
shell e4
kill -USR1 $SH
wait_exit 30 $SH
check "(e) e4: the shell ended with SIGTERM after the commit (143)" test "$WAIT_RC" = 143
check "(e) e4: the script did not go on" test "$(grep -c end "$T/e4.out")" = 0
wait_exit 30 $P
check "(e) e4: the checkpointed program stopped with status 85" test "$WAIT_RC" = 85
check "(e) e4: a generation with trigger 'signal' is committed" test "$(last_trigger "$D")" = signal
if [ "$FAIL" != 0 ]; then
	for f in e1 e2 e3 e4; do dump "(e) $f stdout" "$T/$f.out"; dump "(e) $f stderr" "$T/$f.err"; done
	dump "(e) agent log" "$D/agent.log"
fi
finish
