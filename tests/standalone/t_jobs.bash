#!/bin/bash
# t_jobs.bash - a bash script using what shell scripts of batch jobs use,
# for checkpoint -> kill -> restart cycles of its whole tree (test
# tree-bash-jobs, tree_cycles.sh; docs/process-trees.md): at every step a
# pipeline, a command substitution, a subshell with its exit status,
# background jobs waited for by pid and all at once with their exit
# statuses, and a 'while read' loop over a file. Every value is computed
# from the step number alone, so the output is the same whatever the
# timing; anything unexpected prints a line starting with FAIL.
#
#   bash t_jobs.bash [STEPS]
set -u
steps=${1:-40}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t_jobs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
seq 1 50 >"$tmp/list"

fail() { echo "FAIL step $i: $*"; bad=1; }
bad=0
for ((i = 1; i <= steps; i++)); do
	# A pipeline inside a command substitution: sum of 1..10i.
	sum=$(seq 1 $((i * 10)) | sort -rn | awk '{ s += $1 } END { print s }')
	[ "$sum" -eq $((i * 10 * (i * 10 + 1) / 2)) ] || fail "pipeline sum $sum"
	# A subshell, its exit status.
	(
		x=$((i * 3))
		exit $((x % 7))
	)
	rc=$?
	[ "$rc" -eq $((i * 3 % 7)) ] || fail "subshell status $rc"
	# Background jobs waited for one by one, by pid, in reverse order.
	sleep 0.05 &
	p1=$!
	(exit $((i % 5))) &
	p2=$!
	{ sleep 0.02; exit 9; } &
	p3=$!
	wait "$p3"
	r3=$?
	wait "$p2"
	r2=$?
	wait "$p1"
	r1=$?
	[ "$r1.$r2.$r3" = "0.$((i % 5)).9" ] || fail "wait by pid: $r1.$r2.$r3"
	# Background jobs waited for all at once: 'wait' returns 0 once every
	# job ended, and each left its mark.
	rm -f "$tmp/j1" "$tmp/j2"
	{ sleep 0.03; echo "$i" >"$tmp/j1"; } &
	(echo $((i * 2)) >"$tmp/j2"; exit $((i % 3 + 1))) &
	wait
	rall=$?
	j="$(cat "$tmp/j1" 2>/dev/null).$(cat "$tmp/j2" 2>/dev/null)"
	[ "$rall.$j" = "0.$i.$((i * 2))" ] || fail "wait all: $rall.$j"
	# A 'while read' loop over a file, its variables kept (no subshell).
	n=0 acc=0
	while read -r v; do
		n=$((n + 1))
		acc=$(((acc + v * i) % 1000003))
	done <"$tmp/list"
	[ "$n" -eq 50 ] || fail "read $n lines"
	# The same file through a pipeline into a loop in a subshell.
	lines=$(tr -d ' ' <"$tmp/list" | while read -r v; do echo "$v"; done | wc -l)
	[ "$lines" -eq 50 ] || fail "pipeline loop read $lines lines"
	if [ "$i" -eq "$steps" ] && [ -n "${CKPT_TEST_END_GATE:-}" ]; then
		while [ ! -e "$CKPT_TEST_END_GATE" ]; do sleep 0.05; done
	fi
	echo "step $i sum=$sum sub=$rc jobs=$r1.$r2.$r3 all=$rall.$j read=$acc"
done
echo "end bad=$bad"
exit "$bad"
