#!/usr/bin/env bash
# Under the shadow library each rank maps both the shadow libmpich.so.12 and
# MPICH's real one, the real one in another link-map namespace (dlopen with
# RTLD_NOLOAD does not find it in the program's); natively only the real one,
# in the program's namespace. Arguments: mpi_layout SHADOW_DIR REAL_LIB.
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
. "$(dirname "$0")/shadow_lib.sh"
require_cluster
make_workdir mpi-layout
prog=$(stage_prog "$1")
shadow_dir=$2
real=$(readlink -f "$3")
envs=(CKPT_SHADOW_DIR="$shadow_dir" CKPT_REAL_MPICH="$real")

run_ranks native.out "$prog" "${envs[@]}" || fail "native run failed: $(run_output native.out)"
cat native.out
[ "$(grep -c '^rank [0-3]: shadow 0 real 1 base 1 sum 6$' native.out)" = 4 ] ||
	fail "native: expected only the real MPICH, in the program's namespace"

run_ranks shadow.out "$prog" "${envs[@]}" LD_LIBRARY_PATH="$shadow_dir" ||
	fail "run under the shadow library failed: $(run_output shadow.out)"
run_output shadow.out
[ "$(grep -c '^rank [0-3]: shadow 1 real 1 base 0 sum 6$' shadow.out)" = 4 ] ||
	fail "shadow: expected the shadow library mapped and the real MPICH in another namespace"
echo "ok: 4 ranks run the real MPICH in a separate namespace behind the shadow library"
