#!/usr/bin/env bash
# An sbatch job runs as the unprivileged job user and writes its output.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir sbatch

token=$RANDOM$RANDOM
job=$(as_user sbatch --parsable -N1 -o out.txt --wrap "echo token=$token user=\$(id -un) node=\$SLURMD_NODENAME")
wait_job_done "$job" 60
wait_file_grep out.txt "token=$token" 10
grep -q "user=$TESTCLUSTER_USER" out.txt || fail "job did not run as $TESTCLUSTER_USER: $(cat out.txt)"
grep -Eq "node=cn[12]" out.txt || fail "job did not report a test node: $(cat out.txt)"
[ "$(stat -c %U out.txt)" = "$TESTCLUSTER_USER" ] || fail "out.txt not owned by $TESTCLUSTER_USER"
echo "ok: job $job ran as $TESTCLUSTER_USER"
