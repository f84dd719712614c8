#!/usr/bin/env bash
# The site's allow_partitions=high, a job in partition low: its srun step
# forges SLURM_JOB_PARTITION=high in its environment (an LD_PRELOAD shim on
# srun is enough). The plugin must take the partition from slurmctld: the
# task runs without checkpoints (no libckpt, no agent) and the step says
# that partition low does not allow checkpointing.
# Arguments: the forge_partition.so shim.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
shim=$(realpath "$1")
make_workdir dir-partition
chmod o+rx "$(dirname "$shim")" # the job user loads it

conf=$TESTCLUSTER_DIR/etc/plugstack.conf
cp "$conf" "$workdir/plugstack.conf.orig"
restore() {
	cp "$workdir/plugstack.conf.orig" "$conf"
	[ -z "${job:-}" ] || scancel "$job" 2>/dev/null || true
}
trap restore EXIT
grep -q '^required .*spank_ckpt.so' "$conf" || fail "$conf loads no spank_ckpt.so: $(cat "$conf")"
sed -i 's/^\(required .*spank_ckpt.so.*\)$/\1 allow_partitions=high/' "$conf"
echo "plugstack.conf: $(cat "$conf")"

job=$(as_user sbatch --parsable -p low --checkpoint=auto --checkpoint-dir="$workdir/ckpt" -o out.txt \
	--wrap "FORGE_PARTITION=high LD_PRELOAD=$shim srun -n1 sh -c 'echo task partition=\$SLURM_JOB_PARTITION agent=\${CKPT_AGENT_SOCKET:-none}'")
wait_job_done "$job" 90
echo "job $job output:"
sed 's/^/  | /' out.txt
grep -q '^task partition=high ' out.txt || fail "the shim did not forge the step's SLURM_JOB_PARTITION: the test proves nothing"
grep -q '^task partition=high agent=none$' out.txt || fail "the step with a forged partition runs under checkpointing"
[ "$(grep -c "partition 'low' does not allow checkpointing" out.txt)" = 2 ] ||
	fail "expected the batch script and the step each to say partition low does not allow checkpointing"
echo "ok: job $job in partition low, its step claiming high, runs without checkpoints"
