#!/usr/bin/env bash
# Corrupt newest generation: a --checkpoint=auto job with periodic
# checkpoints is requeued (held) once it has two committed generations; one
# byte in the middle of the newest generation's image is flipped; on the
# restart the job must report that generation as unusable, resume from the
# one before it, and still produce exactly the output of an uninterrupted
# run (apart from the steps between the older generation and the requeue,
# which the first start had printed already and the restored one prints
# again, identically).
#
# With WHERE=last-chunk the counter carries MIB MiB of incompressible
# ballast and the flipped byte is the last stored byte of the image's last
# chunk (just before the trailer): ckpt-restore checks each chunk as it
# loads it, so it finds the damage only at the end of its one pass over the
# newest image, and must still drop it and restore the older generation.
# The task then has read (/proc/PID/io rchar) each of the two images once,
# not the twice-read of a verify-then-restore; an incremental image's
# attempt also reads the chunks of its base it refers to (the agent log
# says how many MiB), once per attempt.
# With WHERE=all-last-chunk every generation's image is damaged so: the
# restorer tries them all, then starts the task's program from the
# beginning, as the plugin does when it finds no usable image.
# With WHERE=base the newest generation must be an incremental image and the
# byte flipped is in the middle of the full image of its chain (the oldest
# generation, mostly ballast the later ones refer to): each image of the
# chain is then found unusable during its single pass, the incremental ones
# through the base chunk they refer to, and the task starts from the
# beginning, as with all-last-chunk.
# Arguments: the counter program (tests/standalone/cli/counter), the ckpt CLI,
# [MIB (default 0) [WHERE: middle (default), last-chunk, all-last-chunk or
# base]].
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
counter=$(realpath "$1")
ckpt=$(realpath "$2")
mib=${3:-0}
where=${4:-middle}
make_workdir "corrupt-$where"
steps=400 # 200 ms each: 80 s of work, the first two generations at 10 s and 20 s

"$counter" "$steps" 0 "$mib" >ref.txt
job=$(as_user sbatch --parsable --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	--checkpoint-interval=10s --time=10 --requeue --open-mode=append -o out.txt \
	--wrap "srun -n1 $counter $steps 200 $mib")
trap 'scancel "$job" 2>/dev/null || true' EXIT
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

wait_job_state "$job" RUNNING 120
wait_job_gens "$job" "$jobdir" 2 90

