#!/usr/bin/env bash
# Multi-node restore on another placement: the job's step runs its 4 tasks
# with `-m block` on its first start (ranks 0,1 on cn1, 2,3 on cn2) and with
# `-m cyclic` after a restart (0,2 on cn1, 1,3 on cn2), so ranks 1 and 2
# change node. `ckpt checkpoint JOBID --requeue` mid-run takes a final
# checkpoint and requeues the job; on its next start every task resumes
# from that generation on its new node and the job finishes with each
# task's output exactly that of an uninterrupted run.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir cluster-placement
trap cluster_cleanup EXIT

steps=400 # 40 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
cat >job.sh <<JOB
#!/bin/bash
if [ "\${SLURM_RESTART_COUNT:-0}" -gt 0 ]; then dist=cyclic; else dist=block; fi
echo "start \${SLURM_RESTART_COUNT:-0} distribution \$dist"
srun -N2 -n4 -m \$dist --open-mode=append -o out-%t.txt $counter $steps 100
JOB
chmod 755 job.sh
chown "$TESTCLUSTER_USER:" job.sh
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --requeue --open-mode=append --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" -o job.txt job.sh)
jobdir=$workdir/ckpt/$job
echo "job $job submitted"

# placement WHEN EXPECTED: the status and the slurmds agree that rank R runs
# on the node given in EXPECTED ("R NODE" lines).
placement() {
	local when=$1 want=$2 seen slurm
	seen=$(jq -r '.processes[] | "\(.rank) \(.node)"' <<<"$status_json" | sort -n)
	[ "$seen" = "$want" ] ||
		fail "$when: ckpt status places the ranks as '${seen//$'\n'/, }', expected '${want//$'\n'/, }'"
	slurm=$(step_nodes "$job" 0)
	[ "$slurm" = "$want" ] ||
		fail "$when: slurmd (scontrol listpids) places the ranks as '${slurm//$'\n'/, }'," \
			"expected '${want//$'\n'/, }'"
	echo "$when: ranks on ${seen//$'\n'/, }"
}

wait_running "$job" 4 180
status_has 'all(.processes[]; .restored == false)' "fresh processes on the first start"
placement "first start" "$(printf '0 cn1\n1 cn1\n2 cn2\n3 cn2')"
for r in 0 1 2 3; do
	wait_lines "out-$r.txt" '^[0-9]* ' 50 60
done

checkpoint_ok "$job" 1 --requeue
verify_gen "$jobdir/gen-1" 4

# The requeued job starts again; its tasks are restored from gen-1.
wait_restarted "$job" 1 300
wait_status "$job" '(.processes | length) == 4 and all(.processes[]; .restored == true)' 120 \
	"4 restored processes on the second start"
status_has 'all(.processes[]; (.restored_gen // 1) == 1)' "processes restored from gen-1"
placement "second start" "$(printf '0 cn1\n1 cn2\n2 cn1\n3 cn2')"

wait_job_done "$job" 180
[ "$(job_field "$job" Restarts)" = 1 ] || fail "job restarted $(job_field "$job" Restarts) times, expected 1"
grep -q '^start 0 distribution block' job.txt || fail "no first start in job.txt: $(cat job.txt)"
grep -q '^start 1 distribution cyclic' job.txt || fail "no second start in job.txt: $(cat job.txt)"
for r in 0 1 2 3; do
	[ "$(grep -c "^slurm-ckpt: step 0 task $r resumes from gen-1" "out-$r.txt")" = 1 ] ||
		fail "task $r did not report resuming from gen-1 once: $(grep slurm-ckpt "out-$r.txt")"
	expect_counter_output "out-$r.txt" ref.txt
done
echo "ok: job $job restored its 4 tasks on another placement (ranks 1 and 2 changed node), output intact"
