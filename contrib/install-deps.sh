#!/usr/bin/env bash
# Installs every build and test dependency of slurm-ckpt from Debian 12 packages.
# Idempotent: apt-get install of an installed package is a no-op.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (it calls apt-get install)" >&2
	exit 1
fi

packages=(
	build-essential meson ninja-build pkg-config
	clang-format clang-tidy clang libclang-rt-14-dev
	slurm-wlm slurmctld slurmd slurm-client libslurm-dev
	slurmdbd mariadb-server mariadb-client
	munge libmunge-dev
	libevent-dev libzstd-dev libjson-c-dev libxxhash-dev xxhash
	mpich libmpich-dev gfortran
	libopenmpi-dev openmpi-bin
	libcriterion-dev
	default-jdk-headless
	python3 python3-numpy procps psmisc util-linux e2fsprogs jq
	pandoc man-db debhelper dpkg-dev
)

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
# Open MPI's packages take over the mpi/mpirun alternatives (higher priority):
# mpicc, mpif90, mpiexec and <mpi.h> stay MPICH's, which the tests build with.
update-alternatives --set mpi /usr/bin/mpicc.mpich
update-alternatives --set mpirun /usr/bin/mpirun.mpich
update-alternatives --set mpi-x86_64-linux-gnu /usr/include/x86_64-linux-gnu/mpich
