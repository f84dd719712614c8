# shellcheck shell=bash
# cluster_lib.sh - helpers for the tests of cluster mode (cluster_*.sh):
# jobs whose tasks on several nodes are checkpointed as one by the job's
# coordinator, driven with `ckpt ... JOBID`. Sourced after lib.sh.
#
# Every cluster test takes the same arguments, in this order:
#   CKPT     the ckpt CLI (nodeagent/ckpt)
#   COUNTER  tests/standalone/cli/counter
#   MEMHOG   tests/slurm/memhog
#   PROBE    tests/slurm/coord-probe
# Jobs get no --time: with a time limit the coordinator would plan its own
# final checkpoint (at 10% of a short limit at the latest) and requeue the
# job under the test's feet. Every wait has its own deadline instead.

command -v jq >/dev/null || fail "jq is needed (apt-get install jq)"

# cluster_args "$@": checks and names the test's programs.
cluster_args() {
	[ $# -eq 4 ] || fail "usage: $0 CKPT COUNTER MEMHOG PROBE"
	ckpt=$1 counter=$2 memhog=$3 probe=$4
	local f
	for f in "$ckpt" "$counter" "$memhog" "$probe"; do
		[ -x "$f" ] || fail "$f is not an executable"
	done
	job=
}

# cluster_cleanup: cancels the test's job if it is still there; meant for
# `trap cluster_cleanup EXIT` (tests add their own steps around it).
cluster_cleanup() {
	[ -n "${job:-}" ] || return 0
	case "$(job_state "$job")" in
	PENDING | RUNNING | REQUEUED | CONFIGURING | COMPLETING | SUSPENDED | REQUEUE_HOLD | REQUEUE_FED)
		scancel "$job" 2>/dev/null || true
		;;
	esac
}

# job_status JOB: the coordinator's status_reply (ckpt status JOB --json, as
# the job user); empty when there is none (no coordinator, error), the
# reason then in $workdir/status.err.
job_status() {
	as_user "$ckpt" status "$1" --json 2>"$workdir/status.err" || true
}

# job_ended JOB: the job is in a final state (or unknown to slurmctld).
job_ended() {
	local st
	st=$(job_state "$1")
	[ -z "$st" ] || [ "$st" = COMPLETED ] || job_state_failed "$st"
}

# wait_status JOB FILTER TIMEOUT WHAT: waits until the job's status_reply
# satisfies the jq FILTER; leaves it in $status_json. Fails, saying WHAT was
# awaited and showing the last status, on timeout or if the job ends.
wait_status() {
	local job=$1 filter=$2 timeout=$3 what=$4 deadline=$((SECONDS + $3))
	status_json=
	while ((SECONDS < deadline)); do
		status_json=$(job_status "$job")
		if [ -n "$status_json" ] && jq -e "$filter" >/dev/null 2>&1 <<<"$status_json"; then
			return 0
		fi
		job_ended "$job" && fail "job $job ended ($(job_state "$job")) while waiting for $what;" \
			"last status: ${status_json:-none} $(tail -n 3 "$workdir/status.err")"
		sleep 0.3
	done
	fail "no $what after ${timeout}s; ckpt status $job --json gave: ${status_json:-nothing}" \
		"(stderr: $(tail -n 3 "$workdir/status.err"))"
}

# status_has FILTER WHAT: the status in $status_json satisfies FILTER.
status_has() {
	jq -e "$1" >/dev/null <<<"$status_json" ||
		fail "ckpt status: expected $2; got $(jq -c . <<<"$status_json")"
}

# status_pid RANK: the pid of the process of step 0, rank RANK in $status_json.
status_pid() {
	jq -r --argjson r "$1" '.processes[] | select(.step == 0 and .rank == $r) | .pid' \
		<<<"$status_json"
}

# status_node RANK: the node of the process of step 0, rank RANK in $status_json.
status_node() {
	jq -r --argjson r "$1" '.processes[] | select(.step == 0 and .rank == $r) | .node' \
		<<<"$status_json"
}

