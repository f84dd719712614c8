# env.sh - source this to point Slurm's client commands at the test cluster.
#   source contrib/testcluster/env.sh
# Settings (all optional, read by up/down/status too):
#   TESTCLUSTER_DIR        all state, logs and configs  (/var/tmp/slurm-ckpt-testcluster)
#   TESTCLUSTER_CTLD_PORT  slurmctld port               (16817; a system Slurm uses 6817)
#   TESTCLUSTER_SLURMD_PORT first slurmd port, cn2 +1   (16818)
#   TESTCLUSTER_USER       unprivileged job user        (ckptuser)
#   CKPT_SPANK_PLUGIN      plugin loaded by plugstack.conf (<repo>/build/spank/spank_ckpt.so)
#   TESTCLUSTER_FIRST_JOB_ID first job id (1); other clusters on this host need others
#   TESTCLUSTER_CONFIG     default | production     (unset: the one the running
#                          cluster has, so that a test restarting a daemon
#                          keeps it; default when none runs)
#       default: no database, no cgroups, preemption by partition priority.
#       production: slurmdbd + a private MariaDB, QOSes normal and preempt
#       with preempt/qos, proctrack/cgroup + task/cgroup where the kernel
#       allows (docs/admins.md, "A production-like test cluster").
#   TESTCLUSTER_CGROUP     auto | no: cgroup plugins in the production
#                          configuration when the kernel allows (unset: the
#                          running cluster's choice, else auto)
#   TESTCLUSTER_DBD_PORT   slurmdbd port                (16820)
#   TESTCLUSTER_MYSQL_PORT MariaDB port on 127.0.0.1    (16821)
export TESTCLUSTER_DIR="${TESTCLUSTER_DIR:-/var/tmp/slurm-ckpt-testcluster}"
export TESTCLUSTER_CTLD_PORT="${TESTCLUSTER_CTLD_PORT:-16817}"
export TESTCLUSTER_SLURMD_PORT="${TESTCLUSTER_SLURMD_PORT:-16818}"
export TESTCLUSTER_USER="${TESTCLUSTER_USER:-ckptuser}"
export TESTCLUSTER_DBD_PORT="${TESTCLUSTER_DBD_PORT:-16820}"
export TESTCLUSTER_MYSQL_PORT="${TESTCLUSTER_MYSQL_PORT:-16821}"
export SLURM_CONF="$TESTCLUSTER_DIR/etc/slurm.conf"
