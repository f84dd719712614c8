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

# job_record JOB: `scontrol show job JOB`; nothing for a job slurmctld no
# longer knows. A query that fails otherwise (slurmctld restarting or too
# busy to answer, munged away) is asked again for a minute (at the default
# time factor), then the test fails saying so: under `set -e` a failed query
# used to end the test with no message at all.
job_record() {
	local out deadline
	deadline=$((SECONDS + $(scaled 20)))
	until out=$(scontrol show job "$1" 2>&1); do
		[[ "$out" == *"Invalid job id"* ]] && return 0
		((SECONDS < deadline)) || fail "scontrol show job $1 kept failing for $(scaled 20) s: $out"
		sleep 1
	done
	printf '%s\n' "$out"
}

job_state() {
	job_record "$1" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}

job_field() {
	job_record "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
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

# job_gens DIR: the committed generations of a job's checkpoint directory
# DIR as `ckpt list --json` gives them ($ckpt), one per line, oldest first.
job_gens() {
	as_user "$ckpt" list "$1" --json 2>/dev/null |
		python3 -c 'import json,sys; [print(g["gen"]) for g in json.load(sys.stdin)]' 2>/dev/null || true
}

# wait_job_gens JOB DIR N TIMEOUT: waits, while JOB runs, until DIR holds N
# committed generations; fails if the job stops running first.
wait_job_gens() {
	local job=$1 dir=$2 want=$3 timeout deadline st
	timeout=$(scaled "$4")
	deadline=$((SECONDS + timeout))
	while [ "$(job_gens "$dir" | wc -l)" -lt "$want" ]; do
		st=$(job_state "$job")
		[ "$st" = RUNNING ] || fail "job $job is $st before it had $want generations: $(job_gens "$dir" | tr '\n' ' ')"
		((SECONDS < deadline)) || fail "job $job: fewer than $want committed generations after $timeout s: $(job_gens "$dir" | tr '\n' ' '); agent.log: $(tail -n 5 "$dir/agent.log" 2>/dev/null)"
		sleep 0.5
	done
	echo "$(date +%T) generations $(job_gens "$dir" | tr '\n' ' ')"
}

# requeue_held_quiet JOB DIR: requeues JOB held and waits until it is
# pending and no process of the user names the job or DIR: only then is the
# newest generation in DIR final (a checkpoint taken on the way out would be
# newer).
requeue_held_quiet() {
	local job=$1 dir=$2 timeout deadline
	scontrol requeuehold "$job"
	wait_job_state "$job" PENDING 60
	timeout=$(scaled 60)
	deadline=$((SECONDS + timeout))
	while pgrep -u "$TESTCLUSTER_USER" -f -- "$dir|--job $job( |\$)" >/dev/null; do
		((SECONDS < deadline)) || fail "processes of job $job still run $timeout s after its requeue: $(pgrep -u "$TESTCLUSTER_USER" -af -- "$dir|--job $job( |\$)")"
		sleep 0.5
	done
}

# wait_tasks_preempted N: the output of each of a job's N tasks
# (task-T.txt) reports the checkpoint taken at its preemption.
wait_tasks_preempted() {
	local t
	for ((t = 0; t < $1; t++)); do
		wait_file_grep "task-$t.txt" '^slurm-ckpt: checkpoint gen-[0-9]*, .*(preempt); stopping until restart' 120
	done
}

# expect_preempt_resumed JOB N: JOB committed a generation at preemption
# with N images ($ckpt list of $workdir/ckpt/JOB), and each of its N tasks
# reports resuming and printed exactly what ref.txt holds (an
# uninterrupted run's lines).
expect_preempt_resumed() {
	local job=$1 n=$2 t gens
	gens=$("$ckpt" list "$workdir/ckpt/$job" --json)
	python3 - "$gens" "$n" <<'PY' || fail "no committed generation with trigger preempt and $n images: $gens"
import json, sys
gens, n = json.loads(sys.argv[1]), int(sys.argv[2])
sys.exit(0 if any(g.get("trigger") == "preempt" and g.get("images") == n for g in gens) else 1)
PY
	for ((t = 0; t < n; t++)); do
		grep -q "^slurm-ckpt: step 0 task $t resumes from gen-" "task-$t.txt" ||
			fail "task $t did not report resuming: $(tail -n 3 "task-$t.txt")"
		grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' "task-$t.txt" >"app-$t.txt" || true
		diff -q ref.txt "app-$t.txt" >/dev/null ||
			fail "task $t output differs from an uninterrupted run: $(diff ref.txt "app-$t.txt" | head -n 5)"
	done
}

# expect_resumed_run START_LINES RESUME_LINE: out.txt's first START_LINES
# lines are the first start's and second.txt is the restart's, with the
# resume line at RESUME_LINE. The first start printed counter steps 1..K
# and the restored generation was taken at some step J <= K; the restored
# process goes on from J+1. Steps 1..J of the first start and everything
# after the resume must be exactly ref.txt (an uninterrupted run), and the
# first start's steps a prefix of it. Sets first_resumed (J+1) and
# first_steps (K).
expect_resumed_run() {
	head -n "$1" out.txt | grep -E '^[0-9]+ [0-9a-f]{16}$' >first-app.txt || true
	tail -n +"$(($2 + 1))" second.txt | grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' >second-app.txt || true
	[ -s first-app.txt ] && [ -s second-app.txt ] || fail "no counter output before or after the restart"
	first_steps=$(wc -l <first-app.txt)
	first_resumed=$(head -n 1 second-app.txt | cut -d' ' -f1)
	[ "$first_resumed" -ge 2 ] ||
		fail "the restored counter started again at step $first_resumed: it was restarted, not restored"
	[ "$first_resumed" -le $((first_steps + 1)) ] ||
		fail "the restored counter goes on at step $first_resumed but the first start had only printed $first_steps steps: steps were lost"
	{
		head -n "$((first_resumed - 1))" first-app.txt
		cat second-app.txt
	} >app.txt
	diff -q ref.txt app.txt >/dev/null ||
		fail "output differs from an uninterrupted run: $(diff ref.txt app.txt | head -n 10)"
	diff -q <(head -n "$first_steps" ref.txt) first-app.txt >/dev/null ||
		fail "the first start's output is not a prefix of an uninterrupted run: $(diff <(head -n "$first_steps" ref.txt) first-app.txt | head -n 5)"
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
