#!/usr/bin/env bash
# An MPI process running on Debian's MPICH itself rather than under the
# shadow libmpich.so.12 (docs/mpi.md) cannot be checkpointed: libckpt
# refuses with a clear reason instead of writing an image that would restore
# into a broken rank: `ckpt checkpoint` fails naming MPI and the shadow
# library, no generation is committed, and the program runs on to its
# normal end. Standalone (an MPICH singleton under `ckpt run`), no cluster.
# Arguments: the ckpt CLI, the mpi_spin program.
set -euo pipefail
ckpt=$1
spin=$2
T=$(mktemp -d /tmp/ckpt-mpi-refused.XXXXXX)
trap 'kill "${run:-}" 2>/dev/null || true; rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
unset LD_PRELOAD LD_LIBRARY_PATH PMI_FD PMI_RANK PMI_SIZE
export CKPT_AGENT_IDLE_EXIT=5
# Waits are multiplied by CKPT_TEST_TIME_FACTOR, as in tests/slurm/lib.sh.
factor=${CKPT_TEST_TIME_FACTOR:-3}

"$ckpt" run --dir "$T/ckpt" -- "$spin" 60 >"$T/out" 2>"$T/err" &
run=$!
deadline=$((SECONDS + 30 * factor))
until grep -q '^ready rank 0' "$T/out"; do
	((SECONDS < deadline)) || fail "the MPI program did not start: $(cat "$T/err")"
	kill -0 "$run" 2>/dev/null || fail "ckpt run ended early: $(cat "$T/err")"
	sleep 0.2
done
if "$ckpt" checkpoint --dir "$T/ckpt" >"$T/ckpt.out" 2>"$T/ckpt.err"; then
	fail "the checkpoint of an MPI process was committed: $(cat "$T/ckpt.out")"
fi
grep -q "uses MPI (.*libmpich.so.*) without the shadow MPI library" "$T/ckpt.err" ||
	fail "the refusal does not name MPI: $(cat "$T/ckpt.err")"
[ -z "$(ls -d "$T"/ckpt/gen-* 2>/dev/null)" ] || fail "a generation directory was left: $(ls "$T/ckpt")"
wait "$run" || fail "the MPI program did not end normally after the refusal: $(cat "$T/err")"
grep -q '^done ' "$T/out" || fail "the MPI program did not finish: $(cat "$T/out")"
grep -q 'without the shadow MPI library.*runs on without checkpoints' "$T/err" ||
	fail "the program's stderr does not say why it is not checkpointed: $(cat "$T/err")"
echo "ok: checkpoint of an MPI process refused with: $(cat "$T/ckpt.err")"