# wait_running JOB NPROC TIMEOUT: the job runs and its coordinator lists
# NPROC processes, every one "running".
wait_running() {
	local deadline=$((SECONDS + $3))
	until [ "$(job_state "$1")" = RUNNING ]; do
		job_ended "$1" && fail "job $1 ended $(job_state "$1") before running its tasks" \
			"(reason $(job_field "$1" Reason)): $(tail -n 5 job.txt 2>/dev/null)"
		((SECONDS < deadline)) || fail "job $1 not RUNNING after $3 s ($(job_state "$1"))"
		sleep 0.5
	done
	wait_status "$1" "(.processes | length) == $2 and all(.processes[]; .state == \"running\")" \
		"$3" "$2 running processes"
}

# checkpoint_ok JOB GEN [ARGS...]: `ckpt checkpoint JOB ARGS` as the job
# user succeeds and prints the directory of generation GEN of the job.
checkpoint_ok() {
	local job=$1 gen=$2 out rc=0
	shift 2
	out=$(as_user "$ckpt" checkpoint "$job" "$@" 2>ckpt-err.txt) || rc=$?
	[ "$rc" -eq 0 ] ||
		fail "ckpt checkpoint $job $* exited $rc: $(cat ckpt-err.txt)"
	[ -d "$out" ] && [ "$(realpath "$out")" = "$(realpath "$jobdir/gen-$gen")" ] ||
		fail "ckpt checkpoint $job $* printed '$out', expected $jobdir/gen-$gen"
	echo "checkpoint of job $job: $out"
}

# committed_gens DIR: the numbers of the generation directories in DIR
# (gen-N, not gen-N.tmp), one line, ascending, space-separated.
committed_gens() {
	find "$1" -maxdepth 1 -type d -regex '.*/gen-[0-9]+' -printf '%f\n' 2>/dev/null |
		sed 's/^gen-//' | sort -n | tr '\n' ' ' | sed 's/ $//'
}

# listed_gens DIR: the same from `ckpt list DIR --json` (committed only).
listed_gens() {
	as_user "$ckpt" list "$1" --json | jq -r '[.[] | select(.error == null) | .gen] | sort | map(tostring) | join(" ")'
}

# expect_gens DIR "N M ...": exactly these generations are committed, on
# disk and for `ckpt list`, each with 4 images.
expect_gens() {
	local dir=$1 want=$2 got listed
	got=$(committed_gens "$dir")
	[ "$got" = "$want" ] || fail "generations on disk in $dir: '$got', expected '$want'"
	listed=$(listed_gens "$dir")
	[ "$listed" = "$want" ] || fail "ckpt list $dir: generations '$listed', expected '$want'"
}

# expect_no_tmp DIR: no gen-*.tmp is left in DIR (waits 15 s for a removal
# in progress).
expect_no_tmp() {
	local dir=$1 deadline=$((SECONDS + 15)) left
	while :; do
		left=$(find "$dir" -maxdepth 1 -name 'gen-*.tmp' -printf '%f ' 2>/dev/null)
		[ -z "$left" ] && return 0
		((SECONDS < deadline)) || fail "left behind in $dir: $left"
		sleep 0.5
	done
}

