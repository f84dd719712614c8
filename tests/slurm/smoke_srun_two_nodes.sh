#!/usr/bin/env bash
# srun -N2 -n2 places one task on each of cn1 and cn2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir srun

out=$(as_user timeout 60 srun -N2 -n2 -l printenv SLURMD_NODENAME) ||
	fail "srun -N2 -n2 failed: $out"
nodes=$(echo "$out" | awk '{print $2}' | sort | tr '\n' ' ')
[ "$nodes" = "cn1 cn2 " ] || fail "expected tasks on cn1 and cn2, got: $out"
echo "ok: tasks on $nodes"
