#!/usr/bin/env bash
# A generation is never committed without every task of the job (issue 12,
# item 8). Rank 3 of a 4-task step starts late: it waits, outside libckpt's
# reach (a static program), for a file the test creates, then executes the
# counter. While ranks 0-2 are registered and rank 3 is not, `ckpt checkpoint
# JOBID` must fail naming step 0 rank 3 and no generation may be committed;
# once rank 3 runs, the checkpoint commits gen-1 with all four images, and its
# manifest lists every (step, rank).
# Arguments: the ckpt CLI, the counter program, late-exec.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ckpt=$1 counter=$2 late=$3 memhog=- probe=-
. "$(dirname "$0")/cluster_lib.sh"
require_cluster
make_workdir late-rank
trap cluster_cleanup EXIT

steps=900 # 90 s at 100 ms a step
cat >tasks.conf <<CONF
0-2 $counter $steps 100
3 $late $workdir/release $counter $steps 100
CONF
chmod 644 tasks.conf
job=$(as_user sbatch --parsable -N2 --ntasks-per-node=2 --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" -o job.txt \
	--wrap "srun -N2 -n4 -o out-%t.txt --multi-prog $workdir/tasks.conf")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 3 180
status_has '[.processes[] | .rank] | sort == [0, 1, 2]' "ranks 0, 1 and 2 registered"

rc=0
as_user "$ckpt" checkpoint "$job" >ckpt1-out.txt 2>ckpt1-err.txt || rc=$?
((rc != 0)) || fail "ckpt checkpoint $job succeeded without rank 3: $(cat ckpt1-out.txt)"
grep -q 'missing step 0 rank 3 (of 4)' ckpt1-err.txt ||
	fail "ckpt checkpoint $job did not name the missing rank: $(cat ckpt1-err.txt)"
echo "refused while rank 3 is not registered: $(tail -n 1 ckpt1-err.txt)"
[ -z "$(committed_gens "$jobdir")" ] || fail "a generation was committed: $(committed_gens "$jobdir")"
expect_no_tmp "$jobdir"

as_user touch release
wait_status "$job" '(.processes | length) == 4 and all(.processes[]; .state == "running")' 60 \
	"4 running processes once rank 3 started"
checkpoint_ok "$job" 1
verify_gen "$jobdir/gen-1" 4
python3 - "$jobdir/gen-1/MANIFEST.json" <<'PY' || fail "the manifest of gen-1 does not list (0, 0) .. (0, 3): $(head -c 800 "$jobdir/gen-1/MANIFEST.json")"
import json, sys
m = json.load(open(sys.argv[1]))
imgs = m.get("images", [])
got = sorted((i.get("step"), i.get("rank")) for i in imgs)
sys.exit(0 if got == [(0, r) for r in range(4)] else 1)
PY
echo "ok: no generation without rank 3; gen-1 holds steps/ranks (0,0)..(0,3)"
