#!/bin/bash
# two_phase.sh - the agent's coordinated checkpoint with fake processes:
# commit writes MANIFEST.json and renames gen-N.tmp; an error, a wrong
# report, a timeout or a death during a phase aborts the generation, leaves
# no directory and the previous generation intact, and 'ckpt status' tells
# why; old generations are pruned to CKPT_KEEP; --kill, --interval, fork.
. "$TEST_LIB"
D=$CKPT_DIR
# 5 s: every good phase must end within it, on a loaded machine too.
export CKPT_PHASE_TIMEOUT=5

manifest() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/MANIFEST.json")); print(eval(sys.argv[2]))' "$@"; }
gens() { (cd "$1" && ls -d gen-* 2>/dev/null | sort -V | tr '\n' ' '); }
last_error() { "$CKPT" status --dir "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_error"])'; }

"$CKPT" run -- "$FAKE_PROC" --fail-write 2 --bad-size 4 --hang-prepare 5 --die-write 7 \
	>"$T/p.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "the fake process registers" has_nprocs "$D" 1

expect 0 "$D/gen-1" "checkpoint 1 commits" "$CKPT" checkpoint
check "gen-1 holds MANIFEST.json and the image" test -f "$D/gen-1/MANIFEST.json" -a -f "$D/gen-1/0.0.img"
check "no gen-1.tmp is left" test ! -e "$D/gen-1.tmp"
check "the manifest records the image size" test "$(manifest "$D/gen-1" 'm["images"][0]["size"]')" = 4096
# xxhsum (Debian package xxhash) prints XXH64 in canonical hex.
SUM=$(xxhsum -H1 "$D/gen-1/0.0.img" | cut -d' ' -f1)
check "the manifest records the image checksum" test "$(manifest "$D/gen-1" 'm["images"][0]["xxh64"]')" = "$SUM"
check "the manifest records trigger and duration" test "$(manifest "$D/gen-1" 'm["trigger"], m["duration_ms"] >= 0')" = "('manual', True)"
wait_for 5 "the process was told to resume" grep_q "resumed 1" "$T/p.out"

expect 1 "injected write failure" "an error during WRITE fails the checkpoint" "$CKPT" checkpoint
check "and leaves no generation 2" test "$(gens "$D")" = "gen-1 "
check "gen-1 is intact" cmp -s "$D/gen-1/0.0.img" "$D/gen-1/0.0.img"
wait_for 5 "the process was told to abort" grep_q "aborted 2" "$T/p.out"
check "'ckpt status' shows the reason" sh -c "'$CKPT' status --dir '$D' | grep -q 'last error:.*injected write failure'"

expect 0 "$D/gen-3" "the next checkpoint commits (numbers are not reused)" "$CKPT" checkpoint
expect 1 "reported $D/gen-4.tmp/0.0.img of 4097 bytes, the file has 4096" \
	"a wrong size report aborts" "$CKPT" checkpoint
check "no gen-4 nor gen-4.tmp" test ! -e "$D/gen-4" -a ! -e "$D/gen-4.tmp"
expect 1 "timeout: no answer within 5 s in phase prepare" "a process that does not answer times out" \
	"$CKPT" checkpoint
check "no gen-5" test ! -e "$D/gen-5" -a ! -e "$D/gen-5.tmp"
check "status shows the timeout" sh -c "'$CKPT' status --dir '$D' | grep -q 'last error:.*timeout'"

expect 0 "$D/gen-6" "checkpoint 6 commits" "$CKPT" checkpoint
check "only the last 2 generations are kept" test "$(gens "$D")" = "gen-3 gen-6 "
expect 0 "manual" "'ckpt list' shows them" "$CKPT" list "$D"

