#!/bin/bash
# t_fds.bash - a bash script keeping its own descriptors open across
# checkpoints, for checkpoint -> kill -> restart cycles of its tree (test
# tree-bash-fds, tree_cycles.sh): 'exec 3>FILE' written at every step,
# 'exec 4<FILE' read a line per step, and a descriptor bash numbers itself
# ('exec {log}>>FILE', 10 and up). Children run at every step without them
# (3>&- 4<&-) so that only the shell holds each description. These numbers
# are the ones libckpt took for its agent socket at 3 before it moved its
# descriptors above 99: bash's dup2() closed the socket, and libckpt's close
# of its number closed bash's file ("3: Bad file descriptor" at the first
# write). The files are checked line by line at the end; anything
# unexpected prints a line starting with FAIL.
#
#   bash t_fds.bash [STEPS]
set -u
steps=${1:-40}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_fds.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
seq 1000 1000 $((steps * 1000)) >"$tmp/in"

bad=0
fail() { echo "FAIL step $i: $*"; bad=1; }
exec 3>"$tmp/out" 4<"$tmp/in"
exec {log}>>"$tmp/log"
for ((i = 1; i <= steps; i++)); do
	echo "out $i" >&3 || fail "write to fd 3"
	read -r v <&4 || fail "read from fd 4"
	[ "$v" = $((i * 1000)) ] || fail "fd 4 gave $v"
	echo "log $i $v" >&$log || fail "write to fd $log"
	# A child without the shell's descriptors, and its output.
	n=$(seq 1 "$i" 3>&- 4<&- | wc -l)
	[ "$n" -eq "$i" ] || fail "child printed $n lines"
	if [ "$i" -eq "$steps" ] && [ -n "${CKPT_TEST_END_GATE:-}" ]; then
		while [ ! -e "$CKPT_TEST_END_GATE" ]; do sleep 0.05; done
	fi
	echo "step $i read=$v"
	sleep 0.05
done
exec 3>&- 4<&- {log}>&-
[ "$(cat "$tmp/out")" = "$(seq 1 "$steps" | sed 's/^/out /')" ] || {
	i=end
	fail "fd 3's file holds $(wc -l <"$tmp/out") lines, not out 1..$steps in order"
}
[ "$(wc -l <"$tmp/log")" -eq "$steps" ] || {
	i=end
	fail "the log holds $(wc -l <"$tmp/log") lines"
}
echo "end bad=$bad"
exit "$bad"
