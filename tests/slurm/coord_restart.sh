#!/usr/bin/env bash
# A job's coordinator killed (kill -9) is started again (issue 12, item 9).
# The node agent of the batch host, finding its link down and the
# coordinator's process gone, starts it again with the options it recorded
# in DIR/coord.args; every node agent reconnects and registers its processes
# again, and the next checkpoint commits with all four images.
# Twice: at rest (after gen-1), and during PREPARE (one task of cn2 stopped so
# that PREPARE stays open; the request in flight fails, its gen-N.tmp is
# removed by the new coordinator). Then the job ends by itself with the
# output of an uninterrupted run, and its agents go away with it.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir coord-restart
stopped=
cleanup() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT

steps=1200 # 120 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
submit_job4 "$counter $steps 100"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4
[ -s "$jobdir/coord.args" ] || fail "the coordinator did not record its options in $jobdir/coord.args"

# coord_pid: the coordinator's pid from DIR/coord.json.
coord_pid() {
	jq -r .pid "$jobdir/coord.json" 2>/dev/null || true
}

# kill_coord WHAT: kills the coordinator, waits for another one with the four
# processes registered again and running.
kill_coord() {
	local old t0=$SECONDS
	old=$(coord_pid)
	[ -n "$old" ] && proc_alive "$old" || fail "no live coordinator in $jobdir/coord.json: $(cat "$jobdir/coord.json" 2>&1)"
	kill -9 "$old"
	echo "killed the coordinator (pid $old) $1"
	wait_status "$job" ".agent_pid != $old and (.processes | length) == 4 and all(.processes[]; .state == \"running\")" \
		120 "a new coordinator with the 4 processes registered again"
	echo "new coordinator pid $(jq -r .agent_pid <<<"$status_json") with 4 processes after $((SECONDS - t0)) s"
	proc_alive "$old" && fail "the killed coordinator (pid $old) is still alive"
	return 0
}

kill_coord "at rest"
checkpoint_ok "$job" 2
verify_gen "$jobdir/gen-2" 4

# During PREPARE: a task of cn2 stopped holds PREPARE open.
stop_task_on cn2
ckpt_background ckpt3
wait_phase prepare 60
gen=$(jq -r .checkpoint.gen <<<"$status_json")
kill_coord_prepare_old=$(coord_pid)
kill -9 "$kill_coord_prepare_old"
echo "killed the coordinator (pid $kill_coord_prepare_old) during PREPARE of gen $gen"
wait_dead "$kill_coord_prepare_old" 20 "the coordinator killed by SIGKILL"
kill -CONT "$stopped"
stopped=
ckpt_background_rc 120 "its coordinator was killed"
rc=$ckpt_rc
[ "$rc" -ne 0 ] || fail "ckpt checkpoint succeeded although its coordinator was killed: $(cat ckpt3-out.txt)"
echo "the checkpoint in flight failed as expected: $(tail -n 1 ckpt3-err.txt)"
wait_status "$job" ".agent_pid != $kill_coord_prepare_old and (.processes | length) == 4 and all(.processes[]; .state == \"running\")" \
	120 "a new coordinator with the 4 processes registered again"
expect_no_tmp "$jobdir"
out=$(as_user "$ckpt" checkpoint "$job" 2>ckpt4-err.txt) ||
	fail "checkpoint after the restart during PREPARE failed: $(cat ckpt4-err.txt)"
verify_gen "$out" 4
echo "checkpoint after the restart during PREPARE: $out"
expect_list_images "$jobdir"

wait_job_ended "$job" 240
[ "$(job_state "$job")" = COMPLETED ] || fail "job $job ended $(job_state "$job")"
for r in 0 1 2 3; do
	expect_counter_output "out-$r.txt" ref.txt
done
expect_agents_gone "$job"
echo "ok: job $job: coordinator killed at rest and in PREPARE, started again each time, checkpoints complete, job correct"
