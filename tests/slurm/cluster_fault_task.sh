#!/usr/bin/env bash
# A task killed (SIGKILL) while the images are being written: each of the 4
# tasks holds 300 MiB of incompressible memory, so WRITE lasts seconds.
# `ckpt checkpoint JOBID` must fail (exit 1) with a reason naming the dead
# task; no new generation is committed, no gen-*.tmp is left, the previous
# generation's images still verify, and the job ends (srun -K ends the step
# when a task dies) instead of hanging.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir cluster-fault-task
trap cluster_cleanup EXIT
# Full images only: the test needs a WRITE phase of seconds after gen-1, and
# an incremental gen-2 of memory unchanged since gen-1 is written at once
# (sbatch passes the variable on to the tasks).
export CKPT_INCREMENTAL=0

# 300 MiB each, 1000 steps of 200 ms: the job would run 200 s by itself,
# far longer than it may take to end once a task is killed.
submit_job4 "$memhog 300 1000 200" -K
wait_each_task '^step ' 1 120

start=$SECONDS
checkpoint_ok "$job" 1
echo "gen-1 took $((SECONDS - start)) s"
verify_gen "$jobdir/gen-1" 4

victim_rank=3
wait_status "$job" 'all(.processes[]; .state == "running")' 30 "processes running after gen-1"
victim=$(status_pid "$victim_rank")
[ -n "$victim" ] && kill -0 "$victim" || fail "no live pid for rank $victim_rank: $status_json"

ckpt_background ckpt2
wait_phase write 120
kill -9 "$victim"
echo "killed rank $victim_rank (pid $victim) during WRITE of gen $(jq -r .checkpoint.gen <<<"$status_json")"

ckpt_background_rc 120 "the task was killed"
rc=$ckpt_rc
[ "$rc" -eq 1 ] || fail "ckpt checkpoint exited $rc, expected 1: $(cat ckpt2-out.txt ckpt2-err.txt)"
grep -q "^ckpt: checkpoint of job $job failed: ." ckpt2-err.txt ||
	fail "no 'ckpt: checkpoint of job $job failed: REASON' on stderr: $(cat ckpt2-err.txt)"
grep -Eq "(pid $victim|\\b$victim\\b|rank $victim_rank\\b|task $victim_rank\\b|0\\.$victim_rank\\.img)" \
	ckpt2-err.txt || fail "the reason does not name the killed task (pid $victim, rank $victim_rank):" \
	"$(cat ckpt2-err.txt)"
echo "checkpoint failed as expected: $(cat ckpt2-err.txt)"
[ ! -s ckpt2-out.txt ] || fail "ckpt checkpoint printed a generation: $(cat ckpt2-out.txt)"

expect_no_tmp "$jobdir"
expect_gens "$jobdir" 1
verify_gen "$jobdir/gen-1" 4

wait_job_ended "$job" 90
echo "ok: job $job: a task killed during WRITE aborted the checkpoint, gen-1 intact, the job ended"
