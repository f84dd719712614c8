#!/usr/bin/env bash
# A job's node agent killed (kill -9) is replaced (issue 12, item 9): the
# job's processes on that node find their connection gone and nobody on the
# socket, one of them starts the same ckpt-agent again (as the job's user,
# inside the job), every process of the node registers with it, it
# registers with the coordinator, and the next checkpoint commits all four
# images. Four times: at rest on the other node (cn2) and on the batch host,
# then during PREPARE on each (one task stopped holds PREPARE open; the
# checkpoint in flight fails, its gen-N.tmp goes, no committed generation is
# lost). Then the job ends by itself with the output of an uninterrupted
# run, and every agent, the replacements too, goes away with it.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/node_agent_lib.sh"
cluster_args "$@"
require_cluster
make_workdir node-agent-restart
stopped=
cleanup() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT

steps=1800 # 180 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt $counter $steps 100")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 4 180
batch=$(job_field "$job" BatchHost)
other=cn2
[ "$batch" = cn2 ] && other=cn1
echo "batch host $batch, other node $other"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4

gen=1
# at_rest NODE: kills NODE's agent with nothing in progress; the next
# checkpoint commits all four.
at_rest() {
	local node=$1 old
	old=$(node_agent_pid "$node")
	kill -9 "$old"
	echo "killed the node agent of $node (pid $old) at rest"
	node_agent_replaced "$node" "$old" 120
	gen=$((gen + 1))
	checkpoint_ok "$job" "$gen"
	verify_gen "$jobdir/gen-$gen" 4
}

# in_prepare NODE: kills NODE's agent while a checkpoint waits in PREPARE
# for a stopped task of the other node; that checkpoint fails, the next one
# commits all four.
in_prepare() {
	local node=$1 hold rank old rc=0 before
	hold=cn1
	[ "$node" = cn1 ] && hold=cn2
	wait_status "$job" 'all(.processes[]; .state == "running")' 60 "processes running"
	rank=$(jq -r --arg n "$hold" '[.processes[] | select(.node == $n) | .rank] | min' <<<"$status_json")
	stopped=$(status_pid "$rank")
	[ -n "$stopped" ] && kill -0 "$stopped" || fail "no live task on $hold: $status_json"
	old=$(node_agent_pid "$node")
	before=$(committed_gens "$jobdir")
	kill -STOP "$stopped"
	as_user "$ckpt" checkpoint "$job" >ckpt-prep-out.txt 2>ckpt-prep-err.txt &
	local ckpt_pid=$!
	wait_status "$job" '.checkpoint.phase == "prepare"' 60 "a checkpoint in PREPARE"
	kill -9 "$old"
	echo "killed the node agent of $node (pid $old) during PREPARE of gen $(jq -r .checkpoint.gen <<<"$status_json")"
	sleep 0.5
	kill -CONT "$stopped"
	stopped=
	local deadline=$((SECONDS + 120))
	while kill -0 "$ckpt_pid" 2>/dev/null; do
		((SECONDS < deadline)) || fail "ckpt checkpoint still waiting 120 s after the node agent of $node died"
		sleep 0.5
	done
	wait "$ckpt_pid" || rc=$?
	[ "$rc" -ne 0 ] || fail "ckpt checkpoint succeeded although the node agent of $node died in PREPARE: $(cat ckpt-prep-out.txt)"
	echo "the checkpoint in flight failed as expected: $(tail -n 1 ckpt-prep-err.txt)"
	node_agent_replaced "$node" "$old" 120
	expect_no_tmp "$jobdir"
	[ "$(committed_gens "$jobdir")" = "$before" ] ||
		fail "committed generations changed from '$before' to '$(committed_gens "$jobdir")' by a failed checkpoint"
	local out
	out=$(as_user "$ckpt" checkpoint "$job" 2>ckpt-next-err.txt) ||
		fail "checkpoint after the node agent of $node was replaced failed: $(cat ckpt-next-err.txt)"
	verify_gen "$out" 4
	echo "checkpoint after the replacement: $out"
	gen=${out##*/gen-}
}

at_rest "$other"
at_rest "$batch"
in_prepare "$other"
in_prepare "$batch"
expect_list_images "$jobdir"

wait_job_ended "$job" 300
[ "$(job_state "$job")" = COMPLETED ] || fail "job $job ended $(job_state "$job")"
for r in 0 1 2 3; do
	expect_counter_output "out-$r.txt" ref.txt
done
node_agents_gone "$job" 40
echo "ok: job $job: node agents killed at rest and in PREPARE on $other and $batch, replaced each time, checkpoints complete, job correct"
