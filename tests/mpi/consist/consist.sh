#!/usr/bin/env bash
# consist_ckpt on 4 ranks over cn1+cn2: natively, under the shadow library
# without pauses, and under it with checkpoint pauses (prepare, stop both
# application threads with a signal, drain, resume) at random moments, three
# seeds; the last run stops threads as libckpt does (a thread found inside
# the library is signalled again), the others park them on their way out.
# Every run's hashes are identical to the native run's; in every paused
# run each rank cut and drained every pause, drained at least the 8 MiB
# message in flight and served every message it drained. Last, a run where
# rank 0 never takes part: the other ranks' prepare ends in -ETIMEDOUT
# within its timeout and the program still ends with the same results.
# Arguments: consist_ckpt SHADOW_DIR.
set -euo pipefail
. "$(dirname "$0")/../../slurm/lib.sh"
. "$(dirname "$0")/../shadow_lib.sh"
require_cluster
make_workdir mpi-consist
prog=$(stage_prog "$1")
shadow_dir=$2
pauses=6
big=$((8 << 20))

hashes() {
	grep -E '^(rank [0-9]+ hash|result:)' "$1"
}

run_ranks native.out "$prog" || fail "native run failed: $(run_output native.out | tail -n 20)"
grep -q '^result: done$' native.out || fail "native run: $(run_output native.out | tail -n 5)"
[ "$(grep -c '^rank [0-9]* hash' native.out)" = 4 ] || fail "native run: not 4 hashes"
run_ranks plain.out "$prog" LD_LIBRARY_PATH="$shadow_dir" ||
	fail "shadow run without pauses failed: $(run_output plain.out | tail -n 20)"
diff <(hashes native.out) <(hashes plain.out) ||
	fail "results under the shadow library differ from native MPICH"

drained_total=0
reposted_total=0
for run in 11:park 12:park 13:retry; do
	seed=${run%:*}
	out=paused-$seed.out
	run_ranks "$out" "$prog" LD_LIBRARY_PATH="$shadow_dir" CONSIST_PAUSES=$pauses \
		CONSIST_SEED=$seed CONSIST_STOP=${run#*:} || fail "paused run (seed $seed) failed: $(run_output "$out" | tail -n 20)"
	diff <(hashes native.out) <(hashes "$out") ||
		fail "paused run (seed $seed): results differ from the run without pauses"
	stats=$(grep '^stats rank' "$out.err" || true)
	echo "seed $seed, stop by ${run#*:}:"
	echo "$stats"
	[ "$(echo "$stats" | grep -c .)" = 4 ] || fail "seed $seed: not 4 stats lines: $(run_output "$out" | tail)"
	while read -r _ _ r _ n _ cuts _ _ _ drains _ drained _ bytes _ served _ _ _ reposted _ _; do
		[ "$n" = $pauses ] && [ "$cuts" = $pauses ] && [ "$drains" = $pauses ] ||
			fail "seed $seed rank $r: $cuts cuts and $drains drains for $n pauses, want $pauses"
		((bytes >= big)) || fail "seed $seed rank $r: drained $bytes bytes, not the 8 MiB message in flight"
		[ "$served" = "$drained" ] || fail "seed $seed rank $r: drained $drained messages, served $served"
		drained_total=$((drained_total + drained))
		reposted_total=$((reposted_total + reposted))
	done <<<"$stats"
done
echo "ok: $drained_total messages drained and served over 3 paused runs, $reposted_total receives posted again"

SECONDS=0
run_ranks absent.out "$prog" LD_LIBRARY_PATH="$shadow_dir" CONSIST_ABSENT_RANK=0 ||
	fail "run with rank 0 out of the cut failed: $(run_output absent.out | tail -n 20)"
[ "$(grep -c 'prepare timed out as expected' absent.out.err)" = 3 ] ||
	fail "not 3 ranks timed out without rank 0: $(run_output absent.out | tail)"
diff <(hashes native.out) <(hashes absent.out) || fail "results differ after a timed-out cut"
echo "ok: a cut without rank 0 timed out on the 3 others ($SECONDS s for the whole run)"
