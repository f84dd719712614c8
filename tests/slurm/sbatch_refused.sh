#!/usr/bin/env bash
# Submissions the plugin refuses before they reach the queue, each with a
# message naming the option and what to do: a job that could not come back
# (--no-requeue) and one whose tasks would run inside a container (--container),
# where neither the checkpointer nor the restorer is. Without --checkpoint=auto
# the same options are left to Slurm.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir sbatch-refused

# refused WHAT PATTERN SBATCH-ARGS...: sbatch fails and says PATTERN.
refused() {
	local what=$1 pattern=$2 rc=0
	shift 2
	as_user sbatch --parsable "$@" --wrap true >out.txt 2>err.txt || rc=$?
	if [ "$rc" -eq 0 ]; then
		scancel "$(cat out.txt)" 2>/dev/null || true
		fail "$what: sbatch accepted the job ($(cat out.txt))"
	fi
	grep -q -- "$pattern" err.txt || fail "$what: sbatch failed without saying '$pattern': $(cat err.txt)"
	echo "refused as expected: $what"
}

refused "--no-requeue" "the job is not requeueable (--no-requeue)" --checkpoint=auto --no-requeue
refused "--container" "--container=$workdir/bundle cannot be checkpointed" \
	--checkpoint=auto --container="$workdir/bundle"
# Not ours to refuse without --checkpoint=auto: whatever Slurm says, not this.
rc=0
as_user sbatch --parsable --hold --container="$workdir/bundle" --wrap true >out.txt 2>err.txt || rc=$?
[ "$rc" -ne 0 ] || scancel "$(cat out.txt)" 2>/dev/null || true
! grep -q "cannot be checkpointed" err.txt || fail "--container without --checkpoint=auto was refused by the plugin: $(cat err.txt)"
echo "ok: refusals name the option and the way out"
