#!/usr/bin/env bash
# The lower half put back from its snapshot, standalone (an MPICH
# singleton, no cluster): mpi_lh_restore in MODE (finalize: after
# MPI_Finalize in the same process; fork: in a forked child while the
# parent's MPI runs). Arguments: mpi_lh_restore SHADOW_DIR MODE.
set -euo pipefail
prog=$1
shadow_dir=$2
mode=$3
T=$(mktemp -d /tmp/ckpt-lh-restore.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
unset LD_PRELOAD LD_LIBRARY_PATH PMI_FD PMI_RANK PMI_SIZE

rc=0
LD_LIBRARY_PATH=$shadow_dir timeout 120 "$prog" "$mode" >"$T/out" 2>"$T/err" || rc=$?
cat "$T/out"
[ "$rc" = 0 ] || fail "$mode run failed (status $rc): $(tail -n 20 "$T/err")"
! grep -q '^BAD' "$T/out" || fail "checks failed (above)"
grep -q '^all checks ok$' "$T/out" || fail "no final ok line"
case $mode in
finalize)
	for what in 'second MPI_Init fails' 'late object is refused' 'prepare_image after' \
		'refuses to map over a mapped LH' 'reused by the upper half is refused' \
		'damaged snapshot is refused' \
		'finalize: restored' 'finalize: MPI_Init_thread' 'fake LH thread was unlinked' \
		'user stack and a fork work' 'accepts the LH after the restore' \
		'second round: MPI_Init_thread, Comm_size' 'LH TLS of two application threads'; do
		grep -q "^ok: .*$what" "$T/out" || fail "no ok line for: $what"
	done
	;;
fork)
	for what in 'prepare_image with UCX' 'fork child: restored' 'fork child: MPI_Init_thread' \
		'user stack and a fork work'; do
		grep -q "^ok: .*$what" "$T/out" || fail "no ok line for: $what"
	done
	;;
esac
echo "ok: lower half restored and MPI initialised again ($mode)"
