#!/bin/bash
# t_redirect.bash - a child of the script sends its own output to a file
# ('exec >FILE 2>ERR', as batch scripts do) and keeps writing there across
# every checkpoint, while the script prints its steps on the launcher's
# output (test tree-bash-redirect, tree_cycles.sh). A standard descriptor a
# tree member made its own must come back as that file, at its offset, not
# as the restart's output: before, the child's lines went to the
# launcher's output after a restart and the file missed them. At the end
# the file must hold every line, in order; anything unexpected prints a
# line starting with FAIL.
#
#   bash t_redirect.bash [STEPS]
set -u
steps=${1:-40}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_redirect.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
bad=0
fail() { echo "FAIL: $*"; bad=1; }

# The child writes line k once the script reached step k (a file per
# step), so it is alive and writing at every checkpoint.
(
	exec >"$tmp/log" 2>"$tmp/err"
	for ((k = 1; k <= steps; k++)); do
		while [ ! -e "$tmp/go.$k" ]; do sleep 0.01; done
		echo "child $k"
	done
) &
child=$!
for ((i = 1; i <= steps; i++)); do
	: >"$tmp/go.$i"
	while [ "$(wc -l <"$tmp/log")" -lt "$i" ]; do sleep 0.01; done
	if [ "$i" -eq "$steps" ] && [ -n "${CKPT_TEST_END_GATE:-}" ]; then
		while [ ! -e "$CKPT_TEST_END_GATE" ]; do sleep 0.05; done
	fi
	echo "step $i"
	sleep 0.03
done
wait "$child" || fail "the child ended with status $?"
[ "$(cat "$tmp/log")" = "$(seq 1 "$steps" | sed 's/^/child /')" ] ||
	fail "the child's file holds: $(tr '\n' ' ' <"$tmp/log")"
echo "end bad=$bad"
exit "$bad"
