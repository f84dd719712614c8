#!/usr/bin/env bash
# Time-limit chain: a job that needs about 4x its --time (240 one-second
# steps under --time=1) completes through repeated checkpoint -> requeue ->
# restore. Its output must be exactly that of an uninterrupted run, it must
# have restarted at least 3 times, and its comment (the NERSC convention:
# total compute time still wanted) must count down.
# Argument: the counter program (tests/standalone/cli/counter).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir chain
counter=$1
steps=240

"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	--time=1 --requeue --open-mode=append --comment=00:20:00 -o out.txt \
	--wrap "srun -n1 $counter $steps 1000")
echo "job $job submitted"

follow_job "$job" 1200

restarts=$(job_field "$job" Restarts)
[ "$restarts" -ge 3 ] || fail "job restarted $restarts times, expected >= 3"
grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' out.txt >app.txt || true
diff -q ref.txt app.txt >/dev/null ||
	fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"
[ "$(grep -c '^slurm-ckpt: step 0 task 0 resumes from gen-' out.txt)" -ge 3 ] ||
	fail "fewer than 3 restores reported in the job output"
[ ${#job_comments[@]} -ge 3 ] || fail "comment did not count down: ${job_comments[*]}"
comments_decrease || fail "comment did not decrease: ${job_comments[*]}"
echo "ok: job $job finished after $restarts restarts; comments ${job_comments[*]}"
