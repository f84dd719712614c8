#!/usr/bin/env bash
# The site's phase timeout (plugstack.conf phase_timeout=, docs/admins.md)
# reaches the job's coordinator and bounds its checkpoints:
#  - with phase_timeout=0:20 the coordinator's start line and `ckpt status`
#    show 20 s for PREPARE and WRITE (set by the site); a checkpoint that a
#    stopped task holds in PREPARE fails after 20 s with the timeout message
#    naming plugstack phase_timeout=, and the job runs on; a coordinator
#    killed and started again keeps the 20 s;
#  - without it (the default), the same checkpoint, held in PREPARE for
#    longer than 20 s, commits once the task runs again, and `ckpt status`
#    shows the default bounds (600 s, WRITE derived).
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
make_workdir site-phase-timeout

conf=$TESTCLUSTER_DIR/etc/plugstack.conf
cp "$conf" "$workdir/plugstack.conf.orig"
stopped=
cleanup() {
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	cp "$workdir/plugstack.conf.orig" "$conf"
	cluster_cleanup
}
trap cleanup EXIT
grep -q '^required .*spank_ckpt.so' "$conf" || fail "$conf loads no spank_ckpt.so: $(cat "$conf")"

# submit_one NAME: the 4-task job of the cluster tests, 1200 counter steps
# of 100 ms; sets job and jobdir, waits for its processes to run.
submit_one() {
	job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto \
		--checkpoint-dir="$workdir/ckpt" -o "job-$1.txt" \
		--wrap "srun -N2 -n4 -o out-$1-%t.txt $counter 1200 100")
	jobdir=$workdir/ckpt/$job
	echo "job $job submitted ($1)"
	wait_running "$job" 4 180
	wait_lines "out-$1-0.txt" '^[0-9]* ' 5 60
}

# stop_task: stops the job's rank 0, which then holds a checkpoint in
# PREPARE; its pid in stopped.
stop_task() {
	stopped=$(status_pid 0)
	[ -n "$stopped" ] && kill -0 "$stopped" || fail "no live task: $status_json"
	kill -STOP "$stopped"
}

# With the site's 20 s.
sed -i 's/^\(required .*spank_ckpt.so.*\)$/\1 phase_timeout=0:20/' "$conf"
echo "plugstack.conf: $(cat "$conf")"
submit_one site
cp "$workdir/plugstack.conf.orig" "$conf"
status_has '.phase_timeout == 20 and .write_timeout == 20 and .write_timeout_derived == false' \
	"phase_timeout 20, write_timeout 20, set by the site"
grep -q "for job $job (phase timeouts: prepare 20 s, write 20 s (set by the site)" "$jobdir/agent.log" ||
	fail "the coordinator's start line does not show the site's 20 s: $(grep -m1 'serving' "$jobdir/agent.log")"
echo "coordinator: $(grep -m1 -o 'phase timeouts: [^;]*' "$jobdir/agent.log")"
# A coordinator started again (kill -9) keeps the site's bound: it is in the
# options the coordinator records for that (coord.args).
grep -qx -- '--phase-timeout' "$jobdir/coord.args" && grep -qx 20 "$jobdir/coord.args" ||
	fail "$jobdir/coord.args lacks --phase-timeout 20: $(tr '\n' ' ' <"$jobdir/coord.args")"
old=$(jq -r .pid "$jobdir/coord.json")
kill -9 "$old"
wait_status "$job" ".agent_pid != $old and (.processes | length) == 4 and all(.processes[]; .state == \"running\")" \
	120 "a new coordinator with the 4 tasks registered again"
status_has '.phase_timeout == 20 and .write_timeout == 20 and .write_timeout_derived == false' \
	"the site's 20 s in the new coordinator"
echo "coordinator $old killed; its successor $(jq -r .agent_pid <<<"$status_json") keeps the site's 20 s"
stop_task
t0=$SECONDS
rc=0
as_user "$ckpt" checkpoint "$job" >site-out.txt 2>site-err.txt || rc=$?
took=$((SECONDS - t0))
kill -CONT "$stopped"
stopped=
[ "$rc" -eq 1 ] || fail "ckpt checkpoint with a stopped task exited $rc after $took s, expected 1: $(cat site-out.txt site-err.txt)"
grep -q "timeout: no answer within 20 s in phase prepare (the phase timeout: plugstack phase_timeout=" site-err.txt ||
	fail "the failure does not name the site's 20 s phase timeout: $(cat site-err.txt)"
((took >= 20)) || fail "the checkpoint failed after $took s, before the 20 s bound"
echo "checkpoint failed after $took s: $(cat site-err.txt)"
wait_status "$job" '.checkpoint == null and all(.processes[]; .state == "running")' 30 \
	"the task running again after the timeout"
status_has '.last_error | test("no answer within 20 s in phase prepare")' "last_error naming the 20 s"
expect_gens "$jobdir" ""
scancel "$job"
wait_job_ended "$job" 60

# The default: the same checkpoint held longer than 20 s commits.
submit_one default
status_has '.phase_timeout == 600 and .write_timeout == 600 and .write_timeout_derived == true' \
	"the default bounds (600 s, WRITE derived)"
stop_task
ckpt_background default
wait_phase prepare 60
wait_status "$job" '.checkpoint.phase == "prepare" and .checkpoint.elapsed_ms > 25000' 60 \
	"the checkpoint held in PREPARE for 25 s"
kill -CONT "$stopped"
stopped=
ckpt_background_rc 120 "the task ran again"
[ "$ckpt_rc" -eq 0 ] || fail "the default-bound checkpoint held 25 s exited $ckpt_rc: $(cat default-out.txt default-err.txt)"
[ "$(realpath "$(cat default-out.txt)")" = "$(realpath "$jobdir/gen-1")" ] ||
	fail "ckpt checkpoint printed '$(cat default-out.txt)', expected $jobdir/gen-1"
echo "default bounds: the checkpoint held 25 s in PREPARE committed $(cat default-out.txt)"
scancel "$job"
wait_job_ended "$job" 60
echo "ok: plugstack phase_timeout=0:20 bounded job checkpoints to 20 s; the default let 25 s pass"
