#!/usr/bin/env bash
# srun --mpi=pmi2 -N2 -n4: four MPICH ranks over cn1 and cn2 agree on an
# MPI_Allreduce. Argument: the allreduce_hello binary.
set -euo pipefail
. "$(dirname "$0")/../slurm/lib.sh"
require_cluster
make_workdir mpi
prog=$1

out=$(as_user timeout 120 srun --mpi=pmi2 -N2 -n4 "$prog" 2>&1) ||
	fail "srun --mpi=pmi2 -N2 -n4 failed: $out"
echo "$out"
[ "$(echo "$out" | grep -c '^rank .* of 4 on cn[12] sum 10$')" = 4 ] ||
	fail "expected 4 ranks of 4 agreeing on sum 10"
[ "$(echo "$out" | sed -n 's/.* on \(cn[12]\) .*/\1/p' | sort -u | tr '\n' ' ')" = "cn1 cn2 " ] ||
	fail "ranks not spread over cn1 and cn2"
echo "ok: 4 ranks on cn1+cn2 agree"
