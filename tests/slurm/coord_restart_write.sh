#!/usr/bin/env bash
# The coordinator killed (kill -9) during WRITE is started again (issue 12,
# item 9). Four tasks of 300 MiB of incompressible memory make WRITE last
# seconds; the coordinator dies in it. The request in flight fails, the node
# agents tell their processes "abort" and drop the answers those still send
# for that generation, the batch host's node agent starts the coordinator
# again, every process registers again, the dead generation's gen-N.tmp is
# removed and the next checkpoint commits all four images.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir coord-restart-write
trap cluster_cleanup EXIT
# Full images only: the test needs a WRITE phase of seconds after gen-1, and
# an incremental gen-2 of memory unchanged since gen-1 is written at once
# (sbatch passes the variable on to the tasks).
export CKPT_INCREMENTAL=0

submit_job4 "$memhog 300 1000 200"
wait_each_task '^step ' 1 120
start=$SECONDS
checkpoint_ok "$job" 1
echo "gen-1 took $((SECONDS - start)) s"
verify_gen "$jobdir/gen-1" 4
wait_status "$job" 'all(.processes[]; .state == "running")' 30 "processes running after gen-1"

ckpt_background ckpt2
wait_phase write 120
old=$(jq -r .agent_pid <<<"$status_json")
kill -9 "$old"
echo "killed the coordinator (pid $old) during WRITE of gen $(jq -r .checkpoint.gen <<<"$status_json")"
ckpt_background_rc 120 "the coordinator was killed"
rc=$ckpt_rc
[ "$rc" -ne 0 ] || fail "ckpt checkpoint succeeded although its coordinator was killed: $(cat ckpt2-out.txt)"
echo "the checkpoint in flight failed as expected: $(tail -n 1 ckpt2-err.txt)"

wait_status "$job" ".agent_pid != $old and (.processes | length) == 4 and all(.processes[]; .state == \"running\")" \
	180 "a new coordinator with the 4 processes registered again"
echo "new coordinator pid $(jq -r .agent_pid <<<"$status_json")"
expect_no_tmp "$jobdir"
out=$(as_user "$ckpt" checkpoint "$job" 2>ckpt3-err.txt) ||
	fail "checkpoint after the restart during WRITE failed: $(cat ckpt3-err.txt)"
verify_gen "$out" 4
expect_list_images "$jobdir"
for r in 0 1 2 3; do
	tail -n 2 "out-$r.txt" | grep -q '^step ' || fail "task $r stopped counting: $(tail -n 3 "out-$r.txt")"
done
echo "ok: job $job: coordinator killed during WRITE, started again, $out holds all four images"
