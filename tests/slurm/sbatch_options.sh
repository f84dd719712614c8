#!/usr/bin/env bash
# What sbatch says about the checkpoint options: `sbatch --help` lists each
# with a one-line explanation, and submissions the plugin refuses before they reach the queue, each with a
# message naming the option and what to do: a job that could not come back
# (--no-requeue) and one whose tasks would run inside a container (--container),
# where neither the checkpointer nor the restorer is. Without --checkpoint=auto
# the same options are left to Slurm.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir sbatch-options

# sbatch --help: each option, its argument and an explanation.
sbatch --help >help.txt 2>&1 || fail "sbatch --help failed: $(tail -n 3 help.txt)"
grep -q '^Options provided by plugins:' help.txt || fail "sbatch --help has no plugin options: is the plugin loaded?"
for opt in 'checkpoint=auto|off' 'checkpoint-interval=TIME' 'checkpoint-dir=DIR' 'checkpoint-keep=N'; do
	text=$(awk -v o="--$opt" '$1 == o { $1 = ""; print; getline; print }' help.txt | tr -s ' \n' ' ')
	[ "$(wc -w <<<"$text")" -ge 4 ] || fail "sbatch --help: --$opt has no explanation: '$text'"
	echo "sbatch --help: --$opt:$text"
done

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
