#!/bin/bash
# tree_shm_refused.sh - memory shared by two processes of a tree that a
# restart cannot make shared again is refused at checkpoint time, naming
# both pids, their address ranges, the object and what to do
# (docs/process-trees.md, "Memory shared between processes"). Nothing is
# committed, the tree runs on with the region still shared, and once the
# child has unmapped it the next checkpoint succeeds (for SysV, it is then
# refused by the parent's own capture: SysV is not restored at all).
#
#   tree_shm_refused.sh CKPT T_SHM_TREE KIND...
#
# KIND: sysv (shmget + IPC_RMID); memfdfd (a memfd mapped by both whose
# descriptor the parent also holds: the restart hands the mappings one
# memfd, the descriptor would be another object). anon
# (MAP_SHARED|MAP_ANONYMOUS), sem (sem_open + sem_unlink) and memfd were
# refused too before 'ckpt restart' made them shared again (tests tree-shm,
# tree-shm-memfd). CKPT_LIBDIR must name the directory of
# libckpt.so, ckpt-restore and ckpt-agent.
set -u
ckpt=$1 prog=$2
shift 2
. "$(dirname "$0")/tree_lib.sh"
tree_setup tree-shm-refused

declare -A object=(
	[anon]='shared anonymous memory'
	[sem]='the deleted file /dev/shm/sem\.'
	[memfd]='memfd:t_shm_tree'
	[memfdfd]='memfd:t_shm_tree \(memfd_create\) is mapped by .* holds it open as fd [0-9]+'
	[sysv]='System V shared memory segment'
)

wait_line() {
	local deadline=$((SECONDS + 60))
	until grep -q "$1" "$work/out"; do
		kill -0 "$runpid" 2>/dev/null || fail "the run ended before printing '$1'"
		((SECONDS < deadline)) || fail "no line '$1' within 60 s"
		sleep 0.1
	done
}

# One computation directory (and agent) per kind.
tree_cleanup_extra() {
	local d a
	for d in "$work"/ckpt.*; do
		a=$(cat "$d/agent.lock" 2>/dev/null)
		[ -n "$a" ] && kill "$a" 2>/dev/null
	done
}

for kind in "$@"; do
	export CKPT_DIR=$work/ckpt.$kind
	gate=$work/gate.$kind
	tree_run_until_ready "$ckpt" "$prog" refused "$kind" "$gate"
	read -r _ ppid cpid < <(grep -m1 '^ready' "$work/out")
	tree_checkpoint_refused
	range='[0-9a-f]+-[0-9a-f]+'
	grep -qE "${object[$kind]}" "$work/ckpt.out" ||
		fail "$kind: the refusal does not name the object (${object[$kind]})"
	for p in "$ppid" "$cpid"; do
		grep -qE "pid [0-9]+ \(pid $p in its tree\) at $range" "$work/ckpt.out" ||
			fail "$kind: the refusal does not name pid $p and its address range"
	done
	grep -qi "checkpoint refused" "$work/ckpt.out" &&
		grep -qE "unmap it|close the descriptor" "$work/ckpt.out" ||
		fail "$kind: the refusal does not say what to do"
	tree_refused_after

	# The tree runs on unharmed: the region is still shared.
	: >"$gate"
	wait_line '^unmapped'
	wait_line '^still shared'
	# A SysV segment is not restored even in one process: the parent's
	# own mapping still refuses the checkpoint, now by its own capture.
	expect=1
	[ "$kind" = sysv ] && expect=0
	for attempt in $(seq 10); do
		"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1 && break
		if [ "$kind" = sysv ] && grep -q "System V shared memory is not restored" "$work/ckpt.out"; then
			break
		fi
		grep -qE "registered during the checkpoint|would be missing from" "$work/ckpt.out" ||
			fail "$kind: the checkpoint after the child unmapped the region failed: $(cat "$work/ckpt.out")"
		sleep 0.5
	done
	if [ "$kind" = sysv ]; then
		grep -q "System V shared memory is not restored" "$work/ckpt.out" ||
			fail "sysv: the parent's own segment did not refuse the checkpoint: $(cat "$work/ckpt.out")"
	fi
	committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
	[ "$committed" -eq "$expect" ] ||
		fail "$kind: $committed generations committed after the child unmapped, not $expect"
	: >"$gate.end"
	wait "$runpid"
	rc=$?
	runpid=
	[ "$rc" -eq 0 ] || fail "$kind: the run ended with status $rc"
	! grep -q '^FAIL' "$work/out" || fail "$kind: the program reported a failure"
	grep -q '^end' "$work/out" || fail "$kind: the program did not reach its end"
	echo "ok $kind: refused, named, nothing committed; ran on; once unmapped: $expect generation(s)"
done
