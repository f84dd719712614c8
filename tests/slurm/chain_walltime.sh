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

# Follow the job to its end, noting every comment it shows.
deadline=$((SECONDS + 1200))
comments=()
while :; do
	st=$(job_state "$job")
	c=$(squeue -h -j "$job" -o %k 2>/dev/null || true)
	if [ -n "$c" ] && { [ ${#comments[@]} -eq 0 ] || [ "${comments[-1]}" != "$c" ]; }; then
		comments+=("$c")
		echo "$(date +%T) state $st restarts $(job_field "$job" Restarts) comment $c"
	fi
	case "$st" in
	COMPLETED) break ;;
	FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
		fail "job $job ended $st after $(job_field "$job" Restarts) restarts; output: $(tail -n 5 out.txt)" ;;
	esac
	((SECONDS < deadline)) || fail "job $job not done after 1200 s (state $st)"
	sleep 1
done

restarts=$(job_field "$job" Restarts)
[ "$restarts" -ge 3 ] || fail "job restarted $restarts times, expected >= 3"
grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' out.txt >app.txt || true
diff -q ref.txt app.txt >/dev/null ||
	fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"
[ "$(grep -c '^slurm-ckpt: step 0 task 0 resumes from gen-' out.txt)" -ge 3 ] ||
	fail "fewer than 3 restores reported in the job output"
[ ${#comments[@]} -ge 3 ] || fail "comment did not count down: ${comments[*]}"
prev=999999999
for c in "${comments[@]}"; do
	secs=$(python3 -c "
import sys
h, m, s = (int(x) for x in sys.argv[1].split(':'))
print(h * 3600 + m * 60 + s)" "$c")
	[ "$secs" -lt "$prev" ] || fail "comment went up: ${comments[*]}"
	prev=$secs
done
echo "ok: job $job finished after $restarts restarts; comments ${comments[*]}"
