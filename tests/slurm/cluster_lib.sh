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
# job under the test's feet. Every wait has its own deadline instead, given
# in seconds and multiplied by CKPT_TEST_TIME_FACTOR (scaled, lib.sh).

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
	local job=$1 filter=$2 timeout what=$4 deadline
	timeout=$(scaled "$3")
	deadline=$((SECONDS + timeout))
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
	local timeout deadline
	timeout=$(scaled "$3")
	deadline=$((SECONDS + timeout))
	until [ "$(job_state "$1")" = RUNNING ]; do
		job_ended "$1" && fail "job $1 ended $(job_state "$1") before running its tasks" \
			"(reason $(job_field "$1" Reason)): $(tail -n 5 job.txt 2>/dev/null)"
		((SECONDS < deadline)) || fail "job $1 not RUNNING after $timeout s ($(job_state "$1"))"
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

# expect_no_tmp DIR: no gen-*.tmp is left in DIR (waits 15 s, scaled, for a
# removal in progress).
expect_no_tmp() {
	local dir=$1 deadline left
	deadline=$((SECONDS + $(scaled 15)))
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
	local file=$1 pattern=$2 count=$3 timeout deadline n=0
	timeout=$(scaled "$4")
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		n=$(grep -c -- "$pattern" "$file" 2>/dev/null || true)
		[ "${n:-0}" -ge "$count" ] && return 0
		sleep 0.5
	done
	fail "$file has $n lines matching '$pattern' after ${timeout}s, expected $count"
}

# wait_restarted JOB N TIMEOUT: the job runs again after its N-th requeue;
# fails if it ends instead, or is not running again in time.
wait_restarted() {
	local job=$1 n=$2 deadline
	deadline=$((SECONDS + $(scaled "$3")))
	while [ "$(job_field "$job" Restarts)" != "$n" ] || [ "$(job_state "$job")" != RUNNING ]; do
		((SECONDS < deadline)) || fail "job $job not running again after requeue $n" \
			"(state $(job_state "$job"), restarts $(job_field "$job" Restarts))"
		job_ended "$job" && fail "job $job ended $(job_state "$job") instead of being requeued"
		sleep 0.5
	done
}

# wait_job_ended JOB TIMEOUT: the job reaches a final state (any) in time.
wait_job_ended() {
	local job=$1 timeout deadline
	timeout=$(scaled "$2")
	deadline=$((SECONDS + timeout))
	while ! job_ended "$job"; do
		((SECONDS < deadline)) ||
			fail "job $job still $(job_state "$job") $timeout s later: it hangs"
		sleep 0.5
	done
	echo "job $job ended $(job_state "$job") (exit $(job_field "$job" ExitCode))"
}

# wait_until TIMEOUT WHAT CMD...: polls CMD (every 0.2 s) until it succeeds;
# fails saying WHAT was not seen after TIMEOUT seconds (scaled).
wait_until() {
	local timeout deadline what=$2
	timeout=$(scaled "$1")
	deadline=$((SECONDS + timeout))
	shift 2
	until "$@"; do
		((SECONDS < deadline)) || fail "$what: not seen after ${timeout}s"
		sleep 0.2
	done
}

# wait_dead PID TIMEOUT WHAT: waits until process PID (named WHAT) is gone.
wait_dead() {
	local timeout deadline
	timeout=$(scaled "$2")
	deadline=$((SECONDS + timeout))
	while proc_alive "$1"; do
		((SECONDS < deadline)) || fail "$3 (pid $1) still alive ${timeout}s later"
		sleep 0.2
	done
}

# wait_helper_line FILE PATTERN PID TIMEOUT WHAT: a helper started in the
# background as PID prints a line matching PATTERN into FILE; fails if the
# helper ends first or nothing comes in time.
wait_helper_line() {
	local file=$1 pattern=$2 pid=$3 timeout deadline
	timeout=$(scaled "$4")
	deadline=$((SECONDS + timeout))
	until grep -q -- "$pattern" "$file" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || fail "$5 ended before saying '$pattern': $(cat "$file")"
		((SECONDS < deadline)) || fail "$5 did not say '$pattern' within ${timeout}s: $(cat "$file")"
		sleep 0.2
	done
}

# submit_job4 "CMD ARGS" [SRUN_OPTION...]: submits the usual job of the
# cluster tests (2 nodes, 2 tasks each, `srun -N2 -n4 CMD ARGS`, each task's
# output in out-RANK.txt, checkpoints in $workdir/ckpt), sets job and jobdir
# and waits until its 4 processes are registered and running.
submit_job4() {
	local cmd=$1
	shift
	job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto \
		--checkpoint-dir="$workdir/ckpt" -o job.txt \
		--wrap "srun $* -N2 -n4 -o out-%t.txt $cmd")
	jobdir=$workdir/ckpt/$job
	echo "job $job submitted"
	wait_running "$job" 4 180
}

