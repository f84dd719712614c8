#!/bin/sh
# run-fuzz.sh FUZZER CORPUS SECONDS [LIBFUZZER-OPTIONS...] - one bounded
# fuzzing run (meson test --suite fuzz). New inputs go to a scratch
# directory, never into the corpus in the source tree; a crashing input is
# kept in the build directory (fuzz-artifacts/) and the run fails.
set -eu
fuzzer=$1
corpus=$2
seconds=$3
shift 3
name=$(basename "$fuzzer")
artifacts="$PWD/fuzz-artifacts/$name"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
# -timeout: every input here runs in milliseconds, so one taking 60 s is a
# hang; lower values gave false reports on a loaded machine (ASan returning
# memory to the kernel stalled 12 s). -rss_limit_mb bounds what a hostile
# length field may make the code allocate.
"$fuzzer" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$@" "$scratch" "$corpus"
