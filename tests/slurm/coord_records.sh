#!/usr/bin/env bash
# An exiting coordinator never removes a newer coordinator's records (issue
# 12, item 9). Job ids repeat (a slurmctld started clean numbers from 1
# again), so two coordinators of the same job id may run, in different
# directories, and ~/.slurm-ckpt/jobs/JOBID.json names the one that wrote it
# last. Here the job's coordinator (A, started by the plugin) is followed by
# a second one for the same job id in another directory (B). A then exits
# (SIGTERM): it removes its own DIR/coord.json, but the registry entry, which
# names B, must stay.
# Arguments: see cluster_lib.sh, then ckpt-agent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
agent=$5
cluster_args "$1" "$2" "$3" "$4"
require_cluster
make_workdir coord-records
b_pid=
cleanup() {
	[ -n "$b_pid" ] && kill "$b_pid" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT

job=$(as_user sbatch --parsable -N1 -n1 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -n1 -o out-%t.txt $counter 1200 100")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 1 180
reg=$(registry_file "$job")
a_pid=$(jq -r .pid "$jobdir/coord.json")
[ "$(jq -r .pid "$reg")" = "$a_pid" ] || fail "registry $reg does not name the coordinator $a_pid: $(cat "$reg")"

as_user mkdir -p "$workdir/other"
as_user "$agent" --dir "$workdir/other" --job "$job" 2>agent-b.log &
b_pid=$!
wait_file_grep agent-b.log "coordinator of job $job listening on" 60
same_pid() {
	[ "$(jq -r .pid "$reg" 2>/dev/null)" = "$(jq -r .pid "$workdir/other/coord.json" 2>/dev/null)" ]
}
wait_until 30 "the second coordinator taking over $reg (it holds $(cat "$reg"))" same_pid
b_rec=$(jq -r .pid "$reg")
echo "coordinator A pid $a_pid in $jobdir, B pid $b_rec in $workdir/other; the registry names B"

kill -TERM "$a_pid"
wait_dead "$a_pid" 30 "coordinator A, sent SIGTERM,"
[ ! -e "$jobdir/coord.json" ] || fail "coordinator A left its own $jobdir/coord.json"
[ -e "$reg" ] || fail "coordinator A removed $reg, which named coordinator B"
[ "$(jq -r .pid "$reg")" = "$b_rec" ] || fail "$reg changed: $(cat "$reg")"
grep -qF "leaving $reg: it is not this coordinator's record" "$jobdir/agent.log" ||
	fail "coordinator A did not say it left the registry in place: $(tail -n 5 "$jobdir/agent.log")"
echo "ok: coordinator A exited, removed its coord.json and left the registry naming B"
