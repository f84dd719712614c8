#!/bin/bash
# restore_one_pass.sh - ckpt-restore reads an image once, checking each
# chunk as it loads it, and still never runs a corrupt image: a 48 MiB
# program is checkpointed twice (gen-1 while it runs, gen-2 with --kill),
# the last stored byte of gen-2's last chunk (just before the trailer) is
# flipped, and the restart is given gen-1 as the older candidate, as the
# Slurm plugin gives it (CKPT_RESTORE_GEN, CKPT_RESTORE_OLDER). The
# restorer finds the damage only at the end of its pass over gen-2, must
# drop it, restore gen-1 in the same process and run on from there to
# exactly the output of an uninterrupted run; the process has then read
# (/proc/PID/io rchar, summed over its process tree) about the two images'
# sizes, each byte once. A
# corrupt last chunk without an older candidate is refused before anything
# of the program runs. gen-2 is usually an incremental image referring to
# gen-1's ballast (docs/engine.md, "Incremental checkpoints"): its attempt
# then also reads those chunks of gen-1, once, which the agent log counts
# ("N MiB referred to").
. "$TEST_LIB"
if [ ! -f "$BUILD_ROOT/libckpt/libckpt.so" ] || [ ! -x "$BUILD_ROOT/libckpt/ckpt-restore" ]; then
	echo "FAIL: libckpt.so or ckpt-restore not built under $BUILD_ROOT/libckpt" >&2
	exit 1
fi
unset CKPT_LIBDIR
export CKPT_AGENT_IDLE_EXIT=10
D=$CKPT_DIR
STEPS=3000
MS=10
MIB=48

"$COUNTER" $STEPS 0 $MIB >"$T/ref.out"
check "the uninterrupted run ends well" grep -q "^done $STEPS " "$T/ref.out"

"$CKPT" run -- "$COUNTER" $STEPS $MS $MIB >"$T/out" 2>"$T/err" &
JOB=$!
BG+=($JOB)
wait_for 60 "the program makes progress" lines_at_least "$T/out" 20
expect 0 "$D/gen-1" "a checkpoint while it runs commits gen-1" "$CKPT" checkpoint
gen1_lines=$(wc -l <"$T/out") # at least the steps gen-1 holds
wait_for 60 "the program goes on after gen-1" lines_at_least "$T/out" $((gen1_lines + 100))
expect 0 "$D/gen-2" "checkpoint --kill commits gen-2" "$CKPT" checkpoint --kill
wait_exit 30 $JOB
check "the program stopped with status 85" test "$WAIT_RC" = 85
first_lines=$(wc -l <"$T/out")

img1=$D/gen-1/0.0.img img2=$D/gen-2/0.0.img
size1=$(stat -c %s "$img1") size2=$(stat -c %s "$img2")
# Bytes of gen-1 that gen-2's image refers to (0 for a full image).
ref2=$(sed -n 's/.*generation 2: .*, \([0-9.]*\) MiB referred to.*/\1/p' "$D/agent.log" |
	tail -n 1 | awk '{ printf "%d\n", $1 * 1048576 }')
ref2=${ref2:-0}
check "gen-2's image holds the ballast or refers to it (${size2} bytes + ${ref2} referred)" \
	test $((size2 + ref2)) -gt $((MIB << 20))
# The footer's first 8 bytes give the trailer's offset: the byte before it
# is the last stored byte of the last chunk.
trailer=$(od -An -tu8 -j $((size2 - 32)) -N 8 "$img2" | tr -d ' ')
off=$((trailer - 1))
cp "$img2" "$T/gen2.orig"
byte=$(od -An -tu1 -j "$off" -N 1 "$img2" | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 0xff)))" | dd of="$img2" bs=1 seek="$off" conv=notrunc status=none
check "the last chunk's last byte ($off of $size2) is flipped" test "$(od -An -tu1 -j "$off" -N 1 "$img2" | tr -d ' ')" = $((byte ^ 0xff))
expect 1 "0.0.img" "'ckpt inspect --verify' still finds it" "$CKPT" inspect --verify "$img2"

# Without an older candidate: refused, and nothing of the program runs.
"$CKPT" restart >"$T/refused.out" 2>"$T/refused.err"
check "'ckpt restart' refuses gen-2 (non-zero exit)" test $? != 0
check "the refusal names the image and the chunk" grep -q "0.0.img: offset .*chunk .*checksum mismatch" "$T/refused.err"
check "and nothing of the program ran" test ! -s "$T/refused.out"

# With gen-1 as the older candidate: restored from gen-1 in one process.
CKPT_RESTORE_GEN=2 CKPT_RESTORE_OLDER=$'1\t'"$img1" "$CKPT" restart >"$T/second.out" 2>"$T/second.err" &
JOB=$!
BG+=($JOB)
wait_for 60 "the restorer falls back to gen-1 after the corrupt last chunk" \
	grep -q "restoring $img1 instead" "$T/second.err"
wait_for 60 "the restored program prints" lines_at_least "$T/second.out" 1
# 'ckpt restart' of a program run by 'ckpt run' rebuilds its tree in a PID
# namespace: the restorer is a descendant of $JOB, not $JOB itself. Count
# what the whole tree read (the CLI itself reads only the tree records).
tree_of() {
	local child
	echo "$1"
	for child in $(pgrep -P "$1"); do tree_of "$child"; done
}
rchar=0
for pid in $(tree_of "$JOB"); do
	rchar=$((rchar + $(awk '/^rchar:/ { print $2 }' "/proc/$pid/io" 2>/dev/null || echo 0)))
done
both=$((size1 + size2))
echo "# the restored tree read ${rchar:-?} bytes; images: $size2 (gen-2, + $ref2 of gen-1 referred to) + $size1 (gen-1) = $both"
check "it read every byte of both images" test "${rchar:-0}" -ge "$both"
check "and each only once per attempt (< 1.25 x their size and what gen-2 refers to)" \
	test "${rchar:-0}" -lt $(((both + ref2) * 5 / 4))
wait_exit 120 $JOB
check "the program restored from gen-1 ends with status 0" test "$WAIT_RC" = 0
check "the unusable generation is named" grep -q "gen-2 of .*0.0.img is unusable (.*chunk .*); trying an older one" "$T/second.err"
check "the restored program found its memory intact" test "$(grep -c CORRUPT "$T/second.out")" = 0
first_resumed=$(grep -m1 -E '^[0-9]+ ' "$T/second.out" | cut -d' ' -f1)
check "it went on from gen-1 (step ${first_resumed:-?}), not gen-2 (after step $((first_lines)))" \
	test "${first_resumed:-0}" -ge 2 -a "${first_resumed:-0}" -le $((gen1_lines + 1))
{
	head -n $((first_resumed - 1)) "$T/out"
	cat "$T/second.out"
} >"$T/joined.out"
check "the output equals the uninterrupted run" cmp "$T/ref.out" "$T/joined.out"
if [ "$FAIL" != 0 ]; then
	echo "# stderr of the restart:"; sed 's/^/#   /' "$T/second.err" | head -20
	echo "# output diff:"; diff "$T/ref.out" "$T/joined.out" | head -10 | sed 's/^/#   /'
	echo "# agent log:"; sed 's/^/#   /' "$D/agent.log" | tail -20
fi
finish
