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

# gens: the committed generations of the job, one number per line, oldest first.
gens() {
	as_user "$ckpt" list "$jobdir" --json 2>/dev/null |
		python3 -c 'import json,sys; [print(g["gen"]) for g in json.load(sys.stdin)]' 2>/dev/null || true
}
# kind GEN: "incremental" or "full" as the coordinator logged GEN's image.
kind() {
	sed -n "s/.*generation $1: .*: image \(incremental\|full\).*/\1/p" "$jobdir/agent.log" 2>/dev/null |
		tail -n 1
}

wait_job_state "$job" RUNNING 120
deadline=$((SECONDS + $(scaled 120)))
while [ "$(gens | wc -l)" -lt 3 ]; do
	st=$(job_state "$job")
	[ "$st" = RUNNING ] || fail "job $job is $st before it had 3 generations: $(gens | tr '\n' ' ')"
	((SECONDS < deadline)) || fail "job $job: fewer than 3 committed generations after $(scaled 120) s: $(gens | tr '\n' ' '); agent.log: $(tail -n 5 "$jobdir/agent.log" 2>/dev/null)"
	sleep 0.5
done
echo "$(date +%T) generations $(gens | tr '\n' ' ')"

scontrol requeuehold "$job"
wait_job_state "$job" PENDING 60
# The stopped start's processes (task, agents) are gone once nothing of the
# user's names the job or its directory; only then is the newest generation
# final (a checkpoint taken on the way out would be newer).
deadline=$((SECONDS + $(scaled 60)))
while pgrep -u "$TESTCLUSTER_USER" -f -- "$jobdir|--job $job( |\$)" >/dev/null; do
	((SECONDS < deadline)) || fail "processes of job $job still run $(scaled 60) s after its requeue: $(pgrep -u "$TESTCLUSTER_USER" -af -- "$jobdir|--job $job( |\$)")"
	sleep 0.5
done
mapfile -t before < <(gens)
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

# The first start printed steps 1..K and gen-$newest was taken at some step
# J <= K; the restored process goes on from J+1. Together, steps 1..J of
# the first start and everything after the resume must be exactly an
# uninterrupted run.
head -n "$start_lines" out.txt | grep -E '^[0-9]+ [0-9a-f]{16}$' >first-app.txt || true
tail -n +"$((resume_line + 1))" second.txt | grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' >second-app.txt || true
[ -s first-app.txt ] && [ -s second-app.txt ] || fail "no counter output before or after the restart"
first_resumed=$(head -n 1 second-app.txt | cut -d' ' -f1)
[ "$first_resumed" -ge 2 ] ||
	fail "the restored counter started again at step $first_resumed: it was restarted, not restored"
[ "$first_resumed" -le "$(($(wc -l <first-app.txt) + 1))" ] ||
	fail "the restored counter goes on at step $first_resumed but the first start had only printed $(wc -l <first-app.txt) steps: steps were lost"
{
	head -n "$((first_resumed - 1))" first-app.txt
	cat second-app.txt
} >app.txt
diff -q ref.txt app.txt >/dev/null ||
	fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"
echo "ok: job $job resumed from the incremental gen-$newest (full image gen-$full_gen) at step $first_resumed, output identical"
