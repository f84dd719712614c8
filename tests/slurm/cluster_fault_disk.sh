#!/usr/bin/env bash
# A full checkpoint file system: the job's checkpoint directory is on a
# 64 MiB tmpfs. A first checkpoint of small processes (4 MiB each) commits;
# then the 4 tasks grow by 40 MiB of incompressible memory each, more than
# the space left, and `ckpt checkpoint JOBID` must fail (exit 1) saying the
# disk is full (No space left on device), gen-1 intact and verifiable, no
# gen-*.tmp left (its space is given back), and the processes running on.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir cluster-fault-disk
small=$workdir/small
mkdir "$small"
cleanup() {
	cluster_cleanup
	if mountpoint -q "$small"; then
		# The job's agents may hold the directory a moment after the job.
		local deadline=$((SECONDS + $(scaled 60)))
		[ -z "${job:-}" ] || while ! job_ended "$job" && ((SECONDS < deadline)); do sleep 1; done
		deadline=$((SECONDS + $(scaled 10)))
		until umount "$small" 2>/dev/null; do
			((SECONDS < deadline)) || { umount -l "$small"; break; }
			sleep 0.5
		done
	fi
}
trap cleanup EXIT
mount -t tmpfs -o size=64m,mode=1777 tmpfs "$small"

grow=$workdir/grow
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto --checkpoint-dir="$small" \
	-o job.txt --wrap "srun -N2 -n4 -o out-%t.txt $memhog 4 3000 100 $grow 40")
jobdir=$small/$job
echo "job $job submitted"
wait_running "$job" 4 180
wait_each_task '^step ' 1 60

checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4
echo "gen-1: $(du -sh "$jobdir/gen-1" | cut -f1); tmpfs: $(df -h --output=used,avail "$small" | tail -n 1)"

touch "$grow"
wait_each_task '^grown to 44 MiB' 1 60

rc=0
as_user "$ckpt" checkpoint "$job" >ckpt2-out.txt 2>ckpt2-err.txt || rc=$?
[ "$rc" -eq 1 ] || fail "ckpt checkpoint exited $rc, expected 1: $(cat ckpt2-out.txt ckpt2-err.txt)"
grep -q "^ckpt: checkpoint of job $job failed: ." ckpt2-err.txt ||
	fail "no 'ckpt: checkpoint of job $job failed: REASON' on stderr: $(cat ckpt2-err.txt)"
grep -qi 'no space left on device' ckpt2-err.txt ||
	fail "the reason does not say the disk is full: $(cat ckpt2-err.txt)"
echo "checkpoint failed as expected: $(cat ckpt2-err.txt)"

expect_no_tmp "$jobdir"
expect_gens "$jobdir" 1
verify_gen "$jobdir/gen-1" 4
used=$(df --output=used -B1M "$small" | tail -n 1 | tr -d ' ')
gen1=$(du -s -B1M "$jobdir/gen-1" | cut -f1)
((used <= gen1 + 8)) || fail "the tmpfs holds ${used} MiB after the abort, gen-1 only ${gen1} MiB:" \
	"$(find "$small" -type f -printf '%p %s\n')"

wait_status "$job" '.checkpoint == null and (.processes | length) == 4 and
	all(.processes[]; .state == "running")' 30 "4 processes running after the abort"
status_has '.last_error | test("no space left on device"; "i")' "last_error saying the disk is full"
status_has '.last_error_gen == 2' "last_error_gen 2"
# Still progressing: every task prints new steps (wait_lines fails, naming
# the task's file, if one does not).
for r in 0 1 2 3; do
	wait_lines "out-$r.txt" '^step ' $(($(grep -c '^step ' "out-$r.txt") + 2)) 60
done
job_state_failed "$(job_state "$job")" && fail "job $job ended $(job_state "$job")"
echo "ok: job $job: full disk aborted the checkpoint (ENOSPC), gen-1 intact, processes running on"
