#!/usr/bin/env bash
# mpi_replay on 4 ranks over cn1+cn2 under the shadow library: every object
# the program made is made again by shadow_replay_all in the running job,
# behind the same handles, with the same fingerprint on every rank.
# Arguments: mpi_replay SHADOW_DIR.
set -euo pipefail
. "$(dirname "$0")/../../slurm/lib.sh"
. "$(dirname "$0")/../shadow_lib.sh"
require_cluster
make_workdir mpi-replay
prog=$(stage_prog "$1")
shadow_dir=$2

run_ranks replay.out "$prog" LD_LIBRARY_PATH="$shadow_dir" ||
	fail "mpi_replay under the shadow library failed: $(run_output replay.out | tail -n 30)"
run_output replay.out
! grep -qE '^rank [0-9]+ BAD: ' replay.out || fail "mpi_replay: $(grep -E '^rank [0-9]+ BAD: ' replay.out)"
n=$(grep -c '^rank [0-3]: ok ' replay.out || true)
[ "$n" = 4 ] || fail "expected 4 ranks to report ok, $n did: $(run_output replay.out | tail -n 30)"
echo "ok: 4 ranks replayed every object with identical fingerprints"
