#!/bin/bash
# end_to_end.sh - acceptance scenario 1 with the real engine: a
# self-checking counting program run under 'ckpt run', checkpointed with
# --kill and restarted with 'ckpt restart', three times, ends with exactly
# the output of an uninterrupted run.
. "$TEST_LIB"
if [ ! -f "$BUILD_ROOT/libckpt/libckpt.so" ] || [ ! -x "$BUILD_ROOT/libckpt/ckpt-restore" ]; then
	echo "FAIL: libckpt.so or ckpt-restore not built under $BUILD_ROOT/libckpt" >&2
	exit 1
fi
# The real library, found by ckpt next to itself in the build tree.
unset CKPT_LIBDIR
export CKPT_AGENT_IDLE_EXIT=10
D=$CKPT_DIR
STEPS=400
MS=10

"$COUNTER" $STEPS $MS >"$T/ref.out"
check "the uninterrupted run ends well" grep -q "^done $STEPS " "$T/ref.out"

"$CKPT" run -- "$COUNTER" $STEPS $MS >"$T/out" 2>"$T/err" &
JOB=$!
BG+=($JOB)
for cycle in 1 2 3; do
	have=$(wc -l <"$T/out")
	wait_for 20 "cycle $cycle: the program makes progress" lines_at_least "$T/out" $((have + 40)) || break
	expect 0 "$D/gen-$cycle" "cycle $cycle: checkpoint --kill commits" "$CKPT" checkpoint --kill
	wait_exit 20 $JOB
	check "cycle $cycle: the program stopped with status 85" test "$WAIT_RC" = 85
	"$CKPT" restart >>"$T/out" 2>>"$T/err" &
	JOB=$!
	BG+=($JOB)
done
wait_exit 60 $JOB
check "the last restored run exits 0" test "$WAIT_RC" = 0
check "the output equals the uninterrupted run" cmp "$T/ref.out" "$T/out"
if [ "$FAIL" != 0 ]; then
	echo "# stderr of ckpt run/restart:"; sed 's/^/#   /' "$T/err" | head -20
	echo "# output diff:"; diff "$T/ref.out" "$T/out" | head -10 | sed 's/^/#   /'
	echo "# agent log:"; sed 's/^/#   /' "$D/agent.log" | tail -20
fi
expect 0 "manual" "'ckpt list' shows the kept generations" "$CKPT" list
check "only the last two generations are kept" test ! -e "$D/gen-1" -a -d "$D/gen-2" -a -d "$D/gen-3"
expect 0 "verify: OK" "'ckpt inspect --verify' accepts a committed image" \
	"$CKPT" inspect --verify "$D/gen-3/0.0.img"
printf 'XXXX' | dd of="$D/gen-3/0.0.img" bs=1 seek=70000 conv=notrunc 2>/dev/null
expect 1 "0.0.img" "'ckpt inspect --verify' refuses a corrupted image" \
	"$CKPT" inspect --verify "$D/gen-3/0.0.img"
"$CKPT" restart >"$T/corrupt.out" 2>&1
check "'ckpt restart' refuses the corrupted image (non-zero exit)" test $? != 0
check "and prints nothing of the program" test "$(grep -c '^[0-9]' "$T/corrupt.out")" = 0

# CKPT_VERIFY=1: real images pass the agent's read-back check.
D2=$T/verify
CKPT_VERIFY=1 "$CKPT" run --dir "$D2" -- "$COUNTER" $STEPS $MS >"$T/v.out" 2>/dev/null &
JOB=$!
BG+=($JOB)
wait_for 20 "a verified run makes progress" lines_at_least "$T/v.out" 20
expect 0 "$D2/gen-1" "CKPT_VERIFY=1 commits a real image" "$CKPT" checkpoint --dir "$D2" --kill
wait_exit 20 $JOB
finish
