#!/usr/bin/env bash
# Incremental checkpoints under Slurm: a --checkpoint=auto job with periodic
# checkpoints and 32 MiB of incompressible ballast it never rewrites takes at
# least 3 generations, the newest of which the coordinator's log reports as
# an incremental image (smaller than a quarter of the chain's full image);
# the job is requeued (held, so nothing newer is written), released, and
# must resume from that incremental generation (its unchanged memory read
# through the references to the full image of gen-1 or later), carry on and
# produce exactly the output of an uninterrupted run, with the ballast
# intact (the counter prints CORRUPT when its ballast checksum changed).
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
ckpt=$(realpath "$2")
mib=32
make_workdir incremental
steps=400 # 200 ms each: 80 s of work, a generation every 5 s

"$counter" "$steps" 0 "$mib" >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	--checkpoint-interval=5s --time=10 --requeue --open-mode=append -o out.txt \
	--wrap "srun -n1 $counter $steps 200 $mib")
trap 'scancel "$job" 2>/dev/null || true' EXIT
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

# kind GEN: "incremental" or "full" as the coordinator logged GEN's image.
kind() {
	sed -n "s/.*generation $1: .*: image \(incremental\|full\).*/\1/p" "$jobdir/agent.log" 2>/dev/null |
		tail -n 1
}

wait_job_state "$job" RUNNING 120
wait_job_gens "$job" "$jobdir" 3 120

requeue_held_quiet "$job" "$jobdir"
mapfile -t before < <(job_gens "$jobdir")
[ ${#before[@]} -ge 2 ] || fail "job $job: fewer than 2 committed generations after the requeue: ${before[*]}"
newest=${before[-1]}
for g in "${before[@]}"; do
	echo "gen-$g: image $(kind "$g"), $(stat -c %s "$jobdir/gen-$g"/*.img 2>/dev/null | head -n 1) bytes"
done
[ "$(kind "$newest")" = incremental ] ||
	fail "the newest generation gen-$newest is not reported as an incremental image: $(grep "generation $newest:" "$jobdir/agent.log" | tail -n 3)"
grep -q "generation $newest: .*: image incremental" "$jobdir/agent.log" ||
	fail "no 'image incremental' line for gen-$newest in agent.log"
# The chain's full image: the newest generation reported full before it.
full_gen=
for g in "${before[@]}"; do
	[ "$g" -lt "$newest" ] && [ "$(kind "$g")" = full ] && full_gen=$g
done
[ -n "$full_gen" ] || fail "no committed generation before gen-$newest has a full image: $(grep ': image ' "$jobdir/agent.log" | tail -n 5)"
newest_image=$(find "$jobdir/gen-$newest" -maxdepth 1 -name '*.img' | head -n 1)
full_image=$(find "$jobdir/gen-$full_gen" -maxdepth 1 -name '*.img' | head -n 1)
newest_size=$(stat -c %s "$newest_image")
full_size=$(stat -c %s "$full_image")
((newest_size * 4 < full_size)) ||
	fail "the incremental gen-$newest ($newest_size bytes) is not under a quarter of the full gen-$full_gen ($full_size bytes)"
"$ckpt" inspect --verify "$newest_image" >verify.txt 2>&1 ||
	fail "the incremental image $newest_image does not verify through its bases: $(tail -n 3 verify.txt)"
echo "$(date +%T) gen-$newest incremental ($newest_size bytes), its chain's full image gen-$full_gen ($full_size bytes)"

start_lines=$(wc -l <out.txt)
scontrol release "$job"
follow_job "$job" 300

tail -n +"$((start_lines + 1))" out.txt >second.txt
! grep -q 'is unusable' second.txt || fail "an image was refused on the restart: $(grep 'is unusable' second.txt)"
resume=$(grep -n '^slurm-ckpt: step 0 task 0 resumes from gen-' second.txt || true)
[ -n "$resume" ] || fail "the restart did not resume from a generation: $(grep -v '^[0-9]' second.txt | head -n 10)"
[ "$(echo "$resume" | wc -l)" = 1 ] || fail "expected one resume line on the restart, got: $resume"
resume_line=${resume%%:*}
resumed=${resume##*gen-}
[ "$resumed" = "$newest" ] ||
	fail "the restart resumed from gen-$resumed; expected the newest, incremental gen-$newest"
! grep -q '^CORRUPT' out.txt || fail "the counter found its memory corrupted: $(grep '^CORRUPT' out.txt)"

expect_resumed_run "$start_lines" "$resume_line"
echo "ok: job $job resumed from the incremental gen-$newest (full image gen-$full_gen) at step $first_resumed, output identical"
