#!/usr/bin/env bash
# A job's node agent killed (kill -9) during WRITE is replaced (issue 12,
# item 9). Four tasks of 300 MiB of incompressible memory make WRITE last
# seconds; the node agent of the other node (cn2), then the batch host's,
# dies in it. The checkpoint in flight may fail (then its gen-N.tmp goes
# and the committed generations stay as they were) or, when every image
# was already written and acknowledged, commit complete; a process of the
# node starts the agent again, all four register again, and the next
# checkpoint commits all four images. Nothing may hang.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/node_agent_lib.sh"
cluster_args "$@"
require_cluster
make_workdir node-agent-restart-write
trap cluster_cleanup EXIT
# Full images only: the test needs a WRITE phase of seconds after gen-1, and
# an incremental gen-2 of memory unchanged since gen-1 is written at once
# (sbatch passes the variable on to the tasks).
export CKPT_INCREMENTAL=0

job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt $memhog 300 1000 200")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 4 180
for r in 0 1 2 3; do
	wait_lines "out-$r.txt" '^step ' 1 120
done
batch=$(job_field "$job" BatchHost)
other=cn2
[ "$batch" = cn2 ] && other=cn1
echo "batch host $batch, other node $other"
start=$SECONDS
checkpoint_ok "$job" 1
echo "gen-1 took $((SECONDS - start)) s"
verify_gen "$jobdir/gen-1" 4

# in_write NODE: kills NODE's agent while a checkpoint is in WRITE.
in_write() {
	local node=$1 old before st gen rc=0 out
	wait_status "$job" 'all(.processes[]; .state == "running")' 60 "processes running"
	old=$(node_agent_pid "$node")
	before=$(committed_gens "$jobdir")
	as_user "$ckpt" checkpoint "$job" >ckpt-w-out.txt 2>ckpt-w-err.txt &
	local ckpt_pid=$! deadline=$((SECONDS + 120))
	while :; do
		st=$(job_status "$job")
		[ "$(jq -r '.checkpoint.phase // empty' <<<"$st" 2>/dev/null)" = write ] && break
		kill -0 "$ckpt_pid" 2>/dev/null ||
			fail "the checkpoint ended before its WRITE phase was seen: $(cat ckpt-w-out.txt ckpt-w-err.txt)"
		((SECONDS < deadline)) || fail "no WRITE phase within 120 s; status: $st"
		sleep 0.1
	done
	gen=$(jq -r .checkpoint.gen <<<"$st")
	kill -9 "$old"
	echo "killed the node agent of $node (pid $old) during WRITE of gen $gen"
	deadline=$((SECONDS + 180))
	while kill -0 "$ckpt_pid" 2>/dev/null; do
		((SECONDS < deadline)) || fail "ckpt checkpoint still waiting 180 s after the node agent of $node died"
		sleep 0.5
	done
	wait "$ckpt_pid" || rc=$?
	node_agent_replaced "$node" "$old" 180
	expect_no_tmp "$jobdir"
	if [ "$rc" -ne 0 ]; then
		echo "the checkpoint in flight failed: $(tail -n 1 ckpt-w-err.txt)"
		[ "$(committed_gens "$jobdir")" = "$before" ] ||
			fail "committed generations changed from '$before' to '$(committed_gens "$jobdir")' by a failed checkpoint"
	else
		echo "the checkpoint in flight committed before the agent died: $(cat ckpt-w-out.txt)"
		verify_gen "$(cat ckpt-w-out.txt)" 4
	fi
	out=$(as_user "$ckpt" checkpoint "$job" 2>ckpt-next-err.txt) ||
		fail "checkpoint after the node agent of $node was replaced failed: $(cat ckpt-next-err.txt)"
	verify_gen "$out" 4
	echo "checkpoint after the replacement: $out"
}

in_write "$other"
in_write "$batch"
expect_list_images "$jobdir"
for r in 0 1 2 3; do
	tail -n 2 "out-$r.txt" | grep -q '^step ' || fail "task $r stopped: $(tail -n 3 "out-$r.txt")"
done
echo "ok: job $job: node agents of $other and $batch killed during WRITE, replaced, next checkpoints complete"
