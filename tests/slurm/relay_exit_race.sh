#!/usr/bin/env bash
# The node agents' exit race (issue 12, item 10). `ckpt checkpoint JOBID
# --requeue` commits a final generation; the coordinator requeues the job,
# then sends "exit" to every process through the node agents. A node agent
# that looks at the job in between sees it PENDING: it used to exit at once,
# before passing the exit on, and its tasks never got it (in CI: "checkpoint
# on SIGTERM failed"). The fault point agent_relay_poll_at_exit makes each node
# agent look at the job right before it passes an exit on, so the race is hit
# every time. The node agents are started by the test (with CKPT_FAULT) before
# the step runs; the plugin's tasks find and use them.
# Every task must print its "stopping until restart (job requeued)" line, each
# node agent must say it stayed for its processes and then exit by itself,
# and the job must resume and end with the output of an uninterrupted run.
# Arguments: the ckpt CLI, the counter program, ckpt-agent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ckpt=$1 counter=$2 agent=$3 memhog=- probe=-
. "$(dirname "$0")/cluster_lib.sh"
require_cluster
make_workdir relay-exit-race
relays=()
cleanup() {
	local pid
	for pid in "${relays[@]}"; do kill "$pid" 2>/dev/null || true; done
	cluster_cleanup
}
trap cleanup EXIT

steps=300 # 30 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" --requeue --open-mode=append -o job.txt \
	--wrap "while [ ! -e $workdir/go ]; do sleep 0.2; done
srun -N2 -n4 --open-mode=append -o out-%t.txt $counter $steps 100")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_job_state "$job" RUNNING 180
wait_file_grep "$jobdir/coord.json" '"port"' 60

# This start's node agents, with the fault point, before any task exists.
for node in cn1 cn2; do
	as_user mkdir -p "$jobdir/nodes/$node"
	as_user env CKPT_FAULT=agent_relay_poll_at_exit "$agent" --dir "$jobdir/nodes/$node" \
		--job "$job" --relay "$jobdir" --node "$node" 2>"relay-$node.log" &
	relays+=("$!")
done
for node in cn1 cn2; do
	wait_file_grep "relay-$node.log" "node agent of $node for job $job: serving" 60
	wait_file_grep "relay-$node.log" "connected to the coordinator of job $job" 60
done
as_user touch go
wait_running "$job" 4 180
for r in 0 1 2 3; do
	pid=$(status_pid "$r")
	sock=$(proc_env "$pid" CKPT_AGENT_SOCKET)
	node=$(status_node "$r")
	grep -qF "serving $sock," "relay-$node.log" ||
		fail "rank $r (pid $pid on $node) uses $sock, not the test's node agent: $(cat "relay-$node.log")"
done
for r in 0 1 2 3; do wait_file_grep "out-$r.txt" '^20 ' 60; done

checkpoint_ok "$job" 1 --requeue
for r in 0 1 2 3; do
	wait_file_grep "out-$r.txt" \
		'^slurm-ckpt: checkpoint gen-1, .*; stopping until restart (job requeued)' 60
done
for node in cn1 cn2; do
	grep -q 'injecting fault "agent_relay_poll_at_exit"' "relay-$node.log" ||
		fail "the fault point never fired on $node: $(tail -n 5 "relay-$node.log")"
	grep -qE "job $job is (PENDING|REQUEUED)" "relay-$node.log" ||
		fail "the node agent of $node did not see the job requeued before the exit: $(tail -n 8 "relay-$node.log")"
	grep -q 'staying until [1-9][0-9]* process(es) have left' "relay-$node.log" ||
		fail "the node agent of $node did not wait for its processes: $(tail -n 8 "relay-$node.log")"
done
for i in 0 1; do
	deadline=$((SECONDS + $(scaled 60)))
	while kill -0 "${relays[$i]}" 2>/dev/null; do
		((SECONDS < deadline)) || fail "node agent pid ${relays[$i]} still running $(scaled 60) s after the job's requeue"
		sleep 0.5
	done
	rc=0
	wait "${relays[$i]}" || rc=$?
	((rc == 0)) || fail "node agent pid ${relays[$i]} exited $rc"
done
relays=()
grep -h 'no process or request left: exiting' relay-cn1.log relay-cn2.log | wc -l | grep -qx 2 ||
	fail "the node agents did not exit after their processes: $(tail -n 4 relay-cn1.log relay-cn2.log)"
if grep -q 'SIGTERM failed' out-*.txt; then
	fail "a task's SIGTERM request failed: $(grep -h 'SIGTERM failed' out-*.txt)"
fi

follow_job "$job" 400
[ "$(job_field "$job" Restarts)" -ge 1 ] || fail "job $job was not restarted"
for r in 0 1 2 3; do
	grep -q "^slurm-ckpt: step 0 task $r resumes from gen-1" "out-$r.txt" ||
		fail "task $r did not resume from gen-1: $(tail -n 3 "out-$r.txt")"
	expect_counter_output "out-$r.txt" ref.txt
done
echo "ok: job $job requeued under node agents that saw it PENDING before passing the exit on; 4 tasks stopped, resumed and ended correct"
