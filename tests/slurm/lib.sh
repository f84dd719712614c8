# lib.sh - helpers for tests that run against the test cluster. Sourced.
# Every wait polls a condition with a deadline and fails with a message that
# says what was expected and what was seen.
#
# The limits tests give the waits below are multiplied by
# CKPT_TEST_TIME_FACTOR (default 3): CI and developers share 2 cores with
# other work, and slurmctld, slurmd and the agents all compete for them. A
# wait ends as soon as its condition holds, so a generous limit costs
# nothing when all is well.

tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo_dir=$(cd "$tests_dir/.." && pwd)
. "$repo_dir/contrib/testcluster/env.sh"
. "$repo_dir/contrib/testcluster/lib.sh"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# scaled SECONDS: SECONDS times the time factor.
scaled() {
	echo $(($1 * ${CKPT_TEST_TIME_FACTOR:-3}))
}

# Requires the cluster to be up: a test that cannot reach it fails, it is not
# skipped (contrib/run-tests brings the cluster up first).
require_cluster() {
	scontrol ping >/dev/null 2>&1 ||
		fail "test cluster not reachable (SLURM_CONF=$SLURM_CONF); run contrib/testcluster/up"
}

# Makes a fresh work directory owned by the job user and cds into it.
make_workdir() {
	local home
	home=$(getent passwd "$TESTCLUSTER_USER" | cut -d: -f6)
	workdir=$(mktemp -d "$home/test-$1.XXXXXX")
	chown "$TESTCLUSTER_USER:" "$workdir"
	chmod 755 "$workdir"
	cd "$workdir"
}

# as_user CMD...: runs CMD as the unprivileged job user, in the current dir.
as_user() {
	runuser -u "$TESTCLUSTER_USER" -- env SLURM_CONF="$SLURM_CONF" "$@"
}

job_state() {
	scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}

job_field() {
	scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# wait_job_state JOB STATE TIMEOUT: waits until the job is in STATE.
wait_job_state() {
	local job=$1 want=$2 timeout st= deadline
	timeout=$(scaled "$3")
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		st=$(job_state "$job")
		[ "$st" = "$want" ] && return 0
		sleep 0.5
	done
	fail "job $job not $want after ${timeout}s (state: ${st:-unknown}; reason: $(job_field "$job" Reason))"
}

# wait_file_grep FILE PATTERN TIMEOUT: waits until FILE has a line matching PATTERN.
wait_file_grep() {
	local file=$1 pattern=$2 timeout deadline
	timeout=$(scaled "$3")
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		grep -q -- "$pattern" "$file" 2>/dev/null && return 0
		sleep 0.5
	done
	fail "no line matching '$pattern' in $file after ${timeout}s; it holds: $(tail -n 5 "$file" 2>/dev/null)"
}

# job_state_failed STATE: STATE is one a job ends in without completing.
job_state_failed() {
	case "$1" in
	FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) return 0 ;;
	*) return 1 ;;
	esac
}

# wait_job_done JOB TIMEOUT: waits until the job completed successfully.
wait_job_done() {
	local job=$1 timeout st= deadline
	timeout=$(scaled "$2")
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		st=$(job_state "$job")
		[ "$st" = COMPLETED ] && return 0
		job_state_failed "$st" && fail "job $job ended $st (exit $(job_field "$job" ExitCode))"
		sleep 0.5
	done
	fail "job $job not COMPLETED after ${timeout}s (state: ${st:-unknown})"
}

# follow_job JOB TIMEOUT: prints every change of the job's state, restart
# count and comment until it is COMPLETED; fails if it ends any other way or
# times out. Leaves the distinct comments seen, in order, in job_comments.
follow_job() {
	local job=$1 timeout st c line last= deadline
	timeout=$(scaled "$2")
	deadline=$((SECONDS + timeout))
	job_comments=()
	while :; do
		st=$(job_state "$job")
		c=$(job_field "$job" Comment)
		line="state ${st:-unknown} restarts $(job_field "$job" Restarts) comment ${c:-none}"
		if [ "$line" != "$last" ]; then
			echo "$(date +%T) job $job: $line"
			last=$line
		fi
		if [ -n "$c" ] && [ "$c" != "(null)" ] &&
			{ [ ${#job_comments[@]} -eq 0 ] || [ "${job_comments[-1]}" != "$c" ]; }; then
			job_comments+=("$c")
		fi
		[ "$st" = COMPLETED ] && return 0
		job_state_failed "$st" && fail "job $job ended $st after $(job_field "$job" Restarts) restarts"
		((SECONDS < deadline)) || fail "job $job not COMPLETED after ${timeout}s (state ${st:-unknown})"
		sleep 1
	done
}

# comments_decrease: the comments in job_comments (Slurm times) strictly decrease.
comments_decrease() {
	python3 - "${job_comments[@]}" <<'PY'
import sys
def secs(t):
    days, _, hms = t.rpartition("-")
    parts = [int(x) for x in hms.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
values = [secs(t) for t in sys.argv[1:]]
sys.exit(0 if all(a > b for a, b in zip(values, values[1:])) else 1)
PY
}
