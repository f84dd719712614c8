#!/bin/bash
# run_cycles.sh - checkpoint -> kill -> restart a program several times at
# random moments and compare its complete stdout with an uninterrupted run.
#
#   run_cycles.sh LIBCKPT RESTORE AGENT MIN_CYCLES MAX_IMAGE_MB PROG [ARG...]
#
# With NONFINAL=N in the environment, each run first takes N non-final
# checkpoints (the program goes on after each) before its final one.
# With LOAD=N, N busy loops compete for the CPUs during every run
# (the reference run included), so quiesce and restore happen under load.
#
# The reference run gives the run time T; every run (the first under
# LD_PRELOAD, then each restore) is checkpointed (final) after a random delay
# in [T/(3(MIN+1)), T/(2(MIN+1))) of its own run time, so at least MIN_CYCLES
# checkpoints happen before the program finishes even when it runs faster
# than the reference did. Exit 0 only if the program
# ended with status 0, its output equals the reference, at least MIN_CYCLES
# cycles happened and no image exceeded MAX_IMAGE_MB.
set -u
lib=$1 restore=$2 agent=$3 min=$4 max_mb=$5
shift 5
work=$(mktemp -d /tmp/ckpt-standalone.XXXXXX)
burners=()
cleanup() {
	[ ${#burners[@]} -eq 0 ] || kill "${burners[@]}" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
for ((i = 0; i < ${LOAD:-0}; i++)); do
	# Each burner ends by itself after 10 minutes even if the trap is lost.
	timeout 600 bash -c 'while :; do :; done' &
	burners+=($!)
done
log=$work/log

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

t0=$(now_ms)
"$@" >"$work/ref" 2>>"$log"
rc=$?
t=$(( $(now_ms) - t0 ))
if [ $rc -ne 0 ]; then
	echo "reference run failed with status $rc"; cat "$log"; exit 1
fi
lo=$(( t / (3 * (min + 1)) ))
span=$(( t / (2 * (min + 1)) - lo ))
[ $span -gt 0 ] || span=1
pick() { echo $(( lo + (RANDOM * 32768 + RANDOM) % span )); }

cycles=0
d=$(pick)
echo "reference ${t} ms; run 0: checkpoint after ${d} ms" >>"$log"
nonfinal=${NONFINAL:-0}
nf_args=(--nonfinal "$nonfinal" --interval $(( lo / (nonfinal + 1) + 1 )))
"$agent" --sock "$work/s0" --image "$work/img" --preload "$lib" --delay "$d" "${nf_args[@]}" -- "$@" \
	>"$work/out" 2>>"$log"
rc=$?
while [ $rc -eq 10 ]; do
	cycles=$((cycles + 1))
	size=$(stat -c %s "$work/img")
	if [ "$size" -gt $(( max_mb * 1024 * 1024 )) ]; then
		echo "image of cycle $cycles is $size bytes, over ${max_mb} MiB"; cat "$log"; exit 1
	fi
	[ $cycles -lt 50 ] || { echo "no end after 50 cycles"; cat "$log"; exit 1; }
	d=$(pick)
	echo "restart $cycles: checkpoint after ${d} ms" >>"$log"
	"$agent" --sock "$work/s$cycles" --image "$work/img" --delay "$d" "${nf_args[@]}" -- \
		"$restore" "$work/img" --agent "$work/s$cycles" >>"$work/out" 2>>"$log"
	rc=$?
done
if [ $rc -ne 0 ]; then
	echo "run ended with status $rc after $cycles cycles"; cat "$log"; exit 1
fi
if ! cmp -s "$work/ref" "$work/out"; then
	echo "output differs from the uninterrupted run after $cycles cycles:"
	diff "$work/ref" "$work/out" | head -20; cat "$log"; exit 1
fi
if [ $cycles -lt "$min" ]; then
	# Under heavy load the reference time says little about later runs:
	# too few cycles is a timing accident, tried again (up to 3 times).
	attempt=${CYCLES_ATTEMPT:-1}
	echo "only $cycles cycles (wanted $min), attempt $attempt"
	[ "$attempt" -lt 3 ] || { cat "$log"; exit 1; }
	rm -rf "$work"
	CYCLES_ATTEMPT=$((attempt + 1)) exec "$0" "$lib" "$restore" "$agent" "$min" "$max_mb" "$@"
fi
grep '^ckpt:' "$log"
echo "ok: $cycles checkpoint/restart cycles, output identical"
