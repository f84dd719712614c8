# shellcheck shell=bash
# production_lib.sh - helpers for the tests of the production-like
# configuration of the test cluster (TESTCLUSTER_CONFIG=production:
# slurmdbd + MariaDB, QOS preemption, cgroups where the kernel allows).
# Sourced after lib.sh.

# require_production [cgroup]: the running test cluster has the production
# configuration (with proctrack/cgroup if "cgroup" is given); otherwise the
# test is skipped (exit 77) with the reason. contrib/run-tests runs these
# tests in a second pass against that configuration.
require_production() {
	tc_running_config ||
		fail "test cluster has no $TESTCLUSTER_DIR/etc/testcluster.env; run contrib/testcluster/up"
	if [ "$TESTCLUSTER_RUNNING_CONFIG" != production ]; then
		echo "SKIP: the test cluster runs the $TESTCLUSTER_RUNNING_CONFIG configuration;" \
			"this test needs TESTCLUSTER_CONFIG=production contrib/testcluster/up"
		exit 77
	fi
	if [ "${1:-}" = cgroup ] && [ "$TESTCLUSTER_PROCTRACK" != proctrack/cgroup ]; then
		echo "SKIP: the production configuration runs $TESTCLUSTER_PROCTRACK here:" \
			"$TESTCLUSTER_CGROUP_NOTE"
		exit 77
	fi
	echo "cluster configuration: production, $TESTCLUSTER_PROCTRACK + $TESTCLUSTER_TASK" \
		"($TESTCLUSTER_CGROUP_NOTE)"
}

# sacct_runs JOB: one line "START|END|STATE|QOS" per start of the job that
# the accounting database holds (sacct --duplicates: a requeued job keeps
# one record per start), oldest first.
sacct_runs() {
	sacct --duplicates -X -n -P -j "$1" -o start,end,state,qos 2>/dev/null |
		sort
}

# wait_sacct_runs JOB N TIMEOUT: waits until the database holds N records
# of JOB, the last one ended COMPLETED (slurmctld sends records to slurmdbd
# asynchronously); leaves them in $sacct_lines.
wait_sacct_runs() {
	local job=$1 want=$2 timeout deadline n
	timeout=$(scaled "$3")
	deadline=$((SECONDS + timeout))
	while :; do
		sacct_lines=$(sacct_runs "$job")
		n=$(grep -c . <<<"$sacct_lines" || true)
		if [ "$n" -eq "$want" ] && tail -n 1 <<<"$sacct_lines" | grep -q '|COMPLETED|'; then
			return 0
		fi
		((SECONDS < deadline)) ||
			fail "sacct --duplicates -j $job: $n records after ${timeout}s, expected $want ending COMPLETED: ${sacct_lines:-none}"
		sleep 1
	done
}

# job_agents JOB: pids of the ckpt-agent processes started for JOB.
job_agents() {
	pgrep -af ckpt-agent | grep -E -- "--job $1( |\$)" | cut -d' ' -f1 || true
}
