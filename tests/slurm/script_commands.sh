#!/usr/bin/env bash
# A command a batch script runs itself (not through srun) is not
# checkpointed; when the job ends with it still running, the job's output
# names it and says its work is lost (issue 13, part 1: never silent).
# Job A runs the counter straight from its batch script: after scancel, its
# output must hold the line naming the counter's command line. Job B runs
# the same counter as an srun step: its output must name nothing (srun is
# a step, checkpointed).
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
make_workdir script-commands
jobs=()
trap 'for j in "${jobs[@]}"; do scancel "$j" 2>/dev/null || true; done' EXIT

# submit NAME WRAP: a --checkpoint=auto job whose output is NAME.txt.
submit() {
	local job
	job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
		-o "$1.txt" --wrap "$2")
	jobs+=("$job")
	echo "$job"
}

direct=$(submit direct "$counter 100000 100 && echo script-went-on")
in_step=$(submit in-step "srun -n1 $counter 100000 100")
echo "jobs: direct $direct, in a step $in_step"
for name in direct in-step; do
	wait_file_grep "$name.txt" '^1 ' 120
done
scancel "$direct" "$in_step"
# The batch shell writes its line while it handles the SIGTERM, before it
# ends: once a job has left squeue (no longer COMPLETING), every process
# of it is gone and its output is final.
left_queue() { [ -z "$(squeue -h -j "$1" 2>/dev/null)" ]; }
for job in "$direct" "$in_step"; do
	deadline=$((SECONDS + $(scaled 120)))
	until left_queue "$job"; do
		((SECONDS < deadline)) || fail "job $job still in squeue $(scaled 120) s after scancel: $(squeue -h -j "$job")"
		sleep 0.5
	done
done
line=$(grep '^slurm-ckpt: the batch script' direct.txt || true)
[ -n "$line" ] || fail "job $direct: no line naming the batch script's own command: $(tail -n 5 direct.txt)"
echo "job $direct said: $line"
# Its command line while it still runs, its name (comm) once it is a
# zombie: the counter got the same SIGTERM as the shell.
grep -qE "\`($counter 100000 100|counter)\` \(pid [0-9]+\)" <<<"$line" ||
	fail "job $direct: the line does not name the counter: $line"
grep -q 'were not checkpointed: their work is lost' <<<"$line" ||
	fail "job $direct: the line does not say the work is lost: $line"
! grep -q '^script-went-on' direct.txt || fail "job $direct: the script went on after its command was ended"
! grep -q '^slurm-ckpt: the batch script' in-step.txt ||
	fail "job $in_step named an srun step as the script's own command: $(grep '^slurm-ckpt' in-step.txt)"
echo "ok: the direct command of job $direct was named at the job's end; the srun step of job $in_step was not"
