#!/usr/bin/env bash
# A task killed (kill -9) while its node agent lives is missing, not ended
# (issue 12): libckpt tells its node agent when the process exits (exit(),
# _exit(), a return from main), and a process whose connection drops
# without that is passed on as lost. Rank 3 of four exits by itself early:
# it has ended, and the next checkpoint commits the other three. Then rank
# 1 is killed: the next checkpoint is refused naming step 0 rank 1, and
# the committed generations stay as they were.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir task-killed
trap cluster_cleanup EXIT

cat >progs.conf <<CONF
3 $counter 30 100
* $counter 1800 100
CONF
chmod 644 progs.conf
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt --multi-prog progs.conf")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 3 180
wait_status "$job" '(.processes | length) == 3 and ([.processes[] | select(.rank == 3)] | length) == 0' \
	120 "rank 3 ended by itself, 3 processes left"
grep -q '^done ' out-3.txt || fail "rank 3 did not finish: $(tail -n 3 out-3.txt)"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 3
echo "rank 3 exited by itself and counts as ended: gen-1 holds ranks 0-2"

wait_status "$job" 'all(.processes[]; .state == "running")' 60 "processes running after gen-1"
victim=$(status_pid 1)
[ -n "$victim" ] && kill -0 "$victim" || fail "no live process of rank 1: $status_json"
kill -9 "$victim"
echo "killed rank 1 (pid $victim, on $(status_node 1))"
wait_status "$job" '(.processes | length) == 2' 60 "rank 1 gone from the coordinator"
rc=0
as_user "$ckpt" checkpoint "$job" >ckpt2-out.txt 2>ckpt2-err.txt || rc=$?
[ "$rc" -ne 0 ] || fail "a checkpoint without the killed rank 1 committed: $(cat ckpt2-out.txt)"
grep -q "missing.*step 0 rank 1 " ckpt2-err.txt ||
	fail "the refusal does not name step 0 rank 1: $(cat ckpt2-err.txt)"
echo "refused as expected: $(cat ckpt2-err.txt)"
expect_no_tmp "$jobdir"
[ "$(committed_gens "$jobdir")" = 1 ] || fail "committed generations: '$(committed_gens "$jobdir")', expected '1'"
verify_gen "$jobdir/gen-1" 3
echo "ok: job $job: a task that exited counts as ended, a task killed is missing"
