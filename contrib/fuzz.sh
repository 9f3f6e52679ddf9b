#!/bin/sh
# Runs the fuzz targets of tests/fuzz one after the other (one core, at low
# priority: the machine is shared), each for SECONDS from its seeds and
# regression inputs, under ASan and UBSan, with libFuzzer's memory and time
# limits; then prints executions, crashes, hangs and out-of-memory stops per
# target.  Run it in a build directory configured with
#   ../configure --enable-fuzzing CC=clang
# A crashing, hanging or memory-hungry input is kept as
# fuzz-artifacts/TARGET-{crash,timeout,oom}-*; fix the source, then add the
# input to tests/data/fuzz-regressions/TARGET/ (make check replays it).
# Exit status: 0 when no target found anything.
# Usage: contrib/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]
set -u
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-walker linetable string debug_offsets core}
top=$(sed -n 's/^abs_top_srcdir = //p' Makefile 2>/dev/null)
if [ -z "$top" ] || ! grep -q '^FUZZER_LINK' Makefile; then
	echo "fuzz.sh: run me in a build directory configured with" \
	     "--enable-fuzzing CC=clang" >&2
	exit 2
fi
data=$top/tests/data

programs=
for t in $targets; do programs="$programs tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
nice make -j1 $programs >/dev/null || exit 1

mkdir -p fuzz-artifacts fuzz-logs
found=0
printf '%-15s %12s %8s %8s %8s\n' target executions crashes hangs ooms
for t in $targets; do
	# The first directory receives what the fuzzer finds; the seeds and
	# regression inputs of the tree are only read.
	mkdir -p "fuzz-corpus/$t"
	if [ "$t" = walker ]; then
		seeds=$(mktemp -d)
		cp "$data"/*.img "$seeds"/
		max_len=131072
	elif [ "$t" = core ]; then
		# The seed core (contrib/make-seed-core): 188 KiB.
		seeds=$data/core/seed
		max_len=262144
	else
		seeds=$data/fuzz-corpus/$t
		max_len=4096
	fi
	regressions=$data/fuzz-regressions/$t
	[ -d "$regressions" ] || regressions=
	log=fuzz-logs/$t.log
	# ASan's quarantine of freed memory (256 MiB by default) counts in
	# the RSS limit: fuzz_core reached it with 32 MiB live in CI.
	# shellcheck disable=SC2086
	ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=64} \
	nice "tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
		-rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5 \
		-max_len=$max_len -print_final_stats=1 \
		-artifact_prefix="fuzz-artifacts/$t-" \
		"fuzz-corpus/$t" "$seeds" $regressions >"$log" 2>&1
	[ "$t" = walker ] && rm -rf "$seeds"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	crashes=$(find fuzz-artifacts -name "$t-crash-*" | wc -l)
	hangs=$(find fuzz-artifacts -name "$t-timeout-*" | wc -l)
	ooms=$(find fuzz-artifacts -name "$t-oom-*" | wc -l)
	printf '%-15s %12s %8d %8d %8d\n' "$t" "${execs:-?}" "$crashes" \
		"$hangs" "$ooms"
	if [ $((crashes + hangs + ooms)) -gt 0 ] || [ -z "$execs" ]; then
		found=1
		tail -n 40 "$log"
	fi
done
exit $found
