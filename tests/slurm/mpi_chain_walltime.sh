#!/usr/bin/env bash
# An MPI job through several walltimes: `sbatch --checkpoint=auto --time=1`
# of an `srun --mpi=pmi2 -N2 -n4 mpi_cycle` step that needs at least 90 s
# of run time. Before each time limit the job's coordinator takes a final
# checkpoint (trigger "walltime": end - margin, the cluster's margin being
# 20 s) and requeues the job; every start after the first restores all 4
# ranks from the newest generation, alternating block and cyclic
# placement. The job must restart at least twice, end COMPLETED, each
# restart's ranks must resume from the generation that was newest when it
# was requeued (a walltime checkpoint of all 4 ranks), and the ranks' final
# states and the result must be those of an uninterrupted native run.
# Arguments: CKPT MPI_CYCLE (the ckpt CLI, tests/mpi/mpi_cycle.c built).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || fail "usage: $0 CKPT MPI_CYCLE"
ckpt=$1 prog=$2
job=
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/mpi_lib.sh"
mpi_setup mpi-chain "$prog"
# A start computes less than 40 s (one minute minus the cluster's 20 s
# margin, minus its start-up) and every iteration sleeps 200 ms: 450
# iterations take more than 90 s however fast the host, so at least 2
# requeues. Few long iterations keep the reference run (no sleep, 4 ranks
# polling on 2 cores) short and the number of starts on a loaded host low.
iters=450 sleep_ms=200

# newest_gen: the newest committed generation of the job, 0 when none.
newest_gen() {
	local g
	g=$(committed_gens "$jobdir")
	g=${g##* }
	echo "${g:-0}"
}

mpi_reference "$iters"
mpi_job_script "$iters" "$sleep_ms"
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --time=1 --comment=00:20:00 \
	--requeue --open-mode=append --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

# Follows the job to its end; at each new restart count (the job was just
# requeued, nothing checkpoints it before it runs again) notes the newest
# generation and what took it.
deadline=$((SECONDS + $(scaled 600)))
seen=0 last=
want_gens=()
while :; do
	st=$(job_state "$job")
	restarts=$(job_field "$job" Restarts)
	line="state ${st:-unknown} restarts ${restarts:-?} comment $(job_field "$job" Comment)"
	[ "$line" = "$last" ] || echo "$(date +%T) job $job: $line"
	last=$line
	if [ -n "$restarts" ] && [ "$restarts" -gt "$seen" ]; then
		[ "$restarts" = $((seen + 1)) ] ||
			fail "restart count went from $seen to $restarts between two polls"
		g=$(newest_gen)
		[ "$g" -gt 0 ] || fail "job $job requeued (restart $restarts) without a committed generation"
		[ ${#want_gens[@]} -eq 0 ] || [ "$g" -gt "${want_gens[-1]}" ] ||
			fail "restart $restarts: newest generation is still gen-$g"
		trigger=$(jq -r .trigger "$jobdir/gen-$g/MANIFEST.json")
		[ "$trigger" = walltime ] ||
			fail "restart $restarts: gen-$g was taken by '$trigger', expected walltime"
		verify_gen "$jobdir/gen-$g" 4
		echo "restart $restarts: newest generation gen-$g ($trigger)"
		want_gens+=("$g")
		seen=$restarts
	fi
	[ "$st" = COMPLETED ] && break
	job_state_failed "$st" && fail "job $job ended $st after ${restarts:-?} restarts:" \
		"$(tail -n 5 job.txt out-*.txt)"
	((SECONDS < deadline)) || fail "job $job not COMPLETED after 600 s (state ${st:-unknown})"
	sleep 0.5
done

[ "$seen" -ge 2 ] || fail "job $job restarted $seen times, expected at least 2"
[ "$(job_field "$job" Restarts)" = "$seen" ] ||
	fail "job $job: Restarts=$(job_field "$job" Restarts), followed $seen"
for ((k = 0; k <= seen; k++)); do
	want=block
	((k % 2)) && want=cyclic
	grep -q "^start $k distribution $want\$" job.txt || fail "no start $k ($want) in job.txt: $(cat job.txt)"
done
for r in 0 1 2 3; do
	got=$(sed -n "s/^slurm-ckpt: step 0 task $r resumes from gen-\([0-9]*\).*/\1/p" "out-$r.txt" |
		tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "${want_gens[*]}" ] ||
		fail "rank $r resumed from generations '$got', expected '${want_gens[*]}' (the newest at each requeue)"
done
mpi_expect_results "the chained run"
echo "ok: job $job: 4 MPI ranks through $seen walltime requeues (generations ${want_gens[*]}), results identical"
