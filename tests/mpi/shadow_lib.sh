# shadow_lib.sh - helpers for the tests of the shadow libmpich.so.12. Sourced
# after tests/slurm/lib.sh.

# meson puts the build's library directories (the shadow library's among
# them) into LD_LIBRARY_PATH; the native runs must not inherit it.
unset LD_LIBRARY_PATH

# run_ranks OUT PROG [ENV=VAL...]: srun --mpi=pmi2 -N2 -n4 PROG as the job
# user with the given environment; stdout in OUT, stderr (srun's queueing
# notes too) in OUT.err; returns srun's status.
run_ranks() {
	local out=$1 prog=$2
	shift 2
	as_user env "$@" timeout 120 srun --mpi=pmi2 -N2 -n4 "$prog" >"$out" 2>"$out.err"
}

# Both streams of a run, for failure messages.
run_output() {
	cat "$1" "$1.err"
}

# Copies PROG into the work directory (readable by the job user).
stage_prog() {
	cp "$1" "$workdir/" && chown "$TESTCLUSTER_USER:" "$workdir/$(basename "$1")"
	echo "$workdir/$(basename "$1")"
}
