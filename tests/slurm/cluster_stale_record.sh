#!/usr/bin/env bash
# A coordinator killed by SIGKILL leaves ~owner/.slurm-ckpt/jobs/JOBID.json
# and DIR/coord.json behind, naming a port anyone may bind next.
#  - While it runs, root's `ckpt status JOBID` prints what the job's
#    processes reported escaped: an executable named with terminal escape
#    sequences shows as \x1b..., no control byte reaches the terminal.
#  - The record carries the coordinator's start time (/proc/PID/stat 22).
#  - After a SIGKILL of the coordinator, another user (nobody) listens on its
#    port: `ckpt status|checkpoint JOBID` say the record is stale and exit 1,
#    and nobody's listener gets no connection, from the CLI or from the job's
#    node agents, which read coord.json again.
# Arguments: see cluster_lib.sh, then FAKE_PROC (tests/standalone/cli): a
# process stand-in that registers with the exe /proc/self/exe names, as is
# (libckpt itself would blank control characters out).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
fake_proc=${5:?usage: $0 CKPT COUNTER MEMHOG PROBE FAKE_PROC}
cluster_args "$1" "$2" "$3" "$4"
require_cluster
make_workdir cluster-stale
listener=
trap '[ -z "$listener" ] || kill "$listener" 2>/dev/null; cluster_cleanup' EXIT

# The job's program, under a name that would retitle root's terminal.
bad=$'evil\e]0;pwned\a\e[31mx'
mkdir bin
cp "$fake_proc" "bin/$bad"
chown -R "$TESTCLUSTER_USER:" bin
# Without libckpt (env drops it before the exec), on the job's agent socket.
job=$(as_user sbatch --parsable -N1 -n1 --checkpoint=auto --checkpoint-dir="$workdir/ckpt" \
	-o job.txt --wrap "srun -n1 -o out-%t.txt env -u LD_PRELOAD '$workdir/bin/$bad' --lifetime 280")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 1 180
wait_status "$job" '.processes[0].exe | test("evil")' 60 "the process named evil..."

"$ckpt" status "$job" >root-status.out 2>&1 || fail "root's ckpt status $job: $(cat root-status.out)"
! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' root-status.out ||
	fail "ckpt status printed raw control bytes: $(cat -v root-status.out)"
grep -qF 'evil\x1b]0;pwned\x07\x1b[31mx' root-status.out ||
	fail "ckpt status does not show the escaped name: $(cat -v root-status.out)"
echo "root's ckpt status shows: $(grep -F 'evil\x1b' root-status.out)"

reg=$(registry_file "$job")
cpid=$(jq -r .pid "$reg")
port=$(jq -r .port "$reg")
start=$(jq -r .start "$reg")
[ "$start" = "$(sed 's/.*) //' "/proc/$cpid/stat" | cut -d' ' -f20)" ] ||
	fail "$reg: start $start is not the start time of pid $cpid: $(cat "$reg")"
echo "coordinator pid $cpid (start $start) on port $port"

kill -9 "$cpid"
deadline=$((SECONDS + $(scaled 30)))
while proc_alive "$cpid"; do
	((SECONDS < deadline)) || fail "coordinator $cpid still alive $(scaled 30) s after SIGKILL"
	sleep 0.2
done
[ -f "$reg" ] && [ -f "$jobdir/coord.json" ] ||
	fail "the killed coordinator's records are gone already; nothing stale to test"

# nobody takes the port and notes every connection.
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1]))); s.listen(16)
print("listening", flush=True)
end = time.time() + 120
while time.time() < end:
    s.settimeout(end - time.time())
    try:
        c, a = s.accept()
    except OSError:
        break
    print("connection from", a, flush=True)
' "$port" >listener.out 2>&1 &
listener=$!
wait_file_grep listener.out listening 20

for cmd in status checkpoint; do
	rc=0
	timeout 120 "$ckpt" "$cmd" "$job" >"stale-$cmd.out" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "ckpt $cmd $job after the SIGKILL exited $rc: $(cat "stale-$cmd.out")"
	grep -q "is stale: its coordinator (pid $cpid on .*) is gone" "stale-$cmd.out" ||
		fail "ckpt $cmd $job: no stale-record message: $(cat "stale-$cmd.out")"
	echo "ckpt $cmd: $(head -n 1 "stale-$cmd.out")"
done
# The job's node agent lost its link and reads coord.json again: it must
# find it stale, not connect to nobody's port.
nlog=$(ls "$jobdir"/nodes/*/agent.log | head -n 1)
wait_file_grep "$nlog" "coord.json yet (Stale file handle)" 90
# An absence cannot be awaited: watch one full retry period of the node
# agent (UPLINK_RETRY_MAX, 10 s, agent_uplink.c) and a margin.
sleep 15
! grep -q connection listener.out ||
	fail "nobody's listener on port $port was contacted: $(cat listener.out)"
echo "node agent: $(grep -m1 'Stale file handle' "$nlog")"
echo "nobody's listener on port $port: no connection"
echo "PASS"