expect 1 "disconnected during write" "a process dying during WRITE aborts" "$CKPT" checkpoint
wait_exit 10 $RUN
check "ckpt run returns the dead program's status" test "$WAIT_RC" = 3
check "gen-6 is still the newest" test "$(gens "$D")" = "gen-3 gen-6 "
check "the agent keeps the reason after the process left" sh -c "'$CKPT' status --dir '$D' | grep -q 'disconnected during write'"
expect 1 "nothing to checkpoint" "a checkpoint with no process is refused" "$CKPT" checkpoint

# --kill: the processes exit with 85 right after the commit.
D2=$T/kill
"$CKPT" run --dir "$D2" -- "$FAKE_PROC" >"$T/k.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a second computation registers" has_nprocs "$D2" 1
expect 0 "$D2/gen-1" "checkpoint --kill commits" "$CKPT" checkpoint --dir "$D2" --kill
wait_exit 10 $RUN
check "the program exits 85, so does ckpt run" test "$WAIT_RC" = 85

# Concurrent requests: each is answered with a committed generation.
D7=$T/concurrent
"$CKPT" run --dir "$D7" -- "$FAKE_PROC" >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a computation for concurrent requests registers" has_nprocs "$D7" 1
P=()
for i in 1 2 3 4; do "$CKPT" checkpoint --dir "$D7" >"$T/cc.$i" 2>&1 & P+=($!); done
rcs=""
for p in "${P[@]}"; do wait "$p"; rcs="$rcs$?"; done
check "four concurrent checkpoint requests all succeed" test "$rcs" = 0000
check "each prints a committed generation" sh -c "cat '$T'/cc.* | grep -c '^$D7/gen-[0-9]*\$' | grep -qx 4"
kill $RUN

# CKPT_KEEP=1 keeps only the newest.
D3=$T/keep1
CKPT_KEEP=1 "$CKPT" run --dir "$D3" -- "$FAKE_PROC" >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a computation with CKPT_KEEP=1 registers" has_nprocs "$D3" 1
for i in 1 2 3; do "$CKPT" checkpoint --dir "$D3" >/dev/null; done
check "CKPT_KEEP=1 leaves only gen-3" test "$(gens "$D3")" = "gen-3 "
kill $RUN

# A program that forked: both processes are in one generation, parent first.
D4=$T/fork
"$CKPT" run --dir "$D4" -- "$FAKE_PROC" --fork >"$T/f.out" 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "parent and child register" has_nprocs "$D4" 2
expect 0 "$D4/gen-1" "a forked program is checkpointed" "$CKPT" checkpoint --dir "$D4" --kill
check "the generation holds two images" test "$(manifest "$D4/gen-1" 'len(m["images"])')" = 2
check "the parent's image comes first" test "$(manifest "$D4/gen-1" 'm["images"][0]["file"]')" = 0.0.img
wait_exit 10 $RUN

# CKPT_VERIFY=1: the agent reads every image back before committing; the
# fake image is no real image, so the generation must be refused.
D6=$T/verify
CKPT_VERIFY=1 "$CKPT" run --dir "$D6" -- "$FAKE_PROC" >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 10 "a computation with CKPT_VERIFY=1 registers" has_nprocs "$D6" 1
expect 1 "image verification failed" "CKPT_VERIFY=1 refuses an invalid image" \
	"$CKPT" checkpoint --dir "$D6"
check "and commits nothing" test -z "$(gens "$D6")"
kill $RUN

# --interval: the agent checkpoints on its own.
D5=$T/interval
# Every generation is kept: with the default 2, gen-2 is pruned once gen-4
# commits, which a loaded machine can let happen before the check reads it.
CKPT_KEEP=1000 "$CKPT" run --dir "$D5" --interval 1 -- "$FAKE_PROC" >/dev/null 2>&1 &
RUN=$!
BG+=($RUN)
wait_for 15 "periodic checkpoints commit generations 1 and 2" test -d "$D5/gen-2"
check "their trigger is 'interval'" test "$(manifest "$D5/gen-2" 'm["trigger"]')" = interval
kill $RUN
finish
