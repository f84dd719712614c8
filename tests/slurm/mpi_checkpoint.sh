#!/usr/bin/env bash
# MPI through Slurm: an `sbatch --checkpoint=auto` job whose step is
# `srun --mpi=pmi2 -N2 -n4 PROG` is checkpointed at two random moments with
# `ckpt checkpoint JOBID`, then with --requeue; the requeued job restarts
# every rank from that generation on another placement (cyclic instead of
# block: ranks 1 and 2 change node), is checkpointed again, and finishes
# with each rank's final state and the job's result exactly those of an
# uninterrupted run of the same program with native MPICH. Every rank,
# before and after the restart, maps the shadow libmpich.so.12 and each
# LIB given.
# PROG: tests/mpi/mpi_cycle.c (point-to-point with ANY_SOURCE after Probe,
# Mprobe or Improbe, derived types, 4 MiB messages and an Iallreduce in
# flight, every common collective, split and created communicators), or
# tests/mpi/mpi_cycle_f.f90 (Fortran, `use mpi`: LIB libmpichfort.so.12).
# Arguments: CKPT PROG [LIB...] (the ckpt CLI, the MPI program).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || fail "usage: $0 CKPT PROG [LIB...]"
ckpt=$1 prog=$2
shift 2
libs=("$@")
job=
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/mpi_lib.sh"
mpi_setup "mpi-checkpoint-$(basename "$prog")" "$prog"
iters=240 sleep_ms=100 # about 30 s of run time

# expect_split_ranks WHEN: every rank in $status_json maps the shadow
# libmpich.so.12 (the build's or the package's mpi/ directory: MPICH's own
# is mapped too, in the lower half) and each of $libs.
expect_split_ranks() {
	local r pid maps lib
	for r in 0 1 2 3; do
		pid=$(status_pid "$r")
		[ -n "$pid" ] && maps=$(cat "/proc/$pid/maps" 2>/dev/null) ||
			fail "$1: no process for rank $r (pid '${pid:-}')"
		grep -q '/mpi/libmpich\.so\.12' <<<"$maps" ||
			fail "$1: rank $r (pid $pid) does not map the shadow libmpich.so.12:" \
				"$(grep -E 'libmpich' <<<"$maps" | awk '{print $6}' | sort -u)"
		for lib in ${libs[@]+"${libs[@]}"}; do
			grep -q "/$lib" <<<"$maps" || fail "$1: rank $r (pid $pid) does not map $lib"
		done
	done
}

mpi_reference "$iters"
mpi_job_script "$iters" "$sleep_ms"
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --requeue --open-mode=append \
	--checkpoint=auto --checkpoint-dir="$workdir/ckpt" -o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

wait_running "$job" 4 180
wait_lines out-0.txt '^iter ' 3 120
# MPI ranks are checkpointable only under the shadow library the plugin
# put first in LD_LIBRARY_PATH.
expect_split_ranks "first start"

# A few checkpoints at random moments of the first start (the pauses are
# deliberate: they pick the moment, they wait for nothing).
gen=0
for wait_ms in $((RANDOM % 2000 + 200)) $((RANDOM % 2000 + 200)); do
	sleep "$(printf '0.%03d' $((wait_ms % 1000)))"
	sleep $((wait_ms / 1000))
	gen=$((gen + 1))
	checkpoint_ok "$job" "$gen"
	verify_gen "$jobdir/gen-$gen" 4
done
gen=$((gen + 1))
checkpoint_ok "$job" "$gen" --requeue
verify_gen "$jobdir/gen-$gen" 4
restored_from=$gen

wait_restarted "$job" 1 300
wait_status "$job" '(.processes | length) == 4 and all(.processes[]; .restored == true)' 120 \
	"4 restored ranks on the second start"
status_has "all(.processes[]; .restored_gen == $restored_from)" "ranks restored from gen-$restored_from"
expect_split_ranks "after the restart"

# A checkpoint of the restarted ranks, once they compute again: the new
# lower half is checkpointable too.
wait_lines out-0.txt '^iter ' $(($(grep -c '^iter ' out-0.txt) + 1)) 60
gen=$((gen + 1))
checkpoint_ok "$job" "$gen"
verify_gen "$jobdir/gen-$gen" 4

wait_job_done "$job" 300
grep -q '^start 1 distribution cyclic' job.txt || fail "no second start in job.txt: $(cat job.txt)"
for r in 0 1 2 3; do
	[ "$(grep -c "^slurm-ckpt: step 0 task $r resumes from gen-$restored_from" "out-$r.txt")" = 1 ] ||
		fail "rank $r did not report resuming from gen-$restored_from once: $(grep slurm-ckpt "out-$r.txt")"
done
mpi_expect_results "the checkpointed run"
echo "ok: job $job: 4 MPI ranks of $(basename "$prog") checkpointed $gen times, restarted on another placement, results identical"