# Requeue it held, so nothing runs while the image is corrupted.
requeue_held_quiet "$job" "$jobdir"
mapfile -t before < <(job_gens "$jobdir")
[ ${#before[@]} -ge 2 ] || fail "job $job: fewer than 2 committed generations after the requeue: ${before[*]}"
newest=${before[-1]}
previous=${before[-2]}
image=$(find "$jobdir/gen-$newest" -maxdepth 1 -name '*.img' | head -n 1)
[ -n "$image" ] || fail "no image in $jobdir/gen-$newest: $(ls -l "$jobdir/gen-$newest")"
"$ckpt" inspect --verify "$image" >verify-before.txt 2>&1 ||
	fail "the image $image was already bad before the test corrupted it: $(tail -n 3 verify-before.txt)"

# Flip every bit of the byte in the middle of the image, or of the last
# byte before the trailer (the footer's first 8 bytes are its offset).
size=$(stat -c %s "$image")
off=$((size / 2))
# last_byte IMAGE: offset of the last stored byte of IMAGE's last chunk.
last_byte() {
	local n
	n=$(stat -c %s "$1")
	echo $(($(od -An -tu8 -j $((n - 32)) -N 8 "$1" | tr -d ' ') - 1))
}
[ "$where" = middle ] || off=$(last_byte "$image")
if [ "$where" = all-last-chunk ]; then
	for g in "${before[@]}"; do
		[ "$g" != "$newest" ] || continue
		f=$(find "$jobdir/gen-$g" -maxdepth 1 -name '*.img' | head -n 1)
		o=$(last_byte "$f")
		b=$(od -An -tu1 -j "$o" -N 1 "$f" | tr -d ' ')
		printf "\\$(printf %03o $((b ^ 0xff)))" | dd of="$f" bs=1 seek="$o" conv=notrunc status=none
		! "$ckpt" inspect --verify "$f" >/dev/null 2>&1 || fail "could not corrupt $f"
		echo "corrupted gen-$g ($f, byte $o)"
	done
fi
if [ "$where" = base ]; then
	# kind GEN: "incremental" or "full" as the coordinator logged GEN's image.
	kind() {
		sed -n "s/.*generation $1: .*: image \(incremental\|full\).*/\1/p" "$jobdir/agent.log" | tail -n 1
	}
	[ "$(kind "$newest")" = incremental ] ||
		fail "the newest generation gen-$newest is not an incremental image: $(grep "generation $newest:" "$jobdir/agent.log" | tail -n 2)"
	base=${before[0]}
	[ "$(kind "$base")" = full ] ||
		fail "the oldest generation gen-$base is not a full image: $(grep "generation $base:" "$jobdir/agent.log" | tail -n 2)"
	for g in "${before[@]:1}"; do
		[ "$(kind "$g")" = incremental ] || fail "gen-$g is not incremental: the chain does not start at gen-$base"
	done
	image=$(find "$jobdir/gen-$base" -maxdepth 1 -name '*.img' | head -n 1)
	size=$(stat -c %s "$image")
	off=$((size / 2))
fi
previous_image=$(find "$jobdir/gen-$previous" -maxdepth 1 -name '*.img' | head -n 1)
previous_size=$(stat -c %s "$previous_image")
byte=$(od -An -tu1 -j "$off" -N 1 "$image" | tr -d ' ')
printf "\\$(printf %03o $((byte ^ 0xff)))" | dd of="$image" bs=1 seek="$off" conv=notrunc status=none
[ "$(od -An -tu1 -j "$off" -N 1 "$image" | tr -d ' ')" = $((byte ^ 0xff)) ] ||
	fail "could not corrupt $image at offset $off"
! "$ckpt" inspect --verify "$image" >verify-after.txt 2>&1 ||
	fail "the corrupted image $image still verifies; the test cannot tell a fallback from a restore"
if [ "$where" = base ]; then
	newest_image=$(find "$jobdir/gen-$newest" -maxdepth 1 -name '*.img' | head -n 1)
	"$ckpt" inspect "$newest_image" >inspect-newest.txt 2>&1 ||
		fail "the newest image's metadata no longer opens: the plugin would drop it, not the restorer: $(tail -n 2 inspect-newest.txt)"
	! "$ckpt" inspect --verify "$newest_image" >verify-newest.txt 2>&1 ||
		fail "gen-$newest still verifies with its base corrupted: the damage is in no chunk it refers to"
	echo "gen-$newest: $(tail -n 1 verify-newest.txt)"
fi
echo "$(date +%T) corrupted gen-${base:-$newest} ($image, byte $off of $size): $(tail -n 1 verify-after.txt)"
[ "$(job_gens "$jobdir" | tail -n 1)" = "$newest" ] || fail "a newer generation than gen-$newest appeared while the job was held: $(job_gens "$jobdir" | tr '\n' ' ')"

start_lines=$(wc -l <out.txt)
scontrol release "$job"
if [ "$where" = last-chunk ]; then
	# Bytes the restored task read, from the plugin's look at the
	# generations to the restore: each image once (the corrupt one whole,
	# since its damage is in the last chunk, then the older one).
	wait_file_grep out.txt "resumes from gen-" 300
	pid=
	deadline=$((SECONDS + 60))
	while [ -z "$pid" ]; do
		# The restored task's command line is the saved one (srun's
		# starts with srun).
		pid=$(pgrep -u "$TESTCLUSTER_USER" -f "^$counter $steps 200 $mib\$" | head -n 1 || true)
		[ -n "$pid" ] || ((SECONDS < deadline)) || fail "no counter process after the resume line"
		[ -n "$pid" ] || sleep 0.2
	done
	rchar=$(awk '/^rchar:/ { print $2 }' "/proc/$pid/io")
	# referred GEN: bytes of base chunks GEN's image refers to (0 for a
	# full image), from the coordinator's "N MiB referred to".
	referred() {
		sed -n "s/.*generation $1: .*, \([0-9.]*\) MiB referred to.*/\1/p" "$jobdir/agent.log" |
			tail -n 1 | awk '{ printf "%d\n", $1 * 1048576 }'
	}
	ref_newest=$(referred "$newest")
	ref_previous=$(referred "$previous")
	ref_newest=${ref_newest:-0} ref_previous=${ref_previous:-0}
	both=$((size + previous_size))
	# The older image is loaded whole, with what it refers to (less the
	# log's rounding to 0.1 MiB); the newest at most whole.
	least=$((both + ref_previous - (ref_previous > 0 ? 104858 : 0)))
	most=$((both + $ref_newest + $ref_previous))
	echo "restored task read $rchar bytes; images: gen-$newest $size (+ $ref_newest referred) + gen-$previous $previous_size (+ $ref_previous referred)"
	((rchar >= least)) || fail "the task read $rchar bytes, less than the two images and what the older refers to ($least): not every byte was checked"
	((rchar < most + most / 4)) ||
		fail "the task read $rchar bytes for images and referred chunks of $most bytes: an image was read more than once"
fi
follow_job "$job" 300

# The second start's part of the output.
tail -n +"$((start_lines + 1))" out.txt >second.txt
if [ "$where" = base ]; then
	grep -q "gen-$newest of step 0 task 0 is unusable (.*its base (generation $base) is unusable.*); trying an older one" second.txt ||
		fail "the restart did not report gen-$newest unusable through its base gen-$base: $(grep -v '^[0-9]' second.txt | head -n 10)"
fi
if [ "$where" = all-last-chunk ] || [ "$where" = base ]; then
	grep -q "gen-$newest of step 0 task 0 is unusable (.*chunk.*); trying an older one" second.txt ||
		fail "the restart did not report gen-$newest as unusable: $(grep -v '^[0-9]' second.txt | head -n 10)"
	grep -q "no usable image of step 0 task 0 in ${#before[@]} generation(s): it starts from the beginning" second.txt ||
		fail "the restart did not say the task starts from the beginning: $(grep -v '^[0-9]' second.txt | head -n 10)"
	! grep -q 'resumes from gen-' second.txt || fail "a corrupt generation was restored: $(grep 'resumes from' second.txt)"
	grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' second.txt >second-app.txt || true
	diff -q ref.txt second-app.txt >/dev/null ||
		fail "the fresh start's output differs from an uninterrupted run: $(diff ref.txt second-app.txt | head -n 10)"
	echo "ok: job $job: every generation unusable ($where), the task started from the beginning, output identical"
	exit 0
fi
bad_line=$(grep -n "gen-$newest of step 0 task 0 is unusable (.*); trying an older one" second.txt | head -n 1 | cut -d: -f1)
[ -n "$bad_line" ] ||
	fail "the restart did not report gen-$newest as unusable; second start's output: $(grep -v '^[0-9]' second.txt | head -n 10)"
resume=$(grep -n '^slurm-ckpt: step 0 task 0 resumes from gen-' second.txt)
[ "$(echo "$resume" | wc -l)" = 1 ] || fail "expected one resume line on the restart, got: $resume"
resume_line=${resume%%:*}
resumed=${resume##*gen-}
[ "$resumed" = "$previous" ] ||
	fail "the restart resumed from gen-$resumed; expected gen-$previous, the one before the corrupted gen-$newest"
((bad_line < resume_line)) || fail "the resume line comes before the unusable-generation line"
! grep -q '^CORRUPT' out.txt || fail "the counter found its memory corrupted: $(grep '^CORRUPT' out.txt)"

expect_resumed_run "$start_lines" "$resume_line"
echo "ok: job $job: gen-$newest corrupted, reported unusable, resumed from gen-$previous at step $first_resumed (first start reached step $first_steps), output identical"
