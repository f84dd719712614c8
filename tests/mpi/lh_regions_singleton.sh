#!/usr/bin/env bash
# The lower-half shim, standalone (an MPICH singleton, no cluster): every
# mapping made since the shadow library loaded the lower half is in the LH
# area list or explained, before MPI_Init, after it and some traffic, after
# calls into the LH's own libc and after MPI_Finalize; the LH threads listed
# are the threads started since; every fd opened since is in the LH's fd
# list; prepare_image accepts the LH namespace after MPI_Init; the LH
# snapshot saw no thread and no fd; and the library check refuses once
# MPICH's file is replaced.
# Arguments: mpi_lh_regions SHADOW_DIR REAL_LIB.
set -euo pipefail
prog=$1
shadow_dir=$2
real=$3
T=$(mktemp -d /tmp/ckpt-lh-regions.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
unset LD_PRELOAD LD_LIBRARY_PATH PMI_FD PMI_RANK PMI_SIZE

LD_LIBRARY_PATH=$shadow_dir LH_VERBOSE=1 timeout 60 "$prog" >"$T/out" 2>"$T/err" ||
	fail "singleton run failed: $(cat "$T/out" "$T/err" | grep -v ': LH ' | tail -n 30)"
grep -v ': LH ' "$T/out"
grep -q '^rank 0: all checks ok$' "$T/out" || fail "checks failed"
for phase in load init probe final; do
	grep -q "^rank 0 $phase: ok " "$T/out" || fail "no ok line for phase $phase"
done
grep -q '^rank 0 init: ok .*shm stack threads 1$' "$T/out" ||
	fail "after MPI_Init: expected shm segments, a thread stack and one LH thread"
# Every fd opened since the LH was loaded is the LH's (UCX opens some in
# MPI_Init), and MPI_Init loaded no object the snapshot lacks.
for phase in load init probe final; do
	grep -q "^rank 0 $phase: fds ok: " "$T/out" || fail "no fd check line for phase $phase"
done
grep -q '^rank 0 init: fds ok: [1-9][0-9]* new' "$T/out" || fail "after MPI_Init: expected LH fds"
for phase in probe final; do
	grep -q "^rank 0 $phase: prepare_image ok$" "$T/out" || fail "prepare_image failed ($phase)"
done

# A restart must refuse when an LH library changed: run on a copy of MPICH
# and rename another ELF file over it at the end.
cp "$real" "$T/libmpich.so.12"
cp "$shadow_dir/libckpt-lhshim.so" "$T/other.so"
LD_LIBRARY_PATH=$shadow_dir CKPT_MPI_REAL_LIB=$T/libmpich.so.12 LH_TAMPER_WITH=$T/other.so \
	timeout 60 "$prog" >"$T/tamper.out" 2>&1 || fail "tamper run failed: $(tail -n 20 "$T/tamper.out")"
grep '^rank 0 tamper: refused: ' "$T/tamper.out" ||
	fail "the changed library was not refused: $(grep -e BAD -e tamper "$T/tamper.out")"
echo "ok: lower-half areas and threads account for every new mapping and thread"
