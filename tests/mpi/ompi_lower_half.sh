#!/usr/bin/env bash
# Open MPI as a lower half through Slurm (tests/mpi/ompi_lower_half.c):
# 4 ranks with srun --mpi=pmix over cn1 and cn2 initialise, agree on an
# Allreduce and finalise in a dlmopen namespace, and the namespace holds the
# same objects before MPI_Init, after it and after MPI_Finalize.
# Arguments: PROG ROOT REAL_LIBMPI PRELOAD_DIR...
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
[ $# -ge 4 ] || fail "usage: $0 PROG ROOT REAL_LIBMPI PRELOAD_DIR..."
require_cluster
make_workdir ompi-lower-half
unset LD_LIBRARY_PATH

# Both test nodes are one host: Open MPI's shared-memory segments
# (/dev/shm/vader_segment.HOST.UID.JOB.LOCALRANK) of cn1's and cn2's local
# ranks would have the same names; each node's ranks get their own backing
# directory (the test cluster's per-node TESTCLUSTER_DIR/tmp/NODE).
# shellcheck disable=SC2016
run='export OMPI_MCA_btl_vader_backing_directory=$0/$SLURMD_NODENAME; exec "$@"'
out=$(as_user timeout 240 srun --mpi=pmix -N2 -n4 bash -c "$run" "$TESTCLUSTER_DIR/tmp" "$@" 2>&1) ||
	fail "srun --mpi=pmix -N2 -n4 of the lower-half program failed: $out"
echo "$out"
lines=$(grep -E '^rank [0-3] of 4 on cn[12] sum 10 objects ' <<<"$out" || true)
[ "$(wc -l <<<"$lines")" = 4 ] && [ -n "$lines" ] ||
	fail "expected 4 ranks of 4 agreeing on sum 10: $out"
[ "$(sed -n 's/.* on \(cn[12]\) .*/\1/p' <<<"$lines" | sort -u | tr '\n' ' ')" = "cn1 cn2 " ] ||
	fail "ranks not spread over cn1 and cn2: $lines"
while read -r _ r _ _ _ _ _ _ _ before init fini _ preloaded; do
	[ "$before" = "$init" ] && [ "$init" = "$fini" ] ||
		fail "rank $r: the namespace changed: $before objects before MPI_Init, $init after," \
			"$fini after MPI_Finalize (a component was loaded or unloaded)"
	[ "$preloaded" -gt 100 ] || fail "rank $r preloaded only $preloaded objects"
done <<<"$lines"
echo "ok: Open MPI ran as a lower half on 4 ranks; namespace unchanged ($(head -n 1 <<<"$lines"))"
