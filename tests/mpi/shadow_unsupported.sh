#!/usr/bin/env bash
# A program calling a function the shadow library does not support
# (MPI_Win_create) stops with a message naming it instead of running on.
# Natively the same program succeeds. Arguments: mpi_unsupported SHADOW_DIR.
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
. "$(dirname "$0")/shadow_lib.sh"
require_cluster
make_workdir mpi-unsupported
prog=$(stage_prog "$1")
shadow_dir=$2
msg='slurm-ckpt: MPI function MPI_Win_create is not supported yet under checkpointing'

run_ranks native.out "$prog" || fail "native run failed: $(run_output native.out)"
[ "$(grep -c '^win ok$' native.out)" = 4 ] || fail "native: expected 4 'win ok'"
if run_ranks shadow.out "$prog" LD_LIBRARY_PATH="$shadow_dir"; then
	fail "the job succeeded under the shadow library: $(run_output shadow.out)"
fi
run_output shadow.out
grep -qF "$msg" shadow.out.err || fail "no line '$msg'"
! grep -q '^win ok$' shadow.out || fail "a rank ran past the unsupported call"
echo "ok: the job stopped naming MPI_Win_create"
