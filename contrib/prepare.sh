# prepare.sh - shared first steps of contrib/demo and contrib/run-tests (sourced):
# install dependencies, build into $repo/build, bring the test cluster up with
# this build's SPANK plugin.

prepare_die() {
	echo "$(basename "$0"): error: $*" >&2
	exit 1
}

prepare_all() {
	[ "$(id -u)" -eq 0 ] ||
		prepare_die "run as root: it installs packages and starts slurmctld, slurmd and munged"
	"$repo/contrib/install-deps.sh"
	if [ ! -f "$repo/build/build.ninja" ]; then
		meson setup "$repo/build" "$repo"
	fi
	ninja -C "$repo/build"
	# The job user runs binaries from this tree: it must be able to reach them.
	chmod o+rx "$repo" "$repo/build"
	# The default configuration unless the caller chose one (contrib/demo
	# chooses production): never whatever an earlier run left running.
	TESTCLUSTER_CONFIG=${TESTCLUSTER_CONFIG:-default} \
		CKPT_SPANK_PLUGIN="$repo/build/spank/spank_ckpt.so" "$repo/contrib/testcluster/up"
}
