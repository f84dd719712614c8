#!/usr/bin/env bash
# The shadow libmpich.so.12 can stand in for MPICH's: same SONAME, no
# dependency on MPICH, and every function and variable the real library
# exports with an MPI name is exported too (supported or a stub), so no
# program binds to something missing. Arguments: SHADOW_LIB REAL_LIB SUPPORTED_TXT.
set -euo pipefail
shadow=$1
real=$2
supported=$3
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

readelf -d "$shadow" | grep -q 'Library soname: \[libmpich.so.12\]' || fail "SONAME is not libmpich.so.12"
! readelf -d "$shadow" | grep NEEDED | grep -q -e mpich -e ucp -e ucs ||
	fail "the shadow library depends on MPICH or UCX"
syms() { nm -D --defined-only "$1" | awk '$3 ~ /MPI/ && $3 !~ /^MPII_Version_/ {print $3}' | sort; }
missing=$(comm -13 <(syms "$shadow") <(syms "$real"))
[ -z "$missing" ] || fail "not exported by the shadow library: $missing"
exported=$(nm -D --defined-only "$shadow")
while read -r f; do
	grep -q " W $f\$" <<<"$exported" || fail "$f listed as supported but not exported as a weak alias"
	grep -q " T P$f\$" <<<"$exported" || fail "P$f not exported"
done <"$supported"
echo "ok: $(syms "$shadow" | wc -l) MPI symbols exported, $(wc -l <"$supported") functions supported"
