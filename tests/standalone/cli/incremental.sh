#!/bin/bash
# incremental.sh - incremental checkpoints with the real engine: a process
# with 64 MiB of memory rewrites 5 % of it between checkpoints. After a full
# first image, each generation must be far smaller than the full one; a
# chain of incrementals (the last one final) restores into a process whose
# every page is what it wrote (t_incr checks all its memory at each step),
# through two checkpoint/kill/restart cycles; pruning keeps the bases kept
# generations need and drops them once no kept generation does;
# 'ckpt inspect --verify' follows the chain; a corrupt base is refused by
# inspect and by restart, naming the base, never restored.
. "$TEST_LIB"
if [ ! -f "$BUILD_ROOT/libckpt/libckpt.so" ] || [ ! -x "$BUILD_ROOT/libckpt/ckpt-restore" ]; then
	echo "FAIL: libckpt.so or ckpt-restore not built under $BUILD_ROOT/libckpt" >&2
	exit 1
fi
unset CKPT_LIBDIR CKPT_INCREMENTAL CKPT_INCR_FULL_EVERY CKPT_INCR_CHAIN_PCT
export CKPT_AGENT_IDLE_EXIT=20
export CKPT_LOG_LEVEL=3
D=$CKPT_DIR
PROG=$BUILD_ROOT/tests/standalone/t_incr
STEP=0

size() { stat -c %s "$D/gen-$1/0.0.img"; }

# step: lets the program do its next step and waits until it did.
step() {
	STEP=$((STEP + 1))
	touch "$T/go-$STEP"
	wait_for 60 "step $STEP done" grep -qx "step $STEP ok" "$T/out"
}

"$CKPT" run -- "$PROG" 64 "$T" >"$T/out" 2>"$T/err" &
JOB=$!
BG+=($JOB)
wait_for 60 "the program filled its memory" grep -qx ready "$T/out"
expect 0 "$D/gen-1" "generation 1 (full) commits" "$CKPT" checkpoint
step
for g in 2 3 4; do
	expect 0 "$D/gen-$g" "generation $g (incremental) commits" "$CKPT" checkpoint
	step
done
full=$(size 1)
for g in 2 3 4; do
	check "generation $g is under a quarter of the full image ($(size $g) vs $full bytes)" \
		test $(($(size $g) * 4)) -lt "$full"
done
check "the engine reports how it finds changed memory" \
	grep -q "incremental checkpoints: \(uffd-wp\|content-hash\)" "$T/err"
expect 0 "$D/gen-5" "generation 5 (incremental, final) commits" "$CKPT" checkpoint --kill
wait_exit 60 $JOB
check "the program stopped with status 85" test "$WAIT_RC" = 85
check "generation 5 is incremental too" test $(($(size 5) * 4)) -lt "$full"
check "pruning keeps the bases of kept generations (gen-1..3)" \
	test -d "$D/gen-1" -a -d "$D/gen-2" -a -d "$D/gen-3"
expect 0 "verify: OK" "'ckpt inspect --verify' follows the chain of generation 5" \
	"$CKPT" inspect --verify "$D/gen-5/0.0.img"

# A corrupt base, in a copy: refused by inspect and restart, by name.
C=$T/copy
cp -a "$D" "$C"
rm -f "$C"/agent.*
off=$(($(size 1) / 2))
printf 'XXXXXXXX' | dd of="$C/gen-1/0.0.img" bs=1 seek=$off conv=notrunc 2>/dev/null
expect 1 "generation 1" "'ckpt inspect --verify' refuses generation 5 over a corrupt base" \
	"$CKPT" inspect --verify "$C/gen-5/0.0.img"
"$CKPT" restart --dir "$C" >"$T/corrupt.out" 2>&1
check "'ckpt restart' refuses generation 5 over a corrupt base" test $? != 0
check "its message names the base" grep -q "generation 1" "$T/corrupt.out"
check "and nothing of the program ran" test "$(grep -c 'step' "$T/corrupt.out")" = 0
rm -rf "$C"

# Cycles: restore the chain, go on, checkpoint again (the first generation
# after a restore is full), kill, restore again.
for cycle in 1 2; do
	"$CKPT" restart >>"$T/out" 2>>"$T/err" &
	JOB=$!
	BG+=($JOB)
	step
	n=$(ls -d "$D"/gen-* | sed 's/.*gen-//' | sort -n | tail -1)
	expect 0 "$D/gen-$((n + 1))" "cycle $cycle: a generation after the restore commits" \
		"$CKPT" checkpoint
	step
	expect 0 "$D/gen-$((n + 2))" "cycle $cycle: an incremental one commits" "$CKPT" checkpoint
	check "cycle $cycle: it is incremental" test $(($(size $((n + 2))) * 4)) -lt "$(size $((n + 1)))"
	step
	expect 0 "$D/gen-$((n + 3))" "cycle $cycle: a final one commits" "$CKPT" checkpoint --kill
	wait_exit 60 $JOB
	check "cycle $cycle: the program stopped with status 85" test "$WAIT_RC" = 85
done
check "pruning dropped bases no kept generation needs" test ! -e "$D/gen-1"
"$CKPT" restart >>"$T/out" 2>>"$T/err" &
JOB=$!
BG+=($JOB)
step
touch "$T/stop"
wait_exit 60 $JOB
check "the last restored run exits 0" test "$WAIT_RC" = 0
{
	echo ready
	for k in $(seq 1 $STEP); do echo "step $k ok"; done
	echo "end ok"
} >"$T/ref.out"
check "every page was what the program wrote, through every restore" cmp "$T/ref.out" "$T/out"
if [ "$FAIL" != 0 ]; then
	echo "# output:"; sed 's/^/#   /' "$T/out" | tail -20
	echo "# stderr:"; grep -v "pipe\|files:" "$T/err" | sed 's/^/#   /' | tail -40
	echo "# agent log:"; sed 's/^/#   /' "$D/agent.log" | tail -20
	ls -l "$D"/gen-*/ | sed 's/^/#   /'
fi
finish
