#!/bin/bash
# restart_flow.sh - what 'ckpt restart' does around the restorer, with a
# stand-in ckpt-restore that records its arguments: the newest or the named
# generation, --agent with the agent's socket, the first image in the
# foreground (same pid), further images as children started before it;
# refusals while the computation runs and for a torn image.
. "$TEST_LIB"
D=$CKPT_DIR
L=$T/lib
mkdir -p "$L"
ln -s "$STUB_LIBDIR/libckpt.so" "$L/libckpt.so"
cat >"$L/ckpt-restore" <<EOS
#!/bin/bash
echo "\$\$ \$PPID \$*" >>"$T/restored"
echo "env \$CKPT_AGENT_SOCKET \$CKPT_DIR" >>"$T/restored"
# The foreground one stays until the child has recorded its parent.
case "\$1" in
*/0.0.img) for i in \$(seq 100); do grep -q 0.1.img "$T/restored" && break; sleep 0.05; done;;
esac
exit 7
EOS
chmod +x "$L/ckpt-restore"
export CKPT_LIBDIR=$L

"$CKPT" run -- "$FAKE_PROC" --fork >"$T/p.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a forked program registers twice" has_nprocs "$D" 2
expect 0 "$D/gen-1" "generation 1" "$CKPT" checkpoint
expect 1 "a computation is already running in $D" "restart while it runs is refused" \
	"$CKPT" restart
expect 0 "$D/gen-2" "generation 2, final" "$CKPT" checkpoint --kill
wait_exit 10 $RUN

"$CKPT" restart >"$T/r.out" 2>&1 &
R=$!
wait_exit 10 $R
check "restart ends with the restored program's status" test "$WAIT_RC" = 7
SOCK=$(cat "$D/agent.addr")
check "the newest generation's first image is restored in the foreground, same pid" \
	grep -qx "$R [0-9]* $D/gen-2/0.0.img --agent $SOCK" "$T/restored"
check "the second image is restored by a child of it" \
	grep -qx "[0-9]* $R $D/gen-2/0.1.img --agent $SOCK" "$T/restored"
check "the restorer sees the agent socket and DIR" grep -qx "env $SOCK $D" "$T/restored"

: >"$T/restored"
expect 7 "" "restart of a named generation" "$CKPT" restart 1
check "restores generation 1" grep -q "$D/gen-1/0.0.img" "$T/restored"
expect 7 "" "'gen-N' names a generation too" "$CKPT" restart gen-1

truncate -s 100 "$D/gen-2/0.1.img"
: >"$T/restored"
expect 1 "0.1.img has 100 bytes, the manifest says 4096" "a torn image is refused" \
	"$CKPT" restart
check "and nothing was started" test ! -s "$T/restored"
rm "$D/gen-2/0.0.img"
expect 1 "$D/gen-2/0.0.img: No such file or directory" "a missing image is refused" \
	"$CKPT" restart
finish
