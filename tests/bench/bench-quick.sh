#!/usr/bin/env bash
#
# bench-quick.sh: the test suite's check that the benchmark still works.
# Runs bench.sh with BENCH_QUICK=1 (a few seconds) into a scratch
# directory.  It proves that every phase ran and produced its report; it
# never judges a timing (timings are read in `make bench`, not asserted).

set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${MESH_BIN:?set MESH_BIN}"
# The build tree's loadgen sits beside the gateway's directory.
: "${LOADGEN_BIN:=$(dirname "$MESH_BIN")/tests/bench/loadgen}"
export LOADGEN_BIN

# Timings under AddressSanitizer mean nothing and the sanitizer build's
# loadgen is not the one measured: the normal build runs this check.
if [ -n "${MESH_SANITIZED:-}" ]; then
	echo "bench-quick: skipped in the sanitizer build"
	exit 77
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/bench-quick.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

if BENCH_QUICK=1 BENCH_OUT="$out" bash "$here/bench.sh" > "$out/stdout" \
    2> "$out/stderr" && [ -s "$out/bench.json" ] &&
    grep -q '"verdict"' "$out/bench.json" &&
    ! sed -n '/"medians"/,/^  }/p' "$out/bench.json" | grep -q null; then
	echo "bench-quick: the benchmark ran ($(grep -c . "$out/raw.jsonl") reports)"
	echo "1 passed, 0 failed"
	exit 0
fi
cat "$out/stdout" "$out/stderr" >&2
echo "0 passed, 1 failed"
exit 1
