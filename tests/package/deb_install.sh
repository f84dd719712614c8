#!/usr/bin/env bash
# The Debian package serves a checkpointed job from the installed files:
# built from this tree with dpkg-buildpackage, installed with dpkg, and
# loaded by a test cluster of its own whose plugstack.conf names the plugin
# in Slurm's plugin directory. The job's coordinator must be
# /usr/bin/ckpt-agent, its task must preload the installed libckpt.so, and
# after `/usr/bin/ckpt checkpoint JOBID --requeue` the task must resume
# (through the installed ckpt-restore) and finish with the output of an
# uninterrupted run. The package is removed at the end.
# Arguments: tests/standalone/cli/counter.
set -euo pipefail
counter=$(realpath "$1")
# A cluster of its own: the suite's cluster keeps the build tree's plugin.
export TESTCLUSTER_DIR=/var/tmp/slurm-ckpt-pkgtest TESTCLUSTER_CTLD_PORT=16917 TESTCLUSTER_SLURMD_PORT=16918
export TESTCLUSTER_FIRST_JOB_ID=500000
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
export CKPT_SPANK_PLUGIN=/usr/lib/$multiarch/slurm-wlm/spank_ckpt.so
. "$(dirname "$0")/../slurm/lib.sh"
ckpt=/usr/bin/ckpt
. "$(dirname "$0")/../slurm/cluster_lib.sh"
pkgdir=$(mktemp -d /var/tmp/slurm-ckpt-deb.XXXXXX)
installed=0
job=

cleanup() {
	cluster_cleanup
	"$repo_dir/contrib/testcluster/down" >/dev/null 2>&1 || true
	[ "$installed" = 0 ] || dpkg -r slurm-ckpt >/dev/null 2>&1 || echo "warning: dpkg -r slurm-ckpt failed" >&2
	rm -rf "$pkgdir"
}
trap cleanup EXIT

# Build from the tracked files of this tree (what a clone holds), not from
# its build directories.
mkdir "$pkgdir/src"
(cd "$repo_dir" && git ls-files -z | xargs -0 tar -cf -) | tar -xf - -C "$pkgdir/src"
(cd "$pkgdir/src" && dpkg-buildpackage -us -uc -b >"$pkgdir/build.log" 2>&1) ||
	fail "dpkg-buildpackage failed: $(grep -m 5 -iE 'error' "$pkgdir/build.log")"
deb=$(ls "$pkgdir"/slurm-ckpt_*_*.deb)
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"
dpkg -i "$deb" >"$pkgdir/install.log" 2>&1 || fail "dpkg -i failed: $(tail -n 5 "$pkgdir/install.log")"
installed=1
for f in /usr/bin/ckpt /usr/bin/ckpt-agent "$CKPT_SPANK_PLUGIN" "/usr/lib/$multiarch/slurm-ckpt/libckpt.so" \
	"/usr/lib/$multiarch/slurm-ckpt/ckpt-restore" /usr/share/man/man1/ckpt.1.gz \
	/usr/share/man/man8/slurm-ckpt.8.gz /etc/slurm/plugstack.conf.d/slurm-ckpt.conf.example; do
	[ -e "$f" ] || fail "the package did not install $f"
done
"$repo_dir/contrib/testcluster/up" >"$pkgdir/up.log" 2>&1 || fail "test cluster did not start: $(tail -n 5 "$pkgdir/up.log")"
require_cluster
grep -q "^required $CKPT_SPANK_PLUGIN" "$TESTCLUSTER_DIR/etc/plugstack.conf" ||
	fail "plugstack.conf does not name the installed plugin: $(cat "$TESTCLUSTER_DIR/etc/plugstack.conf")"

make_workdir deb-install
steps=400 # 40 s at 100 ms a step
"$counter" "$steps" 0 >ref.txt
job=$(as_user sbatch --parsable -n1 --requeue --open-mode=append --checkpoint=auto \
	--checkpoint-dir="$workdir/ckpt" -o out.txt --wrap "srun -n1 $counter $steps 100")
jobdir=$workdir/ckpt/$job
echo "job $job submitted"
wait_running "$job" 1 180
coord=$(pgrep -u "$TESTCLUSTER_USER" -f -- "--job $job( |\$)" | head -n 1)
[ -n "$coord" ] || fail "no coordinator process of job $job"
[ "$(readlink "/proc/$coord/exe")" = /usr/bin/ckpt-agent ] ||
	fail "the coordinator runs $(readlink "/proc/$coord/exe"), not the installed /usr/bin/ckpt-agent"
task=$(status_pid 0)
grep -q " /usr/lib/$multiarch/slurm-ckpt/libckpt.so\$" "/proc/$task/maps" ||
	fail "task $task does not preload the installed libckpt.so: $(grep libckpt "/proc/$task/maps" | head -n 1)"
wait_lines out.txt '^[0-9]* ' 30 60
checkpoint_ok "$job" 1 --requeue

wait_restarted "$job" 1 300
wait_job_done "$job" 300
grep -q '^slurm-ckpt: step 0 task 0 resumes from gen-1' out.txt ||
	fail "the task did not resume from gen-1: $(grep slurm-ckpt out.txt | head -n 5)"
expect_counter_output out.txt ref.txt
echo "ok: the installed package ($(basename "$deb")) checkpointed, requeued and restored job $job"
