#!/usr/bin/env bash
# A stale coordinator record must not hand a job to another user (issue 12,
# item 2). First, while the coordinator runs, another user relays to it the
# hello of a CLI pointed at that user's port (coord-probe relay; root edits
# the record to simulate it): the coordinator must refuse the relayed hello,
# which names the relay's address (E_AUTH). Then the job's coordinator is killed (SIGKILL: coord.json and
# ~/.slurm-ckpt/jobs/JOBID.json stay behind; they are made to name another
# machine, as readers elsewhere see them) and another user listens on the
# port they name (coord-probe fake), answering every hello with register_ok,
# its own munge credential bound to the client's nonce, and a "prepare".
#  - `ckpt status JOBID` as the owner refuses it: exit 1, "could not prove
#    it runs as <owner>";
#  - the node agents refuse it too (agent.log of each node says so), and
#    never send it anything after its register_ok (no registration of their
#    processes, no answer to the "prepare").
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
other=ckptother
id "$other" >/dev/null 2>&1 || useradd -m -s /bin/bash "$other"
make_workdir cluster-impostor
fake_pid=
relay_pid=
reg=
cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
	[ -f "$workdir/reg.bak" ] && cat "$workdir/reg.bak" >"$reg"
	cluster_cleanup
}
trap cleanup EXIT

steps=1200 # 120 s at 100 ms a step
submit_job4 "$counter $steps 100"
coord_record "$job"

# The relay, as another user; the owner's CLI pointed at it.
runuser -u "$other" -- "$probe" "$host" "$port" "$job" relay 15 >relay.txt 2>&1 &
relay_pid=$!
wait_helper_line relay.txt '^relaying on port' "$relay_pid" 30 "the relay"
rport=$(sed -n 's/^relaying on port //p' relay.txt)
cp "$reg" "$workdir/reg.bak"
jq --argjson q "$rport" '.port = $q' "$workdir/reg.bak" >"$workdir/reg.relay"
cat "$workdir/reg.relay" >"$reg"
rc=0
as_user "$ckpt" status "$job" >relay-status.out 2>relay-status.err || rc=$?
cat "$workdir/reg.bak" >"$reg"
rm -f "$workdir/reg.bak"
[ "$rc" -ne 0 ] || fail "ckpt status $job through the relay succeeded: $(cat relay-status.out)"
rc=0
wait "$relay_pid" || rc=$?
relay_pid=
cat relay.txt
! grep -q ACCEPTED relay.txt || fail "the coordinator accepted a relayed hello: $(grep ACCEPTED relay.txt)"
grep -q 'refused, code 3 ' relay.txt || fail "the relayed hello was not refused with E_AUTH: $(cat relay.txt)"
[ "$rc" -eq 0 ] || fail "relay: $(tail -n 1 relay.txt)"

# Every process of this test cluster runs on one machine, where a reader
# sees the dead pid and ignores the records as stale (slurm-cluster-stale-
# record tests that). Readers on other machines cannot: the records are
# made to name another machine, so that the proof is what must refuse.
for rec in "$reg" "$jobdir/coord.json"; do
	jq '.node = "elsewhere.invalid"' "$rec" >"$workdir/rec.tmp" || fail "cannot rewrite $rec"
	cat "$workdir/rec.tmp" >"$rec"
done
kill -KILL "$cpid"
wait_dead "$cpid" 20 "the coordinator killed by SIGKILL"
[ -f "$reg" ] && [ -f "$jobdir/coord.json" ] || fail "the records did not survive SIGKILL"
echo "coordinator pid $cpid killed; $reg and coord.json still name $host:$port"

# The impostor, as another user, on the freed port.
runuser -u "$other" -- "$probe" "$host" "$port" "$job" fake 45 >fake.txt 2>&1 &
fake_pid=$!
wait_helper_line fake.txt '^listening' "$fake_pid" 30 "the impostor on port $port"
echo "impostor: $(head -n 1 fake.txt)"

# The CLI, as the job's owner.
rc=0
as_user "$ckpt" status "$job" >status.out 2>status.err || rc=$?
[ "$rc" -ne 0 ] || fail "ckpt status $job accepted the impostor: $(cat status.out)"
grep -q "could not prove it runs as $TESTCLUSTER_USER" status.err ||
	fail "ckpt status $job (exit $rc) did not say why: $(cat status.err)"
echo "ckpt status refused: $(head -n 1 status.err)"

# The node agents, reconnecting on their own (1, 2, 4 ... 10 s apart).
for node in $(find "$jobdir/nodes" -mindepth 1 -maxdepth 1 -printf '%f\n'); do
	wait_file_grep "$jobdir/nodes/$node/agent.log" "could not prove it runs as $TESTCLUSTER_USER" 40 ||
		fail "the node agent of $node did not refuse the impostor: $(tail -n 5 "$jobdir/nodes/$node/agent.log")"
	echo "node agent of $node refused: $(grep -m1 'could not prove' "$jobdir/nodes/$node/agent.log" | cut -c1-200)"
done

rc=0
wait "$fake_pid" || rc=$?
fake_pid=
cat fake.txt
! grep -q OBEYED fake.txt || fail "a client obeyed the impostor: $(grep OBEYED fake.txt)"
grep -q '(role agent): closed after register_ok' fake.txt || fail "no node agent reached the impostor"
grep -q '(role client): closed after register_ok' fake.txt || fail "the CLI did not reach the impostor"
[ "$rc" -eq 0 ] || fail "impostor: $(tail -n 1 fake.txt)"
scancel "$job"
wait_job_ended "$job" 60
echo "ok: job $job: the CLI and the node agents refused an impostor of uid $(id -u "$other") on $host:$port"
