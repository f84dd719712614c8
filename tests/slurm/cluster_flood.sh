#!/usr/bin/env bash
# An anonymous flood of the coordinator's TCP port must not cost the job its
# checkpoint (issue 12, item 1). With the coordinator limited to 256 fds,
# another user opens 300 idle connections and 50 that send all but the last
# byte of a 1 MiB frame, and 600 forged hellos (coord-flood). Then:
#  (a) the coordinator's peak RSS grew by less than 16 MiB (it would hold
#      ~50 MiB of half frames without the pre-hello frame limit);
#  (b) its agent.log grew by less than 32 KiB (accept() failing on EMFILE
#      used to log "Error from accept() call" in a busy loop, and every
#      refused hello a line or two);
#  (c) `ckpt checkpoint` during the flood commits a generation of all 4 tasks;
#  (d) every flooding connection is closed by the coordinator within 30 s
#      (hello deadline), none left open.
# Before that: the coordinator listens on the batch host's NodeAddr only
# (coord.json names it), not on every address.
# Arguments: see cluster_lib.sh; CKPT_COORD_FLOOD names tests/slurm/coord-flood.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
flood=${CKPT_COORD_FLOOD:?CKPT_COORD_FLOOD must name tests/slurm/coord-flood}
[ -x "$flood" ] || fail "$flood is not an executable"
other=ckptother
id "$other" >/dev/null 2>&1 || useradd -m -s /bin/bash "$other"
make_workdir cluster-flood
flood_pid=
cleanup() {
	[ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null
	cluster_cleanup
}
trap cleanup EXIT

steps=1200 # 120 s at 100 ms a step
submit_job4 "$counter $steps 100"
coord_record "$job"
batch=$(scontrol show job "$job" | sed -n 's/.*BatchHost=\([^ ]*\).*/\1/p')
nodeaddr=$(scontrol show node "$batch" | sed -n 's/.*NodeAddr=\([^ ]*\).*/\1/p')
[ "$host" = "$nodeaddr" ] || fail "$reg names host '$host', expected the NodeAddr '$nodeaddr' of $batch"
listen=$(ss -Hltn "sport = :$port" | awk '{print $4}')
[ "$listen" = "$nodeaddr:$port" ] ||
	fail "the coordinator listens on '$listen', expected only $nodeaddr:$port (NodeAddr of $batch)"
echo "coordinator listens on $listen, the NodeAddr of batch host $batch"
log=$jobdir/agent.log
[ -f "$log" ] || fail "no $log"
as_user prlimit --pid "$cpid" --nofile=256:256 || fail "cannot lower the fd limit of pid $cpid"
as_user sh -c "echo 5 >/proc/$cpid/clear_refs" || fail "cannot reset the peak RSS of pid $cpid"
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$cpid/status")
log0=$(stat -c %s "$log")
echo "coordinator pid $cpid at $host:$port: RSS $rss0 kB, fd limit 256, agent.log $log0 bytes"

runuser -u "$other" -- "$flood" "$host" "$port" 300 50 600 30 >flood.txt 2>&1 &
flood_pid=$!
wait_helper_line flood.txt '^connected:' "$flood_pid" 60 "coord-flood"
echo "flood: $(head -n 1 flood.txt)"

# (c) the owner's checkpoint goes through while the flood holds its connections.
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4

# (d) every flooding connection closed by the coordinator.
rc=0
wait "$flood_pid" || rc=$?
flood_pid=
echo "flood: $(tail -n 1 flood.txt)"
[ "$rc" -eq 0 ] || fail "coord-flood: $(tail -n 1 flood.txt) (exit $rc)"

# (a) memory and (b) log stay bounded.
proc_alive "$cpid" || fail "the coordinator (pid $cpid) died during the flood"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$cpid/status")
log1=$(stat -c %s "$log")
echo "coordinator peak RSS $hwm kB (was $rss0 kB), agent.log $log1 bytes (was $log0)"
((hwm - rss0 < 16384)) || fail "the coordinator's peak RSS grew by $((hwm - rss0)) kB under the flood"
((log1 - log0 < 32768)) ||
	fail "agent.log grew by $((log1 - log0)) bytes under the flood: $(tail -n 5 "$log")"
grep -q 'unauthenticated connections dropped or refused\|dropped client' "$log" ||
	fail "agent.log says nothing about the flood: $(tail -n 5 "$log")"

# The coordinator still serves the job afterwards.
checkpoint_ok "$job" 2
scancel "$job"
wait_job_ended "$job" 60
echo "ok: job $job: flood of 950 anonymous connections closed, checkpoints 1 and 2 committed," \
	"peak RSS +$((hwm - rss0)) kB, agent.log +$((log1 - log0)) bytes"
