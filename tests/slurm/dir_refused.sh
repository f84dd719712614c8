#!/usr/bin/env bash
# sbatch refuses a --checkpoint-dir another user could write a checkpoint
# into: one owned by another user (even if it lets everybody write), and a
# group-writable one of the user's own, each with a message naming the
# directory and what is wrong; a directory of the user's own is accepted.
# Arguments: the counter program, the ckpt CLI (unused here).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_cluster
make_workdir dir-refused

# submit DIR: sbatch as the job user; its stderr in err.txt, job id on stdout.
submit() {
	as_user sbatch --parsable --hold --checkpoint=auto --checkpoint-dir="$1" -o /dev/null \
		--wrap true 2>err.txt
}

install -d -m 777 -o nobody -g nogroup "$workdir/theirs"
if job=$(submit "$workdir/theirs"); then
	scancel "$job"
	fail "sbatch accepted $workdir/theirs, owned by nobody"
fi
grep -q "checkpoint directory $workdir/theirs is not safe: $workdir/theirs is owned by uid $(id -u nobody)" err.txt ||
	fail "sbatch refused $workdir/theirs without saying why: $(cat err.txt)"
echo "refused (owned by nobody): $(grep -m1 'not safe' err.txt)"

install -d -m 770 -o "$TESTCLUSTER_USER" "$workdir/shared"
if job=$(submit "$workdir/shared"); then
	scancel "$job"
	fail "sbatch accepted $workdir/shared, writable by its group"
fi
grep -q "checkpoint directory $workdir/shared is not safe: $workdir/shared is writable by its group" err.txt ||
	fail "sbatch refused $workdir/shared without saying why: $(cat err.txt)"
echo "refused (group-writable): $(grep -m1 'not safe' err.txt)"

# The control: the same as the user's own, 0700 (sbatch creates it so).
job=$(submit "$workdir/mine") || fail "sbatch refused $workdir/mine: $(cat err.txt)"
scancel "$job"
[ "$(stat -c %U:%a "$workdir/mine")" = "$TESTCLUSTER_USER:700" ] ||
	fail "$workdir/mine is $(stat -c %U:%a "$workdir/mine"), expected $TESTCLUSTER_USER:700"
echo "ok: unsafe checkpoint directories refused by sbatch, the user's own accepted"
