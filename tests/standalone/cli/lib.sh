# lib.sh - helpers of the standalone CLI tests; sourced by every *.sh here.
#
# Each test gets a private directory, a short agent idle time and the inert
# libckpt.so; every wait polls a condition with a timeout (no fixed sleeps);
# everything started is killed and removed at exit.
#
# The limits tests give wait_for and wait_exit are what an idle machine
# needs; they are multiplied by CKPT_TEST_TIME_FACTOR (default 5), since CI
# and developers share 2 cores with other work. A wait ends as soon as its
# condition holds, so a generous limit costs nothing when all is well.

set -u
T=$(mktemp -d /tmp/ckpt-test.XXXXXX)
export CKPT_DIR=$T/ckpt
export CKPT_LIBDIR=$STUB_LIBDIR
export CKPT_AGENT_IDLE_EXIT=${CKPT_AGENT_IDLE_EXIT:-3}
unset LD_PRELOAD CKPT_KEEP CKPT_PHASE_TIMEOUT CKPT_AGENT_SOCKET
AGENT=$(dirname "$CKPT")/ckpt-agent
TIME_FACTOR=${CKPT_TEST_TIME_FACTOR:-5}
PASS=0
FAIL=0
BG=()

cleanup() {
	local p f
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done
	# Agents of this test's directories (their lock files hold the pid).
	for f in $(find "$T" -name agent.lock 2>/dev/null); do
		p=$(cat "$f" 2>/dev/null)
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok $PASS - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# check DESC CMD...: CMD must succeed.
check() {
	local d=$1; shift
	if "$@" >"$T/check.out" 2>&1; then ok "$d"; else fail "$d: $(head -c 600 "$T/check.out")"; fi
}

# expect STATUS TEXT DESC CMD...: CMD exits STATUS and its output holds TEXT.
expect() {
	local st=$1 text=$2 d=$3 rc; shift 3
	"$@" >"$T/expect.out" 2>&1
	rc=$?
	if [ "$rc" != "$st" ]; then
		fail "$d: exit $rc, wanted $st: $(head -c 600 "$T/expect.out")"
	elif [ -n "$text" ] && ! grep -qF -- "$text" "$T/expect.out"; then
		fail "$d: output lacks '$text': $(head -c 600 "$T/expect.out")"
	else
		ok "$d"
	fi
}

# wait_for SECONDS DESC CMD...: polls CMD until it succeeds, for at most
# SECONDS times TIME_FACTOR.
wait_for() {
	local limit=$(($1 * TIME_FACTOR)) d=$2 end; shift 2
	end=$(($(date +%s%N) / 1000000 + limit * 1000))
	while ! "$@" >/dev/null 2>&1; do
		if [ $(($(date +%s%N) / 1000000)) -ge "$end" ]; then
			fail "$d (not within $limit s)"
			return 1
		fi
		sleep 0.05
	done
	ok "$d"
}

# wait_exit SECONDS PID: waits for a background job (at most SECONDS times
# TIME_FACTOR); its status in $WAIT_RC, "timeout" when it did not end.
wait_exit() {
	local limit=$(($1 * TIME_FACTOR)) pid=$2 end
	end=$(($(date +%s%N) / 1000000 + limit * 1000))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $(($(date +%s%N) / 1000000)) -ge "$end" ]; then
			WAIT_RC=timeout
			return 1
		fi
		sleep 0.05
	done
	wait "$pid"
	WAIT_RC=$?
}

# Number of processes the agent of $1 has registered.
nprocs() {
	"$CKPT" status --dir "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["processes"]))'
}
has_nprocs() { [ "$(nprocs "$1")" = "$2" ]; }
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
no_agent_files() { [ ! -e "$1/agent.sock" ] && [ ! -e "$1/agent.lock" ] && [ ! -e "$1/agent.addr" ]; }
grep_q() { grep -qF -- "$1" "$2"; }

finish() {
	local f
	# In sanitizer builds the agents report to their logs, not to us.
	for f in $(find "$T" -name agent.log 2>/dev/null); do
		if grep -q "Sanitizer\|runtime error:" "$f"; then
			fail "sanitizer report in $f: $(grep -m3 "Sanitizer\|runtime error:" "$f")"
		fi
	done
	echo "# $PASS passed, $FAIL failed"
	[ "$FAIL" = 0 ]
}
