# shellcheck shell=bash
# mpi_lib.sh - helpers of the MPI tests through Slurm (mpi_*.sh): an MPI
# program of tests/mpi run natively for reference, then in a
# `--checkpoint=auto` job. Sourced after lib.sh and cluster_lib.sh.

# mpi_setup NAME PROG: a work directory NAME with PROG copied in as ./prog
# for the job user. meson's LD_LIBRARY_PATH holds the build's shadow
# library: the reference run must be native, and the job must get the
# shadow library from the plugin alone.
mpi_setup() {
	require_cluster
	make_workdir "$1"
	trap cluster_cleanup EXIT
	unset LD_LIBRARY_PATH
	cp "$2" prog
	chown "$TESTCLUSTER_USER:" prog
}

# result_lines FILE...: the program's final lines, sorted (C prints its hex
# in lower case, Fortran's Z editing in upper case).
result_lines() {
	cat "$@" | grep -E '^(rank [0-9]+ state|result) [0-9a-fA-F]{16}$' | sort || true
}

# mpi_reference ITERS: ref.txt, the final lines of an uninterrupted native
# run of ./prog ITERS 0 on 4 ranks over cn1 and cn2.
mpi_reference() {
	as_user timeout 300 srun --mpi=pmi2 -N2 -n4 -o ref-%t.txt ./prog "$1" 0 ||
		fail "the uninterrupted reference run failed: $(cat ref-*.txt | tail -n 5)"
	result_lines ref-*.txt >ref.txt
	[ "$(wc -l <ref.txt)" = 5 ] ||
		fail "reference run printed $(wc -l <ref.txt) result lines, expected 5"
	! grep -q '^slurm-ckpt' ref-*.txt ||
		fail "the reference run printed slurm-ckpt lines: $(grep -h '^slurm-ckpt' ref-*.txt)"
}

# mpi_job_script ITERS SLEEP_MS [GATE]: job.sh runs ./prog ITERS SLEEP_MS on
# 4 ranks, with block placement on even starts and cyclic on odd ones (ranks
# 1 and 2 change node at every restart). With GATE, the ranks wait after
# their last iteration until the file GATE exists (CKPT_TEST_END_GATE).
mpi_job_script() {
	local gate=
	[ $# -lt 3 ] || gate="export CKPT_TEST_END_GATE=$3"
	cat >job.sh <<JOB
#!/bin/bash
$gate
if [ \$((\${SLURM_RESTART_COUNT:-0} % 2)) = 1 ]; then dist=cyclic; else dist=block; fi
echo "start \${SLURM_RESTART_COUNT:-0} distribution \$dist"
srun --mpi=pmi2 -N2 -n4 -m \$dist --open-mode=append -o out-%t.txt ./prog $1 $2
JOB
	chmod 755 job.sh
	chown "$TESTCLUSTER_USER:" job.sh
}

# mpi_expect_results WHAT: the final lines of the job's ranks are the
# reference's.
mpi_expect_results() {
	result_lines out-*.txt >got.txt
	diff -q ref.txt got.txt >/dev/null ||
		fail "$1: results differ from the uninterrupted run: $(diff ref.txt got.txt | head)"
}
