# tree_lib.sh - what the process tree tests share (sourced): a work
# directory holding the computation's CKPT_DIR, an environment without
# libckpt, and a cleanup at exit that ends the run, its agent and the
# directory.
#
#   tree_setup NAME [IDLE_EXIT]   sets work and runpid (empty), exports
#                                 CKPT_DIR and CKPT_AGENT_IDLE_EXIT
#
# A test sets runpid to its 'ckpt run' and may define tree_cleanup_extra
# for more to end.
#
#   tree_run_until_ready CKPT PROG [ARGS...]
#                                 starts 'ckpt run PROG ARGS' (output in
#                                 $work/out, runpid set) and waits until it
#                                 printed a line "ready"
#   tree_checkpoint_refused [RETRY]
#                                 a checkpoint (retried while a child is
#                                 still registering, or while its output
#                                 matches the extended regex RETRY) that
#                                 must fail: its output in $work/ckpt.out
#   tree_refused_after            nothing was committed, the tree runs on
#
# fail MESSAGE ends the test with the run's output and the agent's log;
# a test may define its own after sourcing this file.

tree_setup() {
	work=$(mktemp -d "/tmp/ckpt-$1.XXXXXX")
	export CKPT_DIR=$work/ckpt
	export CKPT_AGENT_IDLE_EXIT=${CKPT_AGENT_IDLE_EXIT:-${2:-30}}
	unset LD_PRELOAD CKPT_AGENT_SOCKET
	runpid=
	trap tree_cleanup EXIT
}

tree_cleanup() {
	local p
	[ -n "${runpid:-}" ] && kill -9 "$runpid" 2>/dev/null
	if declare -F tree_cleanup_extra >/dev/null; then
		tree_cleanup_extra
	fi
	p=$(cat "$CKPT_DIR/agent.lock" 2>/dev/null)
	[ -n "$p" ] && kill "$p" 2>/dev/null
	rm -rf "$work"
}

fail() {
	echo "FAIL: $*"
	echo "--- output"; cat "$work/out" 2>/dev/null
	echo "--- agent.log"; tail -n 20 "$CKPT_DIR/agent.log" 2>/dev/null
	exit 1
}

tree_run_until_ready() {
	local ckpt=$1 deadline
	shift
	"$ckpt" run -- "$@" >"$work/out" 2>&1 &
	runpid=$!
	deadline=$((SECONDS + 60))
	until grep -q '^ready' "$work/out"; do
		kill -0 "$runpid" 2>/dev/null || fail "ckpt run ended before the program was ready"
		((SECONDS < deadline)) || fail "the program was not ready within 60 s"
		sleep 0.1
	done
}

tree_checkpoint_refused() {
	local rc attempt retry=${1:-"registered during the checkpoint|would be missing from"}
	# The child may still be registering: that abort is retried.
	for attempt in $(seq 10); do
		"$ckpt" checkpoint --timeout 60 >"$work/ckpt.out" 2>&1
		rc=$?
		grep -qE "$retry" "$work/ckpt.out" || break
		sleep 0.5
	done
	cat "$work/ckpt.out"
	[ "$rc" -ne 0 ] || fail "the checkpoint succeeded (after $attempt attempt(s))"
}

tree_refused_after() {
	local committed
	committed=$(find "$CKPT_DIR" -maxdepth 1 -name 'gen-*' ! -name '*.tmp' | wc -l)
	[ "$committed" -eq 0 ] || fail "$committed generation(s) committed: $(ls "$CKPT_DIR")"
	kill -0 "$runpid" 2>/dev/null || fail "the tree did not run on after the refused checkpoint"
}
