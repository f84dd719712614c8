#!/usr/bin/env bash
# An Open MPI program (linked to libmpi.so.40, launched with srun --mpi=pmix)
# in a --checkpoint=auto job: the shadow library does not serve Open MPI's
# ABI yet (docs/mpi.md, "Open MPI"), so an image of its ranks would hold
# Open MPI's network and PMIx state and restore into broken ranks. Every
# `ckpt checkpoint JOBID` must fail naming MPI and the library, no
# generation may be committed, each rank must say once in its stderr that
# it runs on without checkpoints (not once per refused request), and the
# program must end normally with the result of an uninterrupted run.
# Arguments: CKPT PROG (the ckpt CLI, mpi_spin built with Open MPI).
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
[ $# -eq 2 ] || fail "usage: $0 CKPT PROG"
ckpt=$1 prog=$2
job=
. "$(dirname "$0")/../slurm/cluster_lib.sh"
require_cluster
make_workdir ompi-refused
trap cluster_cleanup EXIT
unset LD_LIBRARY_PATH
cp "$prog" prog
chown "$TESTCLUSTER_USER:" prog
steps=300 # 100 ms each: the job runs about 30 s

ref=$(as_user timeout 300 srun --mpi=pmix -N2 -n2 ./prog 20 2>&1) ||
	fail "an uninterrupted Open MPI run with srun --mpi=pmix failed: $ref"
[ "$(grep -c '^done ' <<<"$ref")" = 2 ] || fail "the uninterrupted run did not finish: $ref"

cat >job.sh <<JOB
#!/bin/bash
srun --mpi=pmix -N2 -n2 -o out-%t.txt -e err-%t.txt ./prog $steps
JOB
chmod 755 job.sh
chown "$TESTCLUSTER_USER:" job.sh
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=1 --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" -o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 2 180
wait_lines out-0.txt '^ready rank 0' 1 120
wait_lines out-1.txt '^ready rank 1' 1 120

for attempt in 1 2; do
	if as_user "$ckpt" checkpoint "$job" >ckpt-out.txt 2>ckpt-err.txt; then
		fail "checkpoint $attempt of the Open MPI job was committed: $(cat ckpt-out.txt)"
	fi
	grep -q "uses MPI (.*libmpi\.so\.40.*) without the shadow MPI library" ckpt-err.txt ||
		fail "refusal $attempt does not name MPI and libmpi.so.40: $(cat ckpt-err.txt)"
	[ -z "$(committed_gens "$jobdir")" ] ||
		fail "a generation was committed: $(committed_gens "$jobdir")"
done

wait_job_ended "$job" 300
[ "$(job_state "$job")" = COMPLETED ] ||
	fail "job $job ended $(job_state "$job"): $(tail -n 5 err-*.txt job.txt)"
for r in 0 1; do
	grep -q '^done ' "out-$r.txt" || fail "rank $r did not finish: $(tail -n 3 "out-$r.txt")"
	n=$(grep -c 'without the shadow MPI library.*runs on without checkpoints' "err-$r.txt" || true)
	[ "$n" = 1 ] || fail "rank $r said $n times that it runs without checkpoints" \
		"(expected once): $(cat "err-$r.txt")"
done
trap - EXIT
echo "ok: job $job refused twice: $(cat ckpt-err.txt)"
