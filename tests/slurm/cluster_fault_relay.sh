#!/usr/bin/env bash
# The node agent (relay) of cn2 killed (SIGKILL) during PREPARE. PREPARE is
# held open by stopping (SIGSTOP) one task of cn2 first: it cannot answer
# "prepare". Then the relay dies and the task is continued. `ckpt checkpoint
# JOBID` must fail (exit 1) with a reason naming the lost node; gen-1 stays
# the newest and verifies, no gen-*.tmp is left, and the job runs on or
# ends by itself - not hanging - and its agents go away with it.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir cluster-fault-relay
stopped=
cleanup() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT

steps=900 # 90 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
submit_job4 "$counter $steps 100"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4

# The relay of cn2 for this job: "--relay" and the node on its command line.
relays=()
for pid in $(pgrep -f -- 'ckpt-agent.*--relay' || true); do
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	[[ "$cmd" == *"$jobdir"* || "$cmd " == *"--job $job "* ]] || continue
	[[ " $cmd" =~ [\ /=]cn2([\ /]|$) ]] && relays+=("$pid")
done
[ ${#relays[@]} -eq 1 ] || fail "expected one relay of job $job for cn2, found ${#relays[@]}:" \
	"$(pgrep -af ckpt-agent || echo 'no ckpt-agent at all')"
relay=${relays[0]}
echo "relay of cn2: pid $relay: $(tr '\0' ' ' <"/proc/$relay/cmdline")"

stop_task_on cn2
ckpt_background ckpt2
wait_phase prepare 60
# The stopped task holds PREPARE open: 2 s later it must still be there
# (a deliberate pause, to show the relay is killed in a PREPARE that lasts).
sleep 2
wait_status "$job" '.checkpoint.phase == "prepare"' 5 \
	"the checkpoint still in PREPARE 2 s later (rank $stopped_rank, pid $stopped, is stopped)"
kill -9 "$relay"
wait_dead "$relay" 20 "the relay of cn2 killed by SIGKILL"
kill -CONT "$stopped"
stopped=
echo "killed the relay of cn2 (pid $relay) during PREPARE of gen $(jq -r .checkpoint.gen <<<"$status_json")"

ckpt_background_rc 120 "the relay died"
rc=$ckpt_rc
[ "$rc" -eq 1 ] || fail "ckpt checkpoint exited $rc, expected 1: $(cat ckpt2-out.txt ckpt2-err.txt)"
grep -q "^ckpt: checkpoint of job $job failed: .*cn2" ckpt2-err.txt ||
	fail "expected 'ckpt: checkpoint of job $job failed: REASON' naming cn2: $(cat ckpt2-err.txt)"
echo "checkpoint failed as expected: $(cat ckpt2-err.txt)"
proc_alive "$relay" && fail "the relay (pid $relay) survived SIGKILL"

expect_no_tmp "$jobdir"
expect_gens "$jobdir" 1
verify_gen "$jobdir/gen-1" 4

# By itself the job ends after 90 s of counting: it must end by then (plus
# slack), completing or failing, but not be left hanging.
wait_job_ended "$job" 150
st=$(job_state "$job")
case "$st" in
COMPLETED | FAILED) ;;
*) fail "job $job ended $st, expected COMPLETED or FAILED" ;;
esac
if [ "$st" = COMPLETED ]; then
	for r in 0 1 2 3; do
		expect_counter_output "out-$r.txt" ref.txt
	done
fi
# Its coordinator and relays leave with it.
expect_agents_gone "$job"
echo "ok: job $job: relay of cn2 killed during PREPARE aborted the checkpoint, gen-1 intact, job $st"
