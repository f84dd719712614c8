# env.sh - source this to point Slurm's client commands at the test cluster.
#   source contrib/testcluster/env.sh
# Settings (all optional, read by up/down/status too):
#   TESTCLUSTER_DIR        all state, logs and configs  (/var/tmp/slurm-ckpt-testcluster)
#   TESTCLUSTER_CTLD_PORT  slurmctld port               (16817; a system Slurm uses 6817)
#   TESTCLUSTER_SLURMD_PORT first slurmd port, cn2 +1   (16818)
#   TESTCLUSTER_USER       unprivileged job user        (ckptuser)
#   CKPT_SPANK_PLUGIN      plugin loaded by plugstack.conf (<repo>/build/spank/spank_ckpt.so)
#   TESTCLUSTER_FIRST_JOB_ID first job id (1); other clusters on this host need others
export TESTCLUSTER_DIR="${TESTCLUSTER_DIR:-/var/tmp/slurm-ckpt-testcluster}"
export TESTCLUSTER_CTLD_PORT="${TESTCLUSTER_CTLD_PORT:-16817}"
export TESTCLUSTER_SLURMD_PORT="${TESTCLUSTER_SLURMD_PORT:-16818}"
export TESTCLUSTER_USER="${TESTCLUSTER_USER:-ckptuser}"
export SLURM_CONF="$TESTCLUSTER_DIR/etc/slurm.conf"
