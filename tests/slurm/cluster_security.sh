#!/usr/bin/env bash
# Only the job's owner and root may drive its checkpoints.
#  - Another user's `ckpt status JOBID` and `ckpt checkpoint JOBID` are
#    refused (exit 1, "belongs to") and no generation appears.
#  - The coordinator's record ~owner/.slurm-ckpt/jobs/JOBID.json is the
#    owner's, mode 0600, and goes away with the coordinator.
#  - Its TCP port authenticates with munge (coord-probe): a forged
#    credential and one made for another purpose are refused (E_AUTH), a
#    replayed one too (E_REPLAY), another user's valid one (E_PERM); the
#    owner's is accepted and gets a status_reply.
# Arguments: see cluster_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_args "$@"
require_cluster
other=ckptother
id "$other" >/dev/null 2>&1 || useradd -m -s /bin/bash "$other"
make_workdir cluster-security
trap cluster_cleanup EXIT

as_other() {
	runuser -u "$other" -- env SLURM_CONF="$SLURM_CONF" "$@"
}

steps=600 # 60 s at 100 ms a step
submit_job4 "$counter $steps 100"

# Another user, from a directory of its own.
cd /tmp
for cmd in status checkpoint; do
	rc=0
	as_other "$ckpt" "$cmd" "$job" >"$workdir/other-$cmd.out" 2>"$workdir/other-$cmd.err" || rc=$?
	[ "$rc" -eq 1 ] || fail "ckpt $cmd $job as $other exited $rc, expected 1:" \
		"$(cat "$workdir/other-$cmd.out" "$workdir/other-$cmd.err")"
	grep -q 'belongs to' "$workdir/other-$cmd.err" ||
		fail "ckpt $cmd $job as $other: no 'belongs to' in: $(cat "$workdir/other-$cmd.err")"
	echo "ckpt $cmd as $other refused: $(head -n 1 "$workdir/other-$cmd.err")"
done
rc=0
as_other "$ckpt" checkpoint "$job" --kill >/dev/null 2>"$workdir/other-kill.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'belongs to' "$workdir/other-kill.err" ||
	fail "ckpt checkpoint $job --kill as $other: exit $rc, $(cat "$workdir/other-kill.err")"
cd "$workdir"
# An absence cannot be awaited: the refusals above are synchronous, so any
# checkpoint they had started would be under way by now; give it 2 s to
# leave a trace before looking.
sleep 2
[ -z "$(committed_gens "$jobdir")" ] ||
	fail "a generation appeared after $other's requests: $(committed_gens "$jobdir")"
[ -z "$(find "$jobdir" -maxdepth 1 -name 'gen-*' 2>/dev/null)" ] ||
	fail "a generation was started after $other's requests: $(ls "$jobdir")"
wait_status "$job" '.checkpoint == null and (.generations | length) == 0 and
	all(.processes[]; .state == "running")' 10 "no checkpoint taken or running"

# The coordinator's record.
coord_record "$job"
[ "$(stat -c '%a %U' "$reg")" = "600 $TESTCLUSTER_USER" ] ||
	fail "$reg is $(stat -c '%a %U' "$reg"), expected mode 600 owned by $TESTCLUSTER_USER"
jq -e --argjson j "$job" --arg d "$jobdir" '.job == $j and .dir == $d and (.port | type) == "number"
	and (.host | type) == "string" and (.pid | type) == "number"' "$reg" >/dev/null ||
	fail "$reg: unexpected content: $(cat "$reg")"
tr '\0' ' ' <"/proc/$cpid/cmdline" | grep -q -- "--job $job" ||
	fail "pid $cpid is not the coordinator of job $job: $(tr '\0' ' ' <"/proc/$cpid/cmdline")"
echo "coordinator of job $job: pid $cpid at $host:$port"

# probe AS MODE: coord-probe as user AS must see the expected answer.
probe() {
	local out rc=0
	out=$(runuser -u "$1" -- "$probe" "$host" "$port" "$job" "$2" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "coord-probe $2 as $1: $out"
	echo "coord-probe $2 as $1: ${out//$'\n'/; }"
}
probe "$TESTCLUSTER_USER" forged
probe "$TESTCLUSTER_USER" purpose
probe "$TESTCLUSTER_USER" replay
probe "$TESTCLUSTER_USER" own
probe "$other" forged
probe "$other" other
probe root own
# The coordinator survived all of that and still answers its owner.
wait_status "$job" '(.processes | length) == 4 and .generations == []' 10 "a coordinator still serving"
# ... and the owner (not another user) can still checkpoint.
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4

scancel "$job"
wait_job_ended "$job" 60
expect_agents_gone "$job" "$cpid"
echo "ok: job $job: refused for $other (CLI and munge), E_AUTH/E_REPLAY/E_PERM as expected, record removed"
