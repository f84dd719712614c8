#!/usr/bin/env bash
# Jobs that did not ask for checkpoints are untouched by the plugin: a job
# with --checkpoint=off and a job without any --checkpoint option run their
# step task with no libckpt.so mapped, no LD_PRELOAD naming it, no CKPT_*
# variable, no ckpt-agent for the job, and no checkpoint directory created
# anywhere under the user's home. A third job with --checkpoint=auto (and no
# --checkpoint-dir, so the site default under the home is used) is the
# positive control: every one of those checks must see the plugin's traces
# there, so a check that could not see them fails the test instead of
# passing vacuously.
# Argument: the counter program (tests/standalone/cli/counter).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
make_workdir untouched

# sbatch passes the submitting environment on to the tasks: anything of ours
# would be mistaken for the plugin's doing.
unset LD_PRELOAD
for v in $(compgen -v CKPT_ || true); do unset "$v"; done

home=$(getent passwd "$TESTCLUSTER_USER" | cut -d: -f6)
# Anything the jobs make is newer than this (sbatch runs well after it).
touch "$workdir/.before-submit"

jobs=()
cleanup() {
	local j
	for j in "${jobs[@]}"; do scancel "$j" 2>/dev/null || true; done
}
trap cleanup EXIT

# submit NAME OPTIONS...: a job whose step runs the counter for far longer
# than the test, printing one line a second. The batch shell saves its own
# environment too.
submit() {
	local name=$1
	shift
	as_user sbatch --parsable --time=5 "$@" -J "untouched-$name" -o "out-$name.txt" \
		--wrap "env >batchenv-$name.txt; srun -n1 $counter 100000 1000"
}
off=$(submit off --checkpoint=off)
jobs+=("$off")
none=$(submit none)
jobs+=("$none")
auto=$(submit auto --checkpoint=auto --requeue)
jobs+=("$auto")
echo "jobs: off $off, none $none, auto $auto"

# task_pid JOB: pid of the step 0 task (the counter) of JOB, or nothing.
task_pid() {
	local p
	for p in $(pgrep -u "$TESTCLUSTER_USER" -x counter || true); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "SLURM_JOB_ID=$1" &&
			tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_STEP_ID=0"; then
			echo "$p"
			return 0
		fi
	done
}

# agent_of JOB: the ckpt-agent processes started for JOB (command lines).
agent_of() {
	pgrep -af ckpt-agent | grep -E -- "--job $1( |\$)" || true
}

# Every check below prints what it saw into a file named CHECK-NAME.txt so a
# failure can be read afterwards. inspect NAME JOB: records the task's state.
declare -A pid
inspect() {
	local name=$1 job=$2 deadline=$((SECONDS + $(scaled 120)))

	wait_job_state "$job" RUNNING 120
	# The first line is printed after the task's execve and its libraries
	# are loaded, so from then on its maps and environment are final.
	wait_file_grep "out-$name.txt" '^1 [0-9a-f]\{16\}$' 60
	while [ -z "$(task_pid "$job")" ]; do
		((SECONDS < deadline)) || fail "job $job ($name): no counter task with SLURM_JOB_ID=$job"
		sleep 0.5
	done
	pid[$name]=$(task_pid "$job")
	cat "/proc/${pid[$name]}/maps" >"maps-$name.txt"
	tr '\0' '\n' <"/proc/${pid[$name]}/environ" >"env-$name.txt"
	agent_of "$job" >"agent-$name.txt"
	find "$home" -newer "$workdir/.before-submit" -name "$job" >"dirs-$name.txt" 2>/dev/null || true
	echo "job $job ($name): task pid ${pid[$name]}"
}

# The positive control first: it shows the checks can see the plugin.
inspect auto "$auto"
grep -q '/libckpt\.so$' maps-auto.txt ||
	fail "control job $auto (--checkpoint=auto): libckpt.so not in its task's maps; the checks below would prove nothing"
grep -q '^LD_PRELOAD=.*libckpt' env-auto.txt ||
	fail "control job $auto: no LD_PRELOAD naming libckpt in its task's environment"
grep -q '^CKPT_' env-auto.txt ||
	fail "control job $auto: no CKPT_* variable in its task's environment"
[ -s agent-auto.txt ] ||
	fail "control job $auto: no 'ckpt-agent ... --job $auto' process; pgrep -af ckpt-agent: $(pgrep -af ckpt-agent || true)"
grep -qx "$home/.slurm-ckpt/$auto" dirs-auto.txt ||
	fail "control job $auto: its default checkpoint directory $home/.slurm-ckpt/$auto was not created (found: $(cat dirs-auto.txt))"

for name in off none; do
	job=${!name}
	inspect "$name" "$job"
	what="job $job ($([ "$name" = off ] && echo "--checkpoint=off" || echo "no --checkpoint option"))"
	! grep -q 'libckpt' "maps-$name.txt" ||
		fail "$what: libckpt is mapped in its task: $(grep libckpt "maps-$name.txt" | head -n 2)"
	! grep -q '^LD_PRELOAD=.*libckpt' "env-$name.txt" ||
		fail "$what: task environment has $(grep '^LD_PRELOAD=' "env-$name.txt")"
	! grep -q '^CKPT_' "env-$name.txt" ||
		fail "$what: task environment has $(grep '^CKPT_' "env-$name.txt" | tr '\n' ' ')"
	! grep -q '^LD_PRELOAD=.*libckpt\|^CKPT_' "batchenv-$name.txt" ||
		fail "$what: batch shell environment has $(grep '^LD_PRELOAD=\|^CKPT_' "batchenv-$name.txt" | tr '\n' ' ')"
	[ ! -s "agent-$name.txt" ] || fail "$what: a checkpoint agent runs for it: $(cat "agent-$name.txt")"
	[ ! -s "dirs-$name.txt" ] ||
		fail "$what: something named $job appeared under $home: $(cat "dirs-$name.txt")"
	! grep -q 'slurm-ckpt' "out-$name.txt" ||
		fail "$what: the plugin wrote into its output: $(grep slurm-ckpt "out-$name.txt" | head -n 3)"
done

# The control's agent ends itself with its job (linuxproc does not track it).
for job in "${jobs[@]}"; do scancel "$job"; done
for job in "${jobs[@]}"; do wait_job_state "$job" CANCELLED 60; done
deadline=$((SECONDS + $(scaled 60)))
while [ -n "$(agent_of "$auto")" ]; do
	((SECONDS < deadline)) || fail "control job $auto cancelled, but its agent still runs after $(scaled 60) s: $(agent_of "$auto")"
	sleep 0.5
done
# Nothing was created for the untouched jobs while they ended either.
for name in off none; do
	job=${!name}
	found=$(find "$home" -newer "$workdir/.before-submit" -name "$job" 2>/dev/null || true)
	[ -z "$found" ] || fail "job $job ($name): after it ended, found under $home: $found"
done
rm -rf "${home:?}/.slurm-ckpt/$auto"
echo "ok: jobs $off (--checkpoint=off) and $none (no option) untouched; control $auto preloaded with an agent"
