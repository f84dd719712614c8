#!/usr/bin/env bash
# A hostile user plants a checkpoint for another user's next job: the
# checkpoint directory is a sticky world-writable one (a site's
# /scratch/ckpt), job ids are predictable, so `nobody` creates
# <next job id>/gen-1/ there holding a real checkpoint of its own program.
# The victim's job (the test cluster's user) must not restore it: the step
# must refuse the directory that is not the user's and say why.
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
ckpt=$(realpath "$2")
make_workdir dir-hostile
pub=$workdir/pub   # root, 1777: accepted as a parent of job directories
evil=$workdir/evil # where the attacker makes its checkpoint
install -d -m 1777 "$pub" "$evil"
ended() {
	local st
	st=$(job_state "$1")
	[ -z "$st" ] || [ "$st" = COMPLETED ] || job_state_failed "$st"
}
as_evil() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$evil" "$@"
}

# The attacker's checkpoint: its own program under ckpt run, then killed.
as_evil "$ckpt" run --dir "$evil/run" -- "$counter" 100000 100 >"$evil/out.txt" 2>&1 &
runner=$!
trap 'kill $runner 2>/dev/null || true' EXIT
wait_file_grep "$evil/out.txt" '^3 ' 60
as_evil "$ckpt" checkpoint --dir "$evil/run" --kill >/dev/null
deadline=$((SECONDS + $(scaled 60)))
until [ -e "$evil/run/gen-1/MANIFEST.json" ]; do
	((SECONDS < deadline)) || fail "the attacker's checkpoint was not committed: $(tail -n 3 "$evil/run/agent.log")"
	sleep 0.5
done
wait "$runner" || true

# The next job id: one more than a job submitted and cancelled right now
# (nothing else submits on the test cluster while a test runs).
probe=$(as_user sbatch --parsable --hold -o /dev/null --wrap true)
scancel "$probe"
next=$((probe + 1))
as_evil mkdir -m 777 "$pub/$next"
as_evil cp -r "$evil/run/gen-1" "$pub/$next/gen-1"
as_evil chmod -R a+rX "$pub/$next/gen-1"
echo "nobody planted $(ls "$pub/$next/gen-1" | tr '\n' ' ')in $pub/$next for job $next"

job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$pub" --time=5 -o out.txt \
	--wrap "srun -n1 $counter 20 100")
trap 'kill $runner 2>/dev/null || true; scancel "$job" 2>/dev/null || true' EXIT
[ "$job" = "$next" ] || fail "job id $job, expected $next: another job was submitted meanwhile"
deadline=$((SECONDS + $(scaled 120)))
until ended "$job"; do
	! grep -q 'resumes from gen-' out.txt 2>/dev/null ||
		fail "job $job restored the checkpoint nobody planted: $(head -n 3 out.txt)"
	((SECONDS < deadline)) || fail "job $job still $(job_state "$job") after $(scaled 120) s"
	sleep 0.5
done
echo "job $job ended $(job_state "$job"); its output:"
sed 's/^/  | /' out.txt
! grep -q 'resumes from gen-' out.txt || fail "job $job restored the checkpoint nobody planted"
grep -q "checkpoint directory $pub/$job is not safe: $pub/$job is owned by uid $(id -u nobody)" out.txt ||
	fail "job $job did not say why it refused $pub/$job"
echo "ok: job $job refused the directory nobody created for it, restored nothing"
