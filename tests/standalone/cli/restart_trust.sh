#!/bin/bash
# restart_trust.sh - 'ckpt restart' restores only from a directory that is
# ours and writable by nobody else: what it restores runs as us. Refused:
# the directory writable by others, owned by another user, or reached
# through a directory another user owns. 'ckpt list' only warns. Run as
# root (CI does): chown hands the directory to nobody.
. "$TEST_LIB"
D=$CKPT_DIR
L=$T/lib
mkdir -p "$L"
ln -s "$STUB_LIBDIR/libckpt.so" "$L/libckpt.so"
printf '#!/bin/sh\necho restored "$1" >>"%s/restored"\nexit 7\n' "$T" >"$L/ckpt-restore"
chmod +x "$L/ckpt-restore"
export CKPT_LIBDIR=$L

"$CKPT" run -- "$FAKE_PROC" >"$T/p.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "the program registers" has_nprocs "$D" 1
expect 0 "$D/gen-1" "generation 1, final" "$CKPT" checkpoint --kill
wait_exit 10 $RUN

chmod 0777 "$D"
expect 1 "$D is not safe to restart from: $D is writable by other users (mode 0777)" \
	"a directory writable by others is refused" "$CKPT" restart
expect 0 "warning: $D: $D is writable by other users" "ckpt list warns about it" \
	"$CKPT" list "$D"
chmod 0700 "$D"
chown nobody "$D"
expect 1 "$D is owned by uid $(id -u nobody), not by uid $(id -u) (whose checkpoints they are)" \
	"a directory of another user is refused" "$CKPT" restart
chown "$(id -u)" "$D"
chown nobody "$T"
expect 1 "$T is owned by uid $(id -u nobody), neither by uid $(id -u) (whose checkpoints they are) nor by root" \
	"a directory inside one of another user is refused" "$CKPT" restart
chown "$(id -u)" "$T"
check "nothing was restored so far" test ! -e "$T/restored"
expect 7 "" "our own directory is restored from" "$CKPT" restart
check "the image of gen-1 was handed to the restorer" grep -q "restored $D/gen-1/0.0.img" "$T/restored"
finish
