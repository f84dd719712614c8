#!/bin/bash
# signals_peer.sh - libckpt's signal triggers talk only to an agent of their
# own user (or root): another user who listens on the agent socket path (a
# /tmp fallback bound first, a stale path) must neither get the request nor
# decide what the signal does. A bash script under CKPT_SIGNALS_ONLY=1 sends
# itself SIGUSR1 (a final checkpoint request) with `nobody` listening on
# CKPT_AGENT_SOCKET, ready to answer that the checkpoint committed (which
# would end the script): the request must be refused locally, with one line
# naming the reason, the script must go on, and the listener must receive
# nothing. Needs root (setpriv).
. "$TEST_LIB"
LIB=$BUILD_ROOT/libckpt/libckpt.so
[ -f "$LIB" ] || { echo "FAIL: $LIB not built" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root, to listen as another user (setpriv)" >&2; exit 1; }
unset CKPT_SIGNALS CKPT_SIGTERM_WAIT

chmod 1777 "$T"
sock=$T/agent.sock
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 - "$sock" "$T/got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
s.settimeout(30)
got = b""
try:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        got = c.recv(4096)
    except socket.timeout:
        pass
    # What a committed final checkpoint would answer.
    c.sendall(b'{"v":1,"type":"checkpoint_done","gen":1,"final":true}\n')
except socket.timeout:
    pass
open(sys.argv[2], "wb").write(got)
PY
LISTENER=$!
BG+=($LISTENER)
wait_for 10 "nobody's listener at $sock" test -S "$sock"

CKPT_SIGNALS_ONLY=1 CKPT_AGENT_SOCKET=$sock LD_PRELOAD=$LIB \
	bash -c 'kill -USR1 $$; echo "script went on"' >"$T/out" 2>"$T/err"
rc=$?
kill "$LISTENER" 2>/dev/null
wait "$LISTENER" 2>/dev/null
ok=1
[ "$rc" = 0 ] || { echo "FAIL: the script ended with $rc instead of going on" >&2; ok=0; }
grep -qx "script went on" "$T/out" || { echo "FAIL: the script did not go on after SIGUSR1" >&2; ok=0; }
grep -q "belongs to another user: refused" "$T/err" ||
	{ echo "FAIL: no refusal naming the other user's socket: $(cat "$T/err")" >&2; ok=0; }
if [ -s "$T/got" ]; then
	echo "FAIL: nobody's listener received the request: $(head -c 200 "$T/got")" >&2
	ok=0
fi
[ "$ok" = 1 ] || exit 1
echo "ok: a SIGUSR1 request is refused before anything reaches another user's listener"
