#!/bin/bash
# agent_lifecycle.sh - the agent starts on demand, is one per directory,
# ends itself when idle and leaves no socket, lock or address file behind.
. "$TEST_LIB"
D=$CKPT_DIR

# 'ckpt run' starts the agent; the process registers.
"$CKPT" run -- "$FAKE_PROC" --lifetime 60 >"$T/p1.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "the process registers with a new agent" has_nprocs "$D" 1
check "the agent listens on DIR/agent.sock" test -S "$D/agent.sock"
check "the agent holds DIR/agent.lock" test -s "$D/agent.lock"
check "DIR/agent.addr records the socket" grep -qx "$D/agent.sock" "$D/agent.addr"
APID=$(cat "$D/agent.lock")
check "the agent runs detached (another session than ours)" \
	test "$(ps -o sid= -p "$APID" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')"
check "the agent is not a child of 'ckpt run'" test "$(ps -o ppid= -p "$APID" | tr -d ' ')" != "$RUN"

# One agent per directory.
expect 3 "" "a second agent for the same directory exits at once" "$AGENT" --dir "$D"
expect 1 "a computation is already running in $D" "a second 'ckpt run' in the same directory is refused" \
	"$CKPT" run -- "$FAKE_PROC"
check "the first agent is still the one serving" test "$(cat "$D/agent.lock")" = "$APID"

# The process leaves; the agent ends after CKPT_AGENT_IDLE_EXIT seconds.
expect 0 "$D/gen-1" "checkpoint --kill commits and prints the generation" \
	"$CKPT" checkpoint --kill
wait_exit 10 $RUN
check "ckpt run returns the program's status after --kill (85)" test "$WAIT_RC" = 85
wait_for 10 "the idle agent exits" sh -c "! kill -0 $APID 2>/dev/null"
check "no socket, lock or address file is left" no_agent_files "$D"

# Concurrent starts: exactly one agent wins, the others say "busy" (3).
mkdir -p "$T/c"
P=()
for i in 1 2 3 4; do
	CKPT_AGENT_IDLE_EXIT=30 "$AGENT" --dir "$T/c" 2>>"$T/c.log" &
	P+=($!)
	BG+=($!)
done
alive() { local n=0 p; for p in "${P[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; [ $n = 1 ]; }
wait_for 10 "of four concurrent agents exactly one keeps running" alive
check "it serves the directory" "$CKPT" status --dir "$T/c"
for p in "${P[@]}"; do kill "$p" 2>/dev/null; done
wait_for 10 "SIGTERM ends the agent cleanly" no_agent_files "$T/c"

# A live socket at our path that is not ours (a colliding hashed name) is
# never removed: the agent refuses to start instead.
mkdir -p "$T/taken"
python3 -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); time.sleep(60)' "$T/taken/agent.sock" &
BG+=($!)
wait_for 10 "a foreign listener holds DIR/agent.sock" test -S "$T/taken/agent.sock"
expect 1 "is in use by another agent" "the agent refuses a socket path in use" "$AGENT" --dir "$T/taken"
check "and leaves the other listener's socket alone" test -S "$T/taken/agent.sock"
check "and its own lock is gone" test ! -e "$T/taken/agent.lock"

# A directory whose socket path does not fit sun_path.
LONG=$T/$(printf 'long%.0s' $(seq 1 30))/ckpt
mkdir -p "$(dirname "$LONG")" "$T/run"
XDG_RUNTIME_DIR=$T/run "$CKPT" run --dir "$LONG" -- "$FAKE_PROC" --lifetime 60 >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "an agent with a long directory starts" test -s "$LONG/agent.addr"
check "its socket is a hashed name under XDG_RUNTIME_DIR" grep -q "^$T/run/ckpt-[0-9a-f]\{16\}.sock$" "$LONG/agent.addr"
wait_for 10 "the CLI finds it" has_nprocs "$LONG" 1
SOCK=$(cat "$LONG/agent.addr")
kill $RUN
wait_exit 10 $RUN
wait_for 10 "the long-path agent exits when idle" no_agent_files "$LONG"
check "and removes its socket under XDG_RUNTIME_DIR" test ! -e "$SOCK"

# An agent killed hard leaves a stale socket and lock; the next start copes.
"$CKPT" run -- "$FAKE_PROC" --lifetime 60 >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a new agent starts for the directory" has_nprocs "$D" 1
kill -9 "$(cat "$D/agent.lock")"
wait_exit 10 $RUN
"$CKPT" run -- "$FAKE_PROC" --lifetime 60 >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "after a SIGKILLed agent, 'ckpt run' starts a fresh one" has_nprocs "$D" 1
kill $RUN
wait_exit 10 $RUN
wait_for 10 "which cleans up when idle" no_agent_files "$D"
finish
