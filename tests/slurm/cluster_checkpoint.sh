#!/usr/bin/env bash
# A job whose 4 tasks run on two nodes (srun -N2 -n4) is checkpointed as
# one: `ckpt checkpoint JOBID` by the job user, twice, commits gen-1 and
# gen-2 of the job's directory, each with the 4 tasks' images; `ckpt status
# JOBID --json` shows the 4 processes on cn1 and cn2 and both generations;
# the tasks run on and print exactly what an uninterrupted run prints.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir cluster-ckpt
trap cluster_cleanup EXIT

steps=500 # 50 s at 100 ms a step: time for two checkpoints mid-run
"$counter" "$steps" 0 >ref.txt
submit_job4 "$counter $steps 100"
status_has '(.job | tostring) == "'"$job"'"' "job $job"
status_has '[.processes[] | [.step, .rank]] | sort == [[0,0],[0,1],[0,2],[0,3]]' \
	"step 0, ranks 0..3"
status_has '[.processes[].node] | unique == ["cn1", "cn2"]' "processes on cn1 and cn2"
status_has '[.processes | group_by(.node)[] | length] == [2, 2]' "2 processes on each node"
status_has '[.nodes[].node] | sort == ["cn1", "cn2"]' "nodes cn1 and cn2"
# The pids are real processes of this host, the counter, on the node said.
for r in 0 1 2 3; do
	pid=$(status_pid "$r")
	node=$(status_node "$r")
	[ "$(readlink "/proc/$pid/exe")" = "$(realpath "$counter")" ] ||
		fail "rank $r: pid $pid is not the counter ($(readlink "/proc/$pid/exe" || echo gone))"
	[ "$(proc_env "$pid" SLURMD_NODENAME)" = "$node" ] ||
		fail "rank $r: pid $pid runs on $(proc_env "$pid" SLURMD_NODENAME), status says $node"
	[ "$(proc_env "$pid" SLURM_PROCID)" = "$r" ] ||
		fail "rank $r: pid $pid is task $(proc_env "$pid" SLURM_PROCID)"
done
wait_lines out-3.txt '^[0-9]* ' 20 60

checkpoint_ok "$job" 1
checkpoint_ok "$job" 2
expect_gens "$jobdir" "1 2"
expect_list_images "$jobdir"
verify_gen "$jobdir/gen-1" 4
verify_gen "$jobdir/gen-2" 4
wait_status "$job" '[.generations[].gen] | sort == [1, 2]' 10 "generations 1 and 2 in the status"
status_has 'all(.generations[]; .images == 4)' "4 images in each generation"
status_has '.checkpoint == null' "no checkpoint in progress"
status_has '.last_error == null' "no error"
status_has 'all(.processes[]; .state == "running" and .restored == false)' \
	"4 processes running on, not restored"

wait_job_done "$job" 180
for r in 0 1 2 3; do
	expect_counter_output "out-$r.txt" ref.txt
done
grep -q 'resumes from' out-*.txt && fail "a task was restored: $(grep 'resumes from' out-*.txt)"
echo "ok: job $job checkpointed twice over cn1 and cn2 (gen-1, gen-2, 4 images each), output intact"
