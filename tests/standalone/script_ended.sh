#!/usr/bin/env bash
# A command the batch script runs itself is named when the job ends, even
# when the job's signal killed it and the shell reaped it before the
# shell's own SIGTERM arrived (Slurm signals the commands first), and even
# when the script would end before that SIGTERM (shell_wait.c,
# script_commands.c). The shell runs in signals-only mode against no agent:
# the request fails, the naming does not depend on it.
#  (a) command killed and reaped, then SIGTERM to the shell: named;
#  (b) command killed and reaped, the script ends: the shell waits for the
#      job's SIGTERM, which names the command and ends it (143);
#  (c) a command killed longer ago than the window is not named.
. "$TEST_LIB"
LIB=$BUILD_ROOT/libckpt/libckpt.so
[ -f "$LIB" ] || {
	echo "FAIL: libckpt.so not built under $BUILD_ROOT/libckpt" >&2
	exit 1
}
unset CKPT_SIGNALS CKPT_SIGTERM_WAIT

# The script: starts the counter, waits until it runs (its name is
# "counter" only after exec), kills it with SIGTERM and reaps it; then
# $1: "self" sends itself SIGTERM; "exit" ends; "late" waits 4 s first.
cat >"$T/script.sh" <<EOF
"$COUNTER" 100000 100 >"\$2/counter.out" &
p=\$!
until [ -s "\$2/counter.out" ]; do sleep 0.02; done
kill -TERM \$p
wait \$p
echo "reaped \$p"
case \$1 in
self) kill -TERM \$\$ ;;
late) sleep 4; kill -TERM \$\$ ;;
esac
echo went-on
exit 0
EOF

# shell NAME MODE: runs the script in signals-only mode; output in $T/NAME.
shell() {
	mkdir -p "$T/$1"
	LD_PRELOAD="$LIB" CKPT_SIGNALS_ONLY=1 CKPT_AGENT_SOCKET="$T/no-agent.sock" \
		bash "$T/script.sh" "$2" "$T/$1" >"$T/$1/out" 2>"$T/$1/err" &
	SH=$!
	BG+=($SH)
	wait_for 20 "($1) the counter was reaped" grep -q '^reaped ' "$T/$1/out"
	PID=$(sed -n 's/^reaped //p' "$T/$1/out")
}
named() { grep -q "^slurm-ckpt: the batch script's own command(s) \`counter\` (pid $2) ran outside srun" "$T/$1/err"; }

# (a)
shell a self
wait_exit 20 $SH
check "(a) the shell ended of its SIGTERM (143)" test "$WAIT_RC" = 143
check "(a) the reaped counter (pid $PID) is named" named a "$PID"
check "(a) the script did not go on" test "$(grep -c went-on "$T/a/out")" = 0

# (b) The shell waits at its exit in a sleep (wchan hrtimer_nanosleep);
# without that wait it would be gone and nothing would name the counter.
shell b exit
in_exit_wait() { [ "$(cat "/proc/$SH/wchan" 2>/dev/null)" = hrtimer_nanosleep ]; }
waits_or_gone() { in_exit_wait || ! kill -0 $SH 2>/dev/null; }
wait_for 20 "(b) the ending shell waits or is gone" waits_or_gone
check "(b) the ending shell waits for the job's signal" in_exit_wait
kill -TERM $SH
wait_exit 20 $SH
check "(b) the shell ended of the SIGTERM it waited for (143)" test "$WAIT_RC" = 143
check "(b) the reaped counter (pid $PID) is named" named b "$PID"

# (c)
shell c late
wait_exit 30 $SH
check "(c) the shell ended of its SIGTERM (143)" test "$WAIT_RC" = 143
check "(c) a command killed 4 s before is not named" test "$(grep -c 'own command' "$T/c/err")" = 0

finish
