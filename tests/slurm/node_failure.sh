#!/usr/bin/env bash
# A node dies under a job with --checkpoint-interval (issue 12, item 11).
# A 4-task job on cn1+cn2 is checkpointed every 15 s. Once a periodic
# generation is committed, the node that is not the batch host loses its
# slurmd and every process of the job (all stopped, then kill -9: the job's
# node agent there, slurmd, the job's slurmstepds, its tasks). Slurm finds the node
# unresponsive after SlurmdTimeout, marks it DOWN and requeues the job
# (JobRequeue=1, --requeue); the node's slurmd is started again (as `up`
# does) and returns to service (ReturnToService=2). The job must resume from
# a committed periodic generation (the work since then is done again) and end
# with every task's final result that of an uninterrupted run.
# Arguments: the ckpt CLI, the counter program.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ckpt=$1 counter=$2 memhog=- probe=-
. "$(dirname "$0")/cluster_lib.sh"
require_cluster
make_workdir node-failure
restart_node=
cleanup() {
	# Never leave the cluster with a dead slurmd.
	[ -n "$restart_node" ] && "$repo_dir/contrib/testcluster/up" >/dev/null 2>&1
	cluster_cleanup
}
trap cleanup EXIT

steps=1200 # 120 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" --checkpoint-interval=15s --requeue --open-mode=append \
	-o job.txt --wrap "srun -N2 -n4 --open-mode=append -o out-%t.txt $counter $steps 100")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 4 180
batch=$(job_field "$job" BatchHost)
case "$batch" in
cn1) node=cn2 ;;
cn2) node=cn1 ;;
*) fail "job $job: batch host '$batch' is neither cn1 nor cn2" ;;
esac

# A committed periodic generation with all four images.
deadline=$((SECONDS + $(scaled 120)))
until as_user "$ckpt" list "$jobdir" --json 2>/dev/null |
	jq -e 'any(.[]; .trigger == "interval" and .images == 4 and .error == null)' >/dev/null; do
	((SECONDS < deadline)) || fail "no committed periodic generation after $(scaled 120) s: $(as_user "$ckpt" list "$jobdir" 2>&1 | tail -n 5)"
	sleep 1
done
echo "periodic generations: $(as_user "$ckpt" list "$jobdir" --json | jq -c '[.[] | select(.error == null) | {gen, trigger}]')"

# Everything of the job on $node: its tasks (from that node's slurmd, before
# it dies), their slurmstepd (their parent), the job's node agent there.
tasks=$(scontrol listpids "$job" "$node" 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ { print $1 }')
[ -n "$tasks" ] || fail "scontrol listpids $job $node lists no process"
stepds=
for pid in $tasks; do
	pp=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) || continue
	case "$(tr '\0' ' ' <"/proc/$pp/cmdline" 2>/dev/null)" in
	slurmstepd*) stepds="$stepds $pp" ;;
	esac
done
stepds=$(tr ' ' '\n' <<<"$stepds" | sort -u | tr '\n' ' ')
[ -n "${stepds// /}" ] || fail "no slurmstepd found as the parent of $node's tasks ($tasks)"
relay=
for pid in $(pgrep -f -- 'ckpt-agent.*--relay' || true); do
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	[[ "$cmd" == *"--job $job "* && "$cmd" == *"--node $node"* ]] && relay="$relay $pid"
done
[ -n "$relay" ] || fail "no node agent of job $job on $node: $(pgrep -af ckpt-agent || echo none)"
slurmd_pid=$(cat "$TESTCLUSTER_DIR/run/slurmd-$node.pid")
echo "killing $node: slurmd $slurmd_pid, slurmstepd$stepds, tasks $(echo $tasks), node agent$relay"
restart_node=$node
# A crashed node says nothing more: frozen first, so that its node agent
# cannot pass on its tasks' deaths (it would report them as having ended by
# themselves, docs/limitations.md), then killed, the node agent first.
# shellcheck disable=SC2086 # lists of pids
kill -STOP $relay "$slurmd_pid" $stepds $tasks
# shellcheck disable=SC2086
kill -9 $relay "$slurmd_pid" $stepds $tasks
t_kill=$SECONDS
periodic=$(as_user "$ckpt" list "$jobdir" --json |
	jq -r '[.[] | select(.error == null and .trigger == "interval" and .images == 4) | .gen] | map(tostring) | join(" ")')
echo "complete periodic generations when $node died: $periodic"

# Slurm notices after SlurmdTimeout (60 s) and requeues.
deadline=$((SECONDS + $(scaled 300)))
while :; do
	st=$(job_state "$job")
	[ "$st" != RUNNING ] && [ "$st" != COMPLETING ] && break
	((SECONDS < deadline)) || fail "job $job still $st $(scaled 300) s after $node died; $node is $(sinfo -h -n "$node" -o %t)"
	sleep 1
done
job_state_failed "$st" && fail "job $job ended $st when $node died instead of being requeued" \
	"(reason $(job_field "$job" Reason))"
echo "job $job $st $((SECONDS - t_kill)) s after $node died (restarts $(job_field "$job" Restarts)); $node is $(sinfo -h -n "$node" -o %t)"
"$repo_dir/contrib/testcluster/up" >up.log 2>&1 || fail "restarting $node failed: $(tail -n 5 up.log)"
restart_node=
echo "$node back: $(sinfo -h -n "$node" -o %t)"

follow_job "$job" 500
[ "$(job_field "$job" Restarts)" -ge 1 ] || fail "job $job was not restarted"
for r in 0 1 2 3; do
	gen=$(sed -n "s/^slurm-ckpt: step 0 task $r resumes from gen-\([0-9]*\).*/\1/p" "out-$r.txt" | head -n 1)
	[ -n "$gen" ] || fail "task $r did not resume from a generation: $(tail -n 3 "out-$r.txt")"
	[[ " $periodic " == *" $gen "* ]] ||
		fail "task $r resumed from gen-$gen, not one of the periodic generations ($periodic) committed before $node died"
	# The work done after gen-$gen is done again: the counter's lines before
	# the resume are a prefix of an uninterrupted run's, those after it its
	# rest from the step gen-$gen holds, to the final line.
	python3 - "out-$r.txt" ref.txt <<'PY' || fail "task $r: output is not an uninterrupted run's, resumed: $(tail -n 3 "out-$r.txt")"
import re, sys
pat = re.compile(r"^([0-9]+|done [0-9]+) [0-9a-f]{16}$")
ref = [l.rstrip("\n") for l in open(sys.argv[2])]
before, after, resumed = [], [], False
for l in open(sys.argv[1]):
    l = l.rstrip("\n")
    if l.startswith("slurm-ckpt: step 0 task ") and " resumes from gen-" in l:
        resumed = True
    elif pat.match(l):
        (after if resumed else before).append(l)
ok = (resumed and after and before == ref[:len(before)] and after == ref[len(ref) - len(after):]
      and len(ref) - len(after) <= len(before))
print(f"{sys.argv[1]}: {len(before)} lines before the failure, {len(after)} after the resume (of {len(ref)})")
sys.exit(0 if ok else 1)
PY
done
echo "ok: $node killed under job $job; requeued, resumed from periodic gen-$gen, 4 tasks correct"
