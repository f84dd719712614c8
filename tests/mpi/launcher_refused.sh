#!/usr/bin/env bash
# `mpiexec`/`mpirun` inside a --checkpoint=auto job start their per-node
# launchers through srun (MPICH's Hydra: hydra_pmi_proxy; Open MPI:
# orted), and the MPI ranks are the launchers' children. Before the plugin
# refused them, the launchers registered as the step's tasks and the ranks
# claimed the same step and ranks. Now each launcher's task says in the job
# output that the step runs WITHOUT checkpoints and why, nothing registers
# with the job's coordinator (so `ckpt checkpoint JOBID` commits nothing),
# and the program ends with the result of an uninterrupted run.
# Arguments: CKPT MPICH_PROG OMPI_PROG (the ckpt CLI, mpi_spin built with
# MPICH and with Open MPI).
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
[ $# -eq 3 ] || fail "usage: $0 CKPT MPICH_PROG OMPI_PROG"
ckpt=$1
job=
. "$(dirname "$0")/../slurm/cluster_lib.sh"
require_cluster
make_workdir launcher-refused
trap cluster_cleanup EXIT
unset LD_LIBRARY_PATH
cp "$2" mpich_prog
cp "$3" ompi_prog
chown "$TESTCLUSTER_USER:" mpich_prog ompi_prog
steps=150 # 100 ms each

# check_launcher NAME LAUNCHER LAUNCH: a 2-node job runs LAUNCH PROG STEPS.
check_launcher() {
	local name=$1 launcher=$2 launch=$3 jobdir n
	job=$(as_user sbatch --parsable -N2 --ntasks-per-node=1 --checkpoint=auto \
		--checkpoint-dir="$workdir/ckpt-$name" -o "$name.txt" \
		--wrap "$launch -n 2 ./${name}_prog $steps")
	jobdir=$workdir/ckpt-$name/$job
	echo "$name: job $job: $launch"
	wait_file_grep "$name.txt" '^ready rank 1' 180
	if as_user "$ckpt" checkpoint "$job" >"$name-ckpt.txt" 2>&1; then
		fail "$name: a checkpoint of job $job was committed: $(cat "$name-ckpt.txt")"
	fi
	[ -z "$(committed_gens "$jobdir")" ] ||
		fail "$name: a generation was committed: $(committed_gens "$jobdir")"
	wait_job_ended "$job" 300
	[ "$(job_state "$job")" = COMPLETED ] ||
		fail "$name: job $job ended $(job_state "$job"): $(tail -n 5 "$name.txt")"
	[ "$(grep -c '^done ' "$name.txt")" = 2 ] ||
		fail "$name: the ranks did not both finish: $(tail -n 5 "$name.txt")"
	# The refusal goes to the launcher's stderr: Hydra passes it into the
	# job's output, Open MPI's mpirun discards its orteds' stderr (its
	# user learns at the job's end: slurm-script-commands); slurmd's log
	# has it for both.
	n=$(grep -c "\[$job\.[0-9]*\].*runs $launcher, the launcher of mpiexec/mpirun inside the job.*WITHOUT checkpoints" \
		"$TESTCLUSTER_DIR"/log/slurmd-cn*.log || true)
	[ "$(awk -F: '{ s += $NF } END { print s }' <<<"$n")" = 2 ] ||
		fail "$name: expected the refusal in slurmd's log once per node (2), saw: $n"
	if [ "$launcher" = hydra_pmi_proxy ]; then
		n=$(grep -c "runs $launcher, the launcher of mpiexec/mpirun inside the job.*WITHOUT checkpoints; start the ranks with srun --mpi=pmi2" \
			"$name.txt" || true)
		[ "$n" = 2 ] || fail "$name: expected the refusal in the job's output once per node (2), saw $n: $(grep -i slurm-ckpt "$name.txt" || true)"
	fi
	! grep -q 'registered pid' "$jobdir/agent.log" 2>/dev/null ||
		fail "$name: processes registered with the coordinator: $(grep 'registered pid' "$jobdir/agent.log")"
	echo "$name: refused on both nodes, nothing registered; $(cat "$name-ckpt.txt")"
}

check_launcher mpich hydra_pmi_proxy mpiexec.hydra
check_launcher ompi orted mpirun.openmpi
trap - EXIT
echo "ok: mpiexec (Hydra) and mpirun (Open MPI) inside a job run without checkpoints, said so"
