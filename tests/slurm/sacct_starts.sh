#!/usr/bin/env bash
# sacct --duplicates shows every start of a checkpointed job (production
# configuration: accounting through slurmdbd into MariaDB). A job needing
# about 2.5x its --time=1 is checkpointed before each time limit, requeued
# and restored until it completes; the accounting database then holds one
# record per start: as many as Slurm's restart count + 1 and as the job's
# output reports starts, in time order, each ended REQUEUED but the last,
# which is COMPLETED; and the output equals an uninterrupted run's.
# Argument: the counter program (tests/standalone/cli/counter).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/production_lib.sh"
require_cluster
require_production
make_workdir sacct-starts
counter=$1
steps=100

"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	--time=1 --requeue --open-mode=append --comment=00:10:00 -o out.txt \
	--wrap "srun -n1 $counter $steps 1000")
trap 'scancel "$job" 2>/dev/null || true' EXIT
echo "job $job submitted"
follow_job "$job" 900

restarts=$(job_field "$job" Restarts)
[ "$restarts" -ge 1 ] || fail "job $job was not requeued (restarts $restarts)"
resumes=$(grep -c '^slurm-ckpt: step 0 task 0 resumes from gen-' out.txt || true)
[ "$resumes" -eq "$restarts" ] ||
	fail "job output reports $resumes restores, Slurm $restarts restarts"
grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' out.txt >app.txt || true
diff -q ref.txt app.txt >/dev/null ||
	fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"

wait_sacct_runs "$job" $((restarts + 1)) 60
echo "sacct --duplicates -j $job (start|end|state|qos):"
sed 's/^/    /' <<<"$sacct_lines"
python3 - "$sacct_lines" <<'PY' || fail "sacct records of job $job are not one per start in order: $sacct_lines"
import sys
rows = [l.split("|") for l in sys.argv[1].splitlines()]
starts = [r[0] for r in rows]
ok = all(a < b for a, b in zip(starts, starts[1:]))          # ISO times sort as text
ok = ok and all(r[2] == "REQUEUED" for r in rows[:-1]) and rows[-1][2] == "COMPLETED"
ok = ok and all(r[1] <= n[0] for r, n in zip(rows, rows[1:]))  # each ended before the next began
sys.exit(0 if ok else 1)
PY
echo "ok: job $job started $((restarts + 1)) times; sacct --duplicates lists each start, the output is an uninterrupted run's"
