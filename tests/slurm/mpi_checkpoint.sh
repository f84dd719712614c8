#!/usr/bin/env bash
# MPI through Slurm: an `sbatch --checkpoint=auto` job whose step is
# `srun --mpi=pmi2 -N2 -n4 mpi_cycle` (point-to-point with ANY_SOURCE,
# Probe, a derived datatype and 4 MiB messages in flight, collectives on
# world and on a split communicator) is checkpointed at random moments with
# `ckpt checkpoint JOBID`, then checkpointed with --requeue; the requeued job
# restarts every rank from that generation on another placement (cyclic
# instead of block: ranks 1 and 2 change node), is checkpointed again, and
# finishes with each rank's final state and the job's result exactly those
# of an uninterrupted run of the same program with native MPICH.
# Arguments: CKPT MPI_CYCLE (the ckpt CLI, tests/mpi/mpi_cycle.c built).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || fail "usage: $0 CKPT MPI_CYCLE"
ckpt=$1 prog=$2
job=
. "$(dirname "$0")/cluster_lib.sh"
require_cluster
make_workdir mpi-checkpoint
trap cluster_cleanup EXIT
# meson's LD_LIBRARY_PATH holds the build's shadow library: the reference
# run must be native, and the job must get the shadow library from the
# plugin alone.
unset LD_LIBRARY_PATH

cp "$prog" mpi_cycle
chown "$TESTCLUSTER_USER:" mpi_cycle
iters=240 sleep_ms=100 # about 30 s of run time

# result_lines FILE...: the program's final lines, sorted.
result_lines() {
	cat "$@" | grep -E '^(rank [0-9]+ state|result) [0-9a-f]{16}$' | sort || true
}

as_user timeout 300 srun --mpi=pmi2 -N2 -n4 -o ref-%t.txt ./mpi_cycle "$iters" 0 ||
	fail "the uninterrupted reference run failed: $(cat ref-*.txt | tail -n 5)"
result_lines ref-*.txt >ref.txt
[ "$(wc -l <ref.txt)" = 5 ] || fail "reference run printed $(wc -l <ref.txt) result lines, expected 5"

cat >job.sh <<JOB
#!/bin/bash
if [ "\${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then dist=cyclic; else dist=block; fi
echo "start \${SLURM_RESTART_COUNT:-0} distribution \$dist"
srun --mpi=pmi2 -N2 -n4 -m \$dist --open-mode=append -o out-%t.txt ./mpi_cycle $iters $sleep_ms
JOB
chmod 755 job.sh
chown "$TESTCLUSTER_USER:" job.sh
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --requeue --open-mode=append \
	--checkpoint=auto --checkpoint-dir="$workdir/ckpt" -o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

wait_running "$job" 4 180
wait_lines out-0.txt '^iter ' 3 120
# MPI ranks are checkpointable only under the shadow library the plugin
# put first in LD_LIBRARY_PATH.
pid=$(status_pid 0)
[ -n "$pid" ] && grep -q '/mpi/libmpich.so.12' "/proc/$pid/maps" ||
	fail "rank 0 (pid ${pid:-?}) does not run under the shadow libmpich.so.12"

# A few checkpoints at random moments of the first start.
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

deadline=$((SECONDS + 300))
while [ "$(job_field "$job" Restarts)" != 1 ] || [ "$(job_state "$job")" != RUNNING ]; do
	((SECONDS < deadline)) || fail "job $job not running again after the requeue" \
		"(state $(job_state "$job"), restarts $(job_field "$job" Restarts))"
	job_ended "$job" && fail "job $job ended $(job_state "$job") instead of being requeued:" \
		"$(tail -n 5 out-*.txt job.txt)"
	sleep 0.5
done
wait_status "$job" '(.processes | length) == 4 and all(.processes[]; .restored == true)' 120 \
	"4 restored ranks on the second start"
status_has "all(.processes[]; .restored_gen == $restored_from)" "ranks restored from gen-$restored_from"

# A checkpoint of the restarted ranks: the new lower half is checkpointable too.
gen=$((gen + 1))
sleep 1
checkpoint_ok "$job" "$gen"
verify_gen "$jobdir/gen-$gen" 4

wait_job_done "$job" 300
grep -q '^start 1 distribution cyclic' job.txt || fail "no second start in job.txt: $(cat job.txt)"
for r in 0 1 2 3; do
	[ "$(grep -c "^slurm-ckpt: step 0 task $r resumes from gen-$restored_from" "out-$r.txt")" = 1 ] ||
		fail "rank $r did not report resuming from gen-$restored_from once: $(grep slurm-ckpt "out-$r.txt")"
done
result_lines out-*.txt >got.txt
diff -q ref.txt got.txt >/dev/null ||
	fail "the checkpointed run's results differ from the uninterrupted run: $(diff ref.txt got.txt | head)"
echo "ok: job $job: 4 MPI ranks checkpointed $gen times, restarted on another placement, results identical"
