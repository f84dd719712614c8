#!/usr/bin/env bash
# mpi_conformance on 4 ranks over cn1+cn2, natively and under the shadow
# library: every check passes and the outputs are identical, byte for byte.
# Arguments: mpi_conformance SHADOW_DIR.
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
. "$(dirname "$0")/shadow_lib.sh"
require_cluster
make_workdir mpi-conformance
prog=$(stage_prog "$1")
shadow_dir=$2

run_ranks native.out "$prog" || fail "native run failed: $(run_output native.out | tail -n 20)"
grep -q '^result: all checks ok$' native.out || fail "native run: $(grep BAD native.out)"
run_ranks shadow.out "$prog" LD_LIBRARY_PATH="$shadow_dir" ||
	fail "run under the shadow library failed: $(run_output shadow.out | tail -n 20)"
run_output shadow.out
grep -q '^result: all checks ok$' shadow.out || fail "under the shadow library: $(grep BAD shadow.out)"
diff native.out shadow.out || fail "results differ between native MPICH and the shadow library"
echo "ok: $(grep -c '^rank' shadow.out) results identical to native MPICH"
