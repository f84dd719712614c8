#!/bin/bash
# cli_escape.sh - what ckpt status prints from an agent (process names,
# errors) reaches the terminal escaped: no ESC, BEL or C1 control byte gets
# through, in the table or in --json; and ckpt checkpoint/status give up
# after --timeout on an agent that never answers, naming what they waited for.
. "$TEST_LIB"

# A program whose path holds an OSC title sequence, a colour and a C1 CSI.
BAD=$'evil\e]0;pwned\a\e[31m\xc2\x9bx'
mkdir -p "$T/bin"
cp "$FAKE_PROC" "$T/bin/$BAD"
D=$T/esc
"$CKPT" run --dir "$D" -- "$T/bin/$BAD" --lifetime 60 >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 15 "a process with control characters in its name registers" has_nprocs "$D" 1
"$CKPT" status --dir "$D" >"$T/status.out" 2>&1
check "ckpt status answers" test $? = 0
no_raw() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' "$1"; }
check "ckpt status prints no raw control byte" no_raw "$T/status.out"
check "and shows them escaped" grep -qF 'evil\x1b]0;pwned\x07\x1b[31m\xc2\x9bx' "$T/status.out"
"$CKPT" status --dir "$D" --json >"$T/status.json" 2>&1
check "ckpt status --json prints no raw control byte" no_raw "$T/status.json"
check "and is still JSON with the name in it" /usr/bin/python3 -c '
import json, sys
exe = json.load(open(sys.argv[1]))["processes"][0]["exe"]
sys.exit(0 if exe.endswith("evil\x1b]0;pwned\x07\x1b[31m\x9bx") else 1)' "$T/status.json"
kill $RUN
wait_exit 10 $RUN

# An "agent" that accepts and never answers.
D2=$T/mute
mkdir -p "$D2"
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
conns = []
end = time.time() + 60
while time.time() < end:
    s.settimeout(end - time.time())
    try:
        conns.append(s.accept()[0])
    except OSError:
        break
' "$D2/agent.sock" >/dev/null 2>&1 &
BG+=($!)
wait_for 10 "a mute agent listens" test -S "$D2/agent.sock"
t0=$(date +%s)
expect 1 "gave up waiting for the checkpoint of $D2 to commit after 2 s" \
	"ckpt checkpoint --timeout 2 gives up on a mute agent" \
	timeout 60 "$CKPT" checkpoint --dir "$D2" --timeout 2
check "within 30 s" test $(($(date +%s) - t0)) -lt 30
expect 1 "did not answer within 1 s" "ckpt status --timeout 1 gives up on a mute agent" \
	timeout 60 "$CKPT" status --dir "$D2" --timeout 1
expect 2 "--timeout 0s" "--timeout must be positive" "$CKPT" checkpoint --dir "$D2" --timeout 0s
finish
