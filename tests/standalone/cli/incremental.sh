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
# INCR_TEST_MODE=hash (test incremental-hash): the content-hash fallback
# that kernels without PAGEMAP_SCAN get.
MODE=${INCR_TEST_MODE:-auto}
[ "$MODE" = hash ] && export CKPT_INCREMENTAL=hash
export CKPT_AGENT_IDLE_EXIT=20
export CKPT_LOG_LEVEL=3
D=$CKPT_DIR
PROG=$BUILD_ROOT/tests/standalone/t_incr
STEP=0

# size G: bytes of generation G's image; a missing image counts as huge, so
# that "smaller than" checks fail on it.
size() { stat -c %s "$D/gen-$1/0.0.img" 2>/dev/null || echo 999999999999; }

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
full=$(stat -c %s "$D/gen-1/0.0.img" 2>/dev/null || echo 0)
for g in 2 3 4; do
	check "generation $g is under a quarter of the full image ($(size $g) vs $full bytes)" \
		test $(($(size $g) * 4)) -lt "$full"
done
if [ "$MODE" = hash ]; then
	check "the engine reports the content-hash mode" \
		grep -q "incremental checkpoints: content-hash" "$T/err"
else
	check "the engine reports how it finds changed memory" \
		grep -q "incremental checkpoints: \(uffd-wp\|content-hash\)" "$T/err"
fi
check "the agent log says generation 2 is incremental" \
	grep -q "generation 2: .*image incremental" "$D/agent.log"
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

# CKPT_INCREMENTAL=0: full images only.
D2=$T/off
mkdir -p "$T/off-gates"
CKPT_INCREMENTAL=0 "$CKPT" run --dir "$D2" -- "$PROG" 16 "$T/off-gates" >"$T/off.out" 2>"$T/off.err" &
JOB=$!
BG+=($JOB)
wait_for 60 "off: the program filled its memory" grep -qx ready "$T/off.out"
expect 0 "$D2/gen-1" "off: generation 1 commits" "$CKPT" checkpoint --dir "$D2"
touch "$T/off-gates/go-1"
wait_for 60 "off: step 1 done" grep -qx "step 1 ok" "$T/off.out"
expect 0 "$D2/gen-2" "off: generation 2 commits" "$CKPT" checkpoint --dir "$D2" --kill
check "off: generation 2 is a full image" \
	test $(($(stat -c %s "$D2/gen-2/0.0.img") * 4)) -gt $(($(stat -c %s "$D2/gen-1/0.0.img") * 3))
check "off: the engine says so" grep -q "incremental checkpoints: off" "$T/off.err"
wait_exit 60 $JOB

if [ "$FAIL" != 0 ]; then
	echo "# output:"; sed 's/^/#   /' "$T/out" | tail -20
	echo "# stderr:"; grep -v "pipe\|files:" "$T/err" | sed 's/^/#   /' | tail -40
	echo "# agent log:"; sed 's/^/#   /' "$D/agent.log" | tail -20
	ls -l "$D"/gen-*/ | sed 's/^/#   /'
fi
finish
