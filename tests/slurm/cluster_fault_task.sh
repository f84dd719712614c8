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

# 300 MiB each, 1000 steps of 200 ms: the job would run 200 s by itself,
# far longer than it may take to end once a task is killed.
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -K -N2 -n4 -o out-%t.txt $memhog 300 1000 200")
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

victim_rank=3
wait_status "$job" 'all(.processes[]; .state == "running")' 30 "processes running after gen-1"
victim=$(status_pid "$victim_rank")
[ -n "$victim" ] && kill -0 "$victim" || fail "no live pid for rank $victim_rank: $status_json"

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
kill -9 "$victim"
echo "killed rank $victim_rank (pid $victim) during WRITE of gen $(jq -r .checkpoint.gen <<<"$st")"

deadline=$((SECONDS + 120))
while kill -0 "$ckpt_pid" 2>/dev/null; do
	((SECONDS < deadline)) || fail "ckpt checkpoint still waiting 120 s after the task was killed"
	sleep 0.5
done
rc=0
wait "$ckpt_pid" || rc=$?
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
