#!/bin/bash
# sock_fallback.sh - the agent socket of a long checkpoint directory falls
# back to /tmp/ckpt-<uid>/, a directory that must be the user's own, mode
# 0700: one made first by another user is refused with a message naming it;
# and libckpt refuses an agent socket whose listener is another user.
# Needs root (setpriv to a victim and an attacker uid); skips otherwise.
. "$TEST_LIB"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "# skipped: needs root and setpriv"
	exit 77
fi
# A uid nothing else on the machine uses: the victim. nobody: the attacker.
VU=64123
PRIV=/tmp/ckpt-$VU
as_victim() { setpriv --reuid=$VU --regid=$VU --clear-groups env -u XDG_RUNTIME_DIR "$@"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
W=$T/w
mkdir -p "$W"
chmod 755 "$T" "$W"
LONG=$W/$(printf 'long%.0s' $(seq 1 30))/ckpt
mkdir -p "$LONG"
chown -R $VU:$VU "$W"
rm -rf "$PRIV"
trap 'rm -rf "$PRIV"; cleanup' EXIT

# 1. The attacker made /tmp/ckpt-<victim uid> first (world-writable).
as_nobody mkdir -m 0777 "$PRIV"
expect 1 "$PRIV is a directory owned by uid 65534 with mode 0777" \
	"ckpt run refuses a /tmp/ckpt-<uid> another user made" \
	as_victim CKPT_DIR="$LONG" "$CKPT" run --dir "$LONG" -- "$FAKE_PROC" --lifetime 1
check "and created nothing in it" test -z "$(ls -A "$PRIV")"
rm -rf "$PRIV"

# 2. Or a symlink to a directory of the attacker's.
mkdir -m 0700 "$T/evil"
chown nobody:nogroup "$T/evil"
ln -s "$T/evil" "$PRIV"
expect 1 "$PRIV is a symlink" "ckpt run refuses a symlink at /tmp/ckpt-<uid>" \
	as_victim CKPT_DIR="$LONG" "$CKPT" run --dir "$LONG" -- "$FAKE_PROC" --lifetime 1
rm -f "$PRIV"

# 3. Without an intruder the victim's agent makes it, 0700, and listens there.
as_victim CKPT_DIR="$LONG" "$CKPT" run --dir "$LONG" -- "$FAKE_PROC" --lifetime 60 >"$T/run.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 20 "the agent of a long directory starts" test -s "$LONG/agent.addr"
check "its socket is in $PRIV" grep -q "^$PRIV/[0-9a-f]\{16\}.sock$" "$LONG/agent.addr"
check "which is the victim's, mode 0700" test "$(stat -c %u:%a "$PRIV")" = "$VU:700"
kill $RUN
wait_exit 10 $RUN

# 4. libckpt checks who listens on CKPT_AGENT_SOCKET: the attacker's
# listener must get nothing (no registration, no image).
LIB=$BUILD_ROOT/libckpt/libckpt.so
if [ -f "$LIB" ]; then
	setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(4); s.settimeout(60)
with open(sys.argv[2], "ab") as got:
    while True:
        c, _ = s.accept(); c.settimeout(3)
        try:
            while True:
                d = c.recv(4096)
                if not d: break
                got.write(d); got.flush()
        except OSError:
            pass
' "$T/evil/agent.sock" "$T/evil/got" >/dev/null 2>&1 &
	BG+=($!)
	wait_for 10 "an attacker listens on a socket" test -S "$T/evil/agent.sock"
	LD_PRELOAD=$LIB CKPT_AGENT_SOCKET=$T/evil/agent.sock CKPT_DIR=$W "$COUNTER" 100 10 \
		>/dev/null 2>"$T/lib.err"
	check "the program still runs to its end" test $? = 0
	check "libckpt says it refuses that agent" \
		grep -q "refusing the agent at $T/evil/agent.sock: it runs as uid 65534" "$T/lib.err"
	check "the attacker's listener received nothing" test ! -s "$T/evil/got"
fi
finish
