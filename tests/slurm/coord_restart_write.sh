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

job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt $memhog 300 1000 200")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 4 180
for r in 0 1 2 3; do
	wait_lines "out-$r.txt" '^step ' 1 120
done
start=$SECONDS
checkpoint_ok "$job" 1
echo "gen-1 took $((SECONDS - start)) s"
verify_gen "$jobdir/gen-1" 4
wait_status "$job" 'all(.processes[]; .state == "running")' 30 "processes running after gen-1"

as_user "$ckpt" checkpoint "$job" >ckpt2-out.txt 2>ckpt2-err.txt &
ckpt_pid=$!
deadline=$((SECONDS + 120))
while :; do
	st=$(job_status "$job")
	[ "$(jq -r '.checkpoint.phase // empty' <<<"$st" 2>/dev/null)" = write ] && break
	kill -0 "$ckpt_pid" 2>/dev/null ||
		fail "the checkpoint ended before its WRITE phase was seen: $(cat ckpt2-out.txt ckpt2-err.txt)"
	((SECONDS < deadline)) || fail "no WRITE phase within 120 s; status: $st"
	sleep 0.1
done
old=$(jq -r .agent_pid <<<"$st")
kill -9 "$old"
echo "killed the coordinator (pid $old) during WRITE of gen $(jq -r .checkpoint.gen <<<"$st")"
rc=0
wait "$ckpt_pid" || rc=$?
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