# verify_gen GENDIR NTASKS: GENDIR holds MANIFEST.json and exactly the
# images 0.0.img .. 0.(NTASKS-1).img, each passing `ckpt inspect --verify`,
# and its manifest lists them all.
verify_gen() {
	local gen=$1 n=$2 want got r
	[ -f "$gen/MANIFEST.json" ] || fail "$gen has no MANIFEST.json"
	want=$(for ((r = 0; r < n; r++)); do echo "0.$r.img"; done | sort | tr '\n' ' ')
	got=$(find "$gen" -maxdepth 1 -name '*.img' -printf '%f\n' | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "images in $gen: '$got', expected '$want'"
	for ((r = 0; r < n; r++)); do
		grep -q "\"0\\.$r\\.img\"" "$gen/MANIFEST.json" ||
			fail "$gen/MANIFEST.json does not list 0.$r.img: $(head -c 600 "$gen/MANIFEST.json")"
		as_user "$ckpt" inspect --verify "$gen/0.$r.img" >verify.txt 2>&1 ||
			fail "ckpt inspect --verify $gen/0.$r.img failed: $(tail -n 5 verify.txt)"
	done
}

# expect_list_images DIR: every generation `ckpt list DIR --json` shows has 4 images.
expect_list_images() {
	local bad
	bad=$(as_user "$ckpt" list "$1" --json | jq -c '[.[] | select(.images != 4)]')
	[ "$bad" = "[]" ] || fail "ckpt list $1: generations without 4 images: $bad"
}

# counter_lines FILE: the lines of FILE the counter printed (its step and
# final lines), without what Slurm and slurm-ckpt added.
counter_lines() {
	grep -E '^([0-9]+|done [0-9]+) [0-9a-f]{16}$' "$1" || true
}

# expect_counter_output FILE REF: the counter's lines in FILE are REF's.
expect_counter_output() {
	counter_lines "$1" >"$1.app"
	diff -q "$2" "$1.app" >/dev/null ||
		fail "$1 differs from an uninterrupted run: $(diff "$2" "$1.app" | head -n 8)"
}

# wait_lines FILE PATTERN COUNT TIMEOUT: waits until FILE has COUNT lines
# matching PATTERN.
wait_lines() {
	local file=$1 pattern=$2 count=$3 deadline=$((SECONDS + $4)) n=0
	while ((SECONDS < deadline)); do
		n=$(grep -c -- "$pattern" "$file" 2>/dev/null || true)
		[ "${n:-0}" -ge "$count" ] && return 0
		sleep 0.5
	done
	fail "$file has $n lines matching '$pattern' after $4s, expected $count"
}

# wait_restarted JOB N TIMEOUT: the job runs again after its N-th requeue;
# fails if it ends instead, or is not running again in time.
wait_restarted() {
	local job=$1 n=$2 deadline=$((SECONDS + $3))
	while [ "$(job_field "$job" Restarts)" != "$n" ] || [ "$(job_state "$job")" != RUNNING ]; do
		((SECONDS < deadline)) || fail "job $job not running again after requeue $n" \
			"(state $(job_state "$job"), restarts $(job_field "$job" Restarts))"
		job_ended "$job" && fail "job $job ended $(job_state "$job") instead of being requeued"
		sleep 0.5
	done
}

# wait_job_ended JOB TIMEOUT: the job reaches a final state (any) in time.
wait_job_ended() {
	local job=$1 deadline=$((SECONDS + $2))
	while ! job_ended "$job"; do
		((SECONDS < deadline)) ||
			fail "job $job still $(job_state "$job") $2 s later: it hangs"
		sleep 0.5
	done
	echo "job $job ended $(job_state "$job") (exit $(job_field "$job" ExitCode))"
}

# proc_env PID VAR: VAR from the environment of process PID (as it started).
proc_env() {
	tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | sed -n "s/^$2=//p" | head -n 1
}

# step_nodes JOB STEP: "RANK NODE" lines of the step's tasks, from the
# slurmd of each node (scontrol listpids), sorted by rank.
step_nodes() {
	local node
	for node in cn1 cn2; do
		scontrol listpids "$1.$2" "$node" 2>/dev/null |
			awk -v n="$node" 'NR > 1 && $5 ~ /^[0-9]+$/ { print $5, n }'
	done | sort -n | uniq
}

# registry_file JOB: the coordinator's record in the job owner's home.
registry_file() {
	echo "$(getent passwd "$TESTCLUSTER_USER" | cut -d: -f6)/.slurm-ckpt/jobs/$1.json"
}

# proc_alive PID: PID is a live process (a zombie is dead: on this test host
# pid 1 does not reap orphans, so a killed daemon may stay a zombie).
proc_alive() {
	local st
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
