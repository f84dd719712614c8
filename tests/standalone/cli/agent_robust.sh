#!/bin/bash
# agent_robust.sh - every frame from a peer is validated: a malformed or
# unexpected one drops that connection with a logged reason, and the agent
# keeps serving everyone else.
. "$TEST_LIB"
D=$CKPT_DIR
export CKPT_AGENT_IDLE_EXIT=30
mkdir -p "$D"
"$AGENT" --dir "$D" 2>>"$D/agent.log" &
APID=$!
BG+=($APID)
wait_for 10 "a manually started agent listens" "$CKPT" status --dir "$D"
export CKPT_AGENT_SOCKET=$D/agent.sock
raw() { "$FAKE_PROC" --send-json "$1"; }

"$CKPT" run -- "$FAKE_PROC" >"$T/p.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a good process registers" has_nprocs "$D" 1

expect 0 "closed" "a frame that is not JSON is refused" raw 'hello'
expect 0 "closed" "a JSON array is refused" raw '[1,2]'
expect 0 "closed" "a frame without v is refused" raw '{"type":"status"}'
expect 0 "closed" "a frame of another protocol version is refused" raw '{"v":2,"type":"status"}'
expect 0 "closed" "an unknown type is refused" raw '{"v":1,"type":"frobnicate"}'
expect 0 "closed" "a register without exe is refused" raw '{"v":1,"type":"register","pid":1}'
expect 0 "closed" "a register with a string pid is refused" \
	raw '{"v":1,"type":"register","pid":"1","exe":"/bin/true"}'
expect 0 "closed" "a register with a relative exe is refused" \
	raw '{"v":1,"type":"register","pid":1,"exe":"true"}'
expect 0 "closed" "a checkpoint with kill as a string is refused" \
	raw '{"v":1,"type":"checkpoint","kill":"yes"}'
expect 0 "closed" "'ready' from a client that never registered is refused" \
	raw '{"v":1,"type":"ready","gen":1}'
expect 0 "status_reply" "a well-formed status is answered" raw '{"v":1,"type":"status"}'
"$FAKE_PROC" --garbage --lifetime 5 >"$T/g.out" 2>&1
check "an oversized frame from a registered process drops it" grep -q "agent gone" "$T/g.out"
check "the reasons are logged" grep -q "dropping.*exceeds\|dropping.*malformed" "$D/agent.log"
check "the agent still serves the good process" has_nprocs "$D" 1
expect 0 "$D/gen-1" "and checkpoints it" "$CKPT" checkpoint
check "the agent is the one started at first" kill -0 $APID

kill $RUN
wait_exit 10 $RUN
kill $APID
wait_exit 10 $APID
check "SIGTERM ends the agent with status 0" test "$WAIT_RC" = 0
check "leaving no socket, lock or address file" no_agent_files "$D"
finish