# wait_each_task PATTERN COUNT TIMEOUT: every task's out-RANK.txt of the
# 4-task job has COUNT lines matching PATTERN.
wait_each_task() {
	local r
	for r in 0 1 2 3; do
		wait_lines "out-$r.txt" "$1" "$2" "$3"
	done
}

# coord_record JOB: reads the coordinator's record (registry_file) into reg,
# host, port and cpid; the coordinator must be running.
coord_record() {
	reg=$(registry_file "$1")
	[ -f "$reg" ] || fail "no coordinator record $reg"
	host=$(jq -r .host "$reg")
	port=$(jq -r .port "$reg")
	cpid=$(jq -r .pid "$reg")
	proc_alive "$cpid" || fail "coordinator pid $cpid of $reg is not running"
}

# stop_task_on NODE: stops (SIGSTOP) the lowest rank of the job on NODE, which
# then holds a checkpoint in PREPARE; leaves its rank and pid in stopped_rank
# and stopped (the test's cleanup sends SIGCONT to $stopped).
stop_task_on() {
	wait_status "$job" 'all(.processes[]; .state == "running")' 30 "processes running"
	stopped_rank=$(jq -r --arg n "$1" '[.processes[] | select(.node == $n) | .rank] | min' \
		<<<"$status_json")
	stopped=$(status_pid "$stopped_rank")
	[ -n "$stopped" ] && kill -0 "$stopped" || fail "no live task on $1: $status_json"
	kill -STOP "$stopped"
}

# ckpt_background NAME: `ckpt checkpoint $job` as the job user in the
# background, output in NAME-out.txt and NAME-err.txt, its pid in ckpt_pid.
ckpt_background() {
	as_user "$ckpt" checkpoint "$job" >"$1-out.txt" 2>"$1-err.txt" &
	ckpt_pid=$!
	ckpt_name=$1
}

# wait_phase PHASE TIMEOUT: the checkpoint started by ckpt_background is in
# PHASE (polled every 0.1 s: a phase may last only seconds); its status in
# status_json. Fails if the checkpoint ends first.
wait_phase() {
	local timeout deadline
	timeout=$(scaled "$2")
	deadline=$((SECONDS + timeout))
	while :; do
		status_json=$(job_status "$job")
		[ "$(jq -r '.checkpoint.phase // empty' <<<"$status_json" 2>/dev/null)" = "$1" ] && return 0
		kill -0 "$ckpt_pid" 2>/dev/null || fail "the checkpoint ended before its $1 phase was seen:" \
			"$(cat "$ckpt_name-out.txt" "$ckpt_name-err.txt")"
		((SECONDS < deadline)) || fail "no $1 phase within ${timeout}s; status: $status_json"
		sleep 0.1
	done
}

# ckpt_background_rc TIMEOUT WHY: waits for the checkpoint started by
# ckpt_background to end; its exit status in ckpt_rc. WHY says what should
# have ended it, for the failure message.
ckpt_background_rc() {
	local timeout deadline
	timeout=$(scaled "$1")
	deadline=$((SECONDS + timeout))
	while kill -0 "$ckpt_pid" 2>/dev/null; do
		((SECONDS < deadline)) || fail "ckpt checkpoint still waiting ${timeout}s after $2"
		sleep 0.5
	done
	ckpt_rc=0
	wait "$ckpt_pid" || ckpt_rc=$?
}

# expect_agents_gone JOB [PID]: the job's coordinator and node agents leave
# with it: no registry record, no coord.json, no ckpt-agent naming the job's
# directory, and PID (the coordinator, if given) gone, within 40 s (scaled).
expect_agents_gone() {
	local job=$1 pid=${2:-} reg timeout deadline
	reg=$(registry_file "$job")
	timeout=$(scaled 40)
	deadline=$((SECONDS + timeout))
	while [ -e "$reg" ] || [ -e "$jobdir/coord.json" ] ||
		pgrep -f -- "ckpt-agent.*$jobdir" >/dev/null || { [ -n "$pid" ] && proc_alive "$pid"; }; do
		((SECONDS < deadline)) || fail "${timeout}s after job $job ended:" \
			"registry $reg $([ -e "$reg" ] && echo present || echo gone)," \
			"coord.json $([ -e "$jobdir/coord.json" ] && echo present || echo gone)," \
			"agents: $(pgrep -af -- "ckpt-agent.*$jobdir" || echo none)" \
			"${pid:+coordinator pid $pid $(proc_alive "$pid" && echo alive || echo gone)}"
		sleep 1
	done
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
