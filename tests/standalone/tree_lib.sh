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
