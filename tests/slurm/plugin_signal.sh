#!/usr/bin/env bash
# --signal triggers: with --signal=USR1@90 Slurm sends SIGUSR1 to every task,
# with --signal=B:USR1@90 only to the batch shell, 90 s (plus up to 60 s of
# slurmctld's polling) before the time limit. Either one must lead to a
# final checkpoint with trigger "signal" (before the walltime deadline the
# coordinator plans at end - 20 s), a requeue, and a resumed job that ends
# with the output of an uninterrupted run.
# Arguments: the counter program, the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir plugin-signal
counter=$1
ckpt=$2
steps=150

"$counter" "$steps" 0 >ref.txt
declare -A jobs
for kind in task batch; do
	sig=USR1@90
	[ "$kind" = batch ] && sig=B:USR1@90
	jobs[$kind]=$(as_user sbatch --parsable -n1 --time=3 --signal="$sig" --checkpoint=auto \
		--checkpoint-dir="$workdir/ckpt-$kind" --requeue --open-mode=append -o "$kind.out" \
		--wrap "srun -n1 $counter $steps 1000; echo script went on after srun")
	echo "$kind job ${jobs[$kind]} submitted with --signal=$sig"
done
trap 'scancel ${jobs[task]} ${jobs[batch]} 2>/dev/null || true' EXIT

for kind in task batch; do
	job=${jobs[$kind]}
	follow_job "$job" 900
	gens=$("$ckpt" list "$workdir/ckpt-$kind/$job" --json)
	python3 - "$gens" <<'PY' || fail "$kind: no committed generation with trigger signal: $gens"
import json, sys
gens = json.loads(sys.argv[1])
sys.exit(0 if any(g.get("trigger") == "signal" for g in gens) else 1)
PY
	grep -q '^slurm-ckpt: checkpoint gen-[0-9]*, .*(signal); stopping until restart' "$kind.out" ||
		fail "$kind: no checkpoint line with trigger signal in the job output"
	grep -q '(walltime); stopping' "$kind.out" &&
		fail "$kind: a walltime checkpoint came first: the signal did not trigger"
	grep -q "^slurm-ckpt: step 0 task 0 resumes from gen-" "$kind.out" ||
		fail "$kind: the job did not resume"
	# After the final checkpoint the shell must not run the rest of the
	# script: only the last, completing start may print this.
	[ "$(grep -c 'script went on after srun' "$kind.out")" = 1 ] ||
		fail "$kind: the batch script went on after a final checkpoint: $(grep -c 'script went on' "$kind.out") times"
	grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' "$kind.out" >"app-$kind.txt" || true
	diff -q ref.txt "app-$kind.txt" >/dev/null ||
		fail "$kind: output differs from an uninterrupted run: $(diff ref.txt "app-$kind.txt" | head -n 5)"
	echo "ok: $kind signal: job $job restarted $(job_field "$job" Restarts) times, output correct"
done
