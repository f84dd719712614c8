#!/usr/bin/env bash
# A task killed (kill -9) while its node agent lives is missing, not ended
# (issue 12): libckpt tells its node agent when the process exits (exit(),
# _exit(), a return from main), and a process whose connection drops
# without that is passed on as lost. A task has ended only when its last
# process leaves by itself. Rank 3 of four exits by itself early: it has
# ended, and the next checkpoint commits the other three. Rank 2 is a bash
# script whose first command exits by itself while bash and its second
# command run on: rank 2 has not ended. Then rank 1 and both processes of
# rank 2 are killed: the next checkpoint is refused naming step 0 rank 1
# and step 0 rank 2, and the committed generations stay as they were.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir task-killed
trap cluster_cleanup EXIT

cat >rank2.sh <<SH
#!/bin/bash
$counter 20 100
$counter 1800 100
SH
chmod 755 rank2.sh
cat >progs.conf <<CONF
3 $counter 30 100
2 $workdir/rank2.sh
* $counter 1800 100
CONF
chmod 644 progs.conf
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt --multi-prog progs.conf")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 4 180
# Rank 2: bash and its second counter, the first one having ended.
wait_lines out-2.txt '^done ' 1 120
wait_status "$job" '(.processes | length) == 4 and ([.processes[] | select(.rank == 3)] | length) == 0 and ([.processes[] | select(.rank == 2)] | length) == 2' \
	120 "rank 3 ended by itself; ranks 0, 1 and rank 2's bash and second counter left"
grep -q '^done ' out-3.txt || fail "rank 3 did not finish: $(tail -n 3 out-3.txt)"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4
echo "rank 3 exited by itself and counts as ended: gen-1 holds ranks 0-2 (rank 2: bash and a counter)"

wait_status "$job" 'all(.processes[]; .state == "running")' 60 "processes running after gen-1"
victim=$(status_pid 1)
[ -n "$victim" ] && kill -0 "$victim" || fail "no live process of rank 1: $status_json"
rank2=$(jq -r '.processes[] | select(.rank == 2) | .pid' <<<"$status_json")
[ "$(wc -w <<<"$rank2")" = 2 ] || fail "expected two processes of rank 2: $status_json"
kill -9 $victim $rank2
echo "killed rank 1 (pid $victim, on $(status_node 1)) and rank 2 (pids" $rank2")"
wait_status "$job" '(.processes | length) == 1' 60 "ranks 1 and 2 gone from the coordinator"
rc=0
as_user "$ckpt" checkpoint "$job" >ckpt2-out.txt 2>ckpt2-err.txt || rc=$?
[ "$rc" -ne 0 ] || fail "a checkpoint without the killed rank 1 committed: $(cat ckpt2-out.txt)"
grep -q "missing.*step 0 rank 1 " ckpt2-err.txt ||
	fail "the refusal does not name step 0 rank 1: $(cat ckpt2-err.txt)"
grep -q "missing.*step 0 rank 2 " ckpt2-err.txt ||
	fail "the refusal does not name step 0 rank 2, whose first command had ended by itself: $(cat ckpt2-err.txt)"
echo "refused as expected: $(cat ckpt2-err.txt)"
expect_no_tmp "$jobdir"
[ "$(committed_gens "$jobdir")" = 1 ] || fail "committed generations: '$(committed_gens "$jobdir")', expected '1'"
verify_gen "$jobdir/gen-1" 4
echo "ok: job $job: a task that exited counts as ended, a task killed is missing, even after one of its commands ended"
