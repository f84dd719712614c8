#!/bin/bash
# cli_args.sh - command-line errors and help of ckpt: every bad input gives
# exit 2 (usage) or 1 (failure) and a message naming the object and what to do.
. "$TEST_LIB"

expect 0 "Usage: ckpt COMMAND" "ckpt --help" "$CKPT" --help
expect 2 "missing command" "ckpt without a command" "$CKPT"
expect 2 "unknown command 'frob'" "unknown command" "$CKPT" frob
expect 2 "unknown option '--frob'" "unknown global option" "$CKPT" --frob
for c in run checkpoint restart status list inspect; do
	expect 0 "Usage: ckpt $c" "ckpt $c --help" "$CKPT" $c --help
done
expect 2 "missing PROG" "run without PROG" "$CKPT" run
expect 2 "missing PROG" "run with only options" "$CKPT" run --dir "$T/x" -v --
expect 2 "unknown option '--bogus'" "run with an unknown option" "$CKPT" run --bogus true
expect 2 "needs a value" "run --dir without value" "$CKPT" run --dir
expect 2 "--interval: 'soon' is not a duration" "run with a bad interval" \
	"$CKPT" run --interval soon true
expect 2 "unknown option '--verify'" "checkpoint --verify" "$CKPT" checkpoint --verify
expect 2 "--requeue needs a JOBID" "checkpoint --requeue without a job" "$CKPT" checkpoint --requeue --dir "$T"
expect 2 "not a Slurm job id" "checkpoint of a job id that is not a number" "$CKPT" checkpoint 12x
expect 2 "'extra' is not a Slurm job id" "status with an argument that is no job id" "$CKPT" status extra
expect 2 "unexpected argument '2'" "status with two arguments" "$CKPT" status 1 2
expect 2 "unexpected argument '2'" "restart with two generations" "$CKPT" restart 1 2
expect 2 "missing IMAGE" "inspect without IMAGE" "$CKPT" inspect

expect 1 "cannot find libckpt.so; tried: $T/nolib/libckpt.so" "missing library names the paths" \
	env CKPT_LIBDIR="$T/nolib" "$CKPT" run true
expect 1 "checkpoint directory $T/none does not exist" "checkpoint, missing directory" \
	"$CKPT" checkpoint --dir "$T/none"
mkdir -p "$T/d"
expect 1 "no agent running for $T/d" "checkpoint without an agent" "$CKPT" checkpoint --dir "$T/d"
expect 1 "no agent running for $T/d" "status without an agent" "$CKPT" status --dir "$T/d"
expect 0 "no committed generation in $T/d" "list of an empty directory" "$CKPT" list "$T/d"
expect 0 "[" "list --json of an empty directory" "$CKPT" list --json "$T/d"
expect 1 "no committed generation in $T/d" "restart without generations" \
	"$CKPT" restart --dir "$T/d"

# A committed generation whose manifest is garbage.
mkdir -p "$T/d/gen-1"
echo '{"format": 1, "gen": "one"' >"$T/d/gen-1/MANIFEST.json"
expect 1 "generation 5 not found in $T/d (committed: 1)" "restart of a missing generation" \
	"$CKPT" restart --dir "$T/d" 5
expect 1 "'abc' is not a generation number" "restart with a bad generation" \
	"$CKPT" restart --dir "$T/d" abc
expect 1 "corrupt or unreadable manifest" "restart with a corrupt manifest" \
	"$CKPT" restart --dir "$T/d"
expect 0 "MANIFEST.json: corrupt or invalid" "list shows the corrupt manifest" "$CKPT" list "$T/d"
expect 1 "$T/nofile" "inspect of a missing file" "$CKPT" inspect "$T/nofile"
head -c 5000 /dev/urandom >"$T/junk.img"
expect 1 "junk.img" "inspect of a junk file" "$CKPT" inspect --verify "$T/junk.img"

expect 1 'CKPT_KEEP="0" is not an integer >= 1' "an agent refusing its environment says why" \
	env CKPT_KEEP=0 "$CKPT" run --dir "$T/k" true
expect 1 'CKPT_PHASE_TIMEOUT="soon"' "a bad phase timeout too" \
	env CKPT_PHASE_TIMEOUT=soon "$CKPT" run --dir "$T/k" true

# A program that cannot be executed: the shell's 127, the agent still starts.
expect 127 "cannot run $T/missing-prog" "run of a missing program" \
	"$CKPT" run --dir "$T/r" "$T/missing-prog"
finish
