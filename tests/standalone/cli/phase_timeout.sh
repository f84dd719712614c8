#!/bin/bash
# phase_timeout.sh - the phase timeout a site sets (plugstack phase_timeout=,
# passed to the agent as --phase-timeout) bounds the WRITE phase: a write
# slower than it aborts the generation with a message naming the timeout and
# how to change it, leaves no directory and the previous generation intact.
# Without it (and without CKPT_PHASE_TIMEOUT), the agent derives the WRITE
# bound: at least 600 s, so the same slow write commits.
# `ckpt status` and the agent's start line show the bounds really applied:
# the site's for both phases, or the derived WRITE bound (not the 600 s
# floor) of an agent that finds a slow generation on disk.
. "$TEST_LIB"
export CKPT_AGENT_IDLE_EXIT=30
gens() { (cd "$1" && ls -d gen-* 2>/dev/null | sort -V | tr '\n' ' '); }

# start_agent DIR ARGS...: an agent for DIR as the plugin starts it.
start_agent() {
	local d=$1
	shift
	mkdir -p "$d"
	"$AGENT" --dir "$d" "$@" 2>>"$d/agent.log" &
	BG+=($!)
	wait_for 10 "an agent with '$*' listens on $d" "$CKPT" status --dir "$d"
}

D=$T/set
# 5 s: a good phase ends within it, on a loaded machine too.
start_agent "$D" --phase-timeout 5
check "status reports the phase timeout" sh -c \
	"'$CKPT' status --dir '$D' --json | grep -q '\"phase_timeout\": *5'"
check "status reports the site's WRITE bound" sh -c \
	"'$CKPT' status --dir '$D' --json | jq -e '.write_timeout == 5 and .write_timeout_derived == false'"
check "ckpt status prints both bounds" sh -c \
	"'$CKPT' status --dir '$D' | grep -qx 'timeouts: *prepare 5 s, write 5 s (set by the site)'"
check "the start line shows both bounds" \
	grep -q "phase timeouts: prepare 5 s, write 5 s (set by the site)" "$D/agent.log"
# Generation 2's write takes 15 s (3 times the bound: a loaded machine
# cannot make it look fast).
"$CKPT" run --dir "$D" -- "$FAKE_PROC" --slow-write 2 15 \
	>"$T/p.out" 2>&1 &
BG+=($!)
wait_for 30 "the process registers" has_nprocs "$D" 1
expect 0 "$D/gen-1" "a quick write commits" "$CKPT" checkpoint --dir "$D"
expect 1 "timeout: no answer within 5 s in phase write (the phase timeout: plugstack phase_timeout=" \
	"a write slower than --phase-timeout aborts, naming the timeout" "$CKPT" checkpoint --dir "$D"
check "the process was slow in generation 2" grep -q "slow write 2" "$T/p.out"
check "no gen-2 nor gen-2.tmp" test ! -e "$D/gen-2" -a ! -e "$D/gen-2.tmp"
check "gen-1 is intact" test "$(gens "$D")" = "gen-1 " -a -f "$D/gen-1/MANIFEST.json"
check "the agent logged it" grep -q "timeout: no answer within 5 s in phase write" "$D/agent.log"
wait_for 30 "the process saw the abort" grep_q "aborted 2" "$T/p.out"
expect 0 "$D/gen-3" "the next checkpoint commits" "$CKPT" checkpoint --dir "$D"

# Not set: the same slow write is within the derived bound (>= 600 s).
D2=$T/derived
start_agent "$D2"
"$CKPT" run --dir "$D2" -- "$FAKE_PROC" --slow-write 2 4 \
	>"$T/p2.out" 2>&1 &
BG+=($!)
wait_for 30 "the process registers with the derived-bound agent" has_nprocs "$D2" 1
expect 0 "$D2/gen-1" "the first checkpoint commits" "$CKPT" checkpoint --dir "$D2"
expect 0 "$D2/gen-2" "a 4 s write commits under the derived bound" "$CKPT" checkpoint --dir "$D2"
check "generation 1's bound is the floor (nothing measured yet)" \
	grep -q "generation 1: write phase bound: 600 s (newest images 0 bytes" "$D2/agent.log"
check "generation 2's is derived from generation 1's 4096 bytes" \
	grep -q "generation 2: write phase bound: 600 s (newest images 4096 bytes, last write [1-9]" \
	"$D2/agent.log"

# A fresh agent on a directory whose newest generation took 1024 s for its
# 4096 bytes (4 bytes/s): WRITE may take 4 x 1024 + 60 = 4156 s, PREPARE 600.
D3=$T/slow
mkdir -p "$D3"
cp -r "$D2/gen-2" "$D3/gen-1"
python3 - "$D3/gen-1/MANIFEST.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["gen"] = 1
m["duration_ms"] = 1024000
json.dump(m, open(sys.argv[1], "w"))
PY
start_agent "$D3"
check "the derived-bound agent lists the slow generation" sh -c \
	"'$CKPT' list '$D3' --json | grep -q '\"duration_ms\": *1024000'"
check "status reports the derived WRITE bound, not the floor" sh -c \
	"'$CKPT' status --dir '$D3' --json | jq -e '.phase_timeout == 600 and .write_timeout == 4156 and .write_timeout_derived'"
check "ckpt status prints the derived WRITE bound" sh -c \
	"'$CKPT' status --dir '$D3' | grep -qx 'timeouts: *prepare 600 s, write 4156 s (derived from the last checkpoint)'"
check "the start line shows the derived WRITE bound" \
	grep -q "phase timeouts: prepare 600 s, write 4156 s (derived from newest images of 4096 bytes at 4 bytes/s" \
	"$D3/agent.log"
finish
