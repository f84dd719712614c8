#!/usr/bin/env bash
# The lower-half shim on 4 ranks over cn1+cn2: on every rank, every mapping
# made since the shadow library loaded the lower half is in the LH area list
# or explained (before MPI_Init, after MPI_Init and traffic, after calls
# into the LH's libc, after MPI_Finalize), the LH threads listed are the
# threads started since, every fd opened since (PMI's is Slurm's, open
# before) is in the LH's fd list, and prepare_image accepts the LH
# namespace. Arguments: mpi_lh_regions SHADOW_DIR.
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
. "$(dirname "$0")/shadow_lib.sh"
require_cluster
make_workdir mpi-lh-regions
prog=$(stage_prog "$1")
shadow_dir=$2

run_ranks shadow.out "$prog" LD_LIBRARY_PATH="$shadow_dir" LH_VERBOSE=1 ||
	fail "run under the shadow library failed: $(run_output shadow.out | grep -v ': LH ' | tail -n 30)"
grep -v ': LH ' shadow.out
# A check's "rank R PHASE: BAD ..." line only: the verbose listing names
# files such as /dev/shm/mpich_shar_tmpAbIBAD (a failure seen in a CI run).
! grep -E '^rank [0-9]+ [a-z]+: BAD ' shadow.out || fail "unexplained mappings or threads (above)"
[ "$(grep -c '^rank [0-3]: all checks ok$' shadow.out)" = 4 ] || fail "not every rank passed"
[ "$(grep -c '^rank [0-3] init: ok .*shm stack threads 1$' shadow.out)" = 4 ] ||
	fail "after MPI_Init: expected shm segments, a thread stack and one LH thread on every rank"
[ "$(grep -c '^rank [0-3] [a-z]*: fds ok: ' shadow.out)" = 16 ] ||
	fail "not every rank checked its fds in every phase"
[ "$(grep -c '^rank [0-3] [a-z]*: prepare_image ok$' shadow.out)" = 8 ] ||
	fail "prepare_image did not accept the lower half on every rank after MPI_Init and MPI_Finalize"
echo "ok: on 4 ranks the lower-half areas and threads account for every new mapping and thread"
