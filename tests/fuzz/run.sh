#!/bin/sh
# Build the libFuzzer targets in a tree of their own, everything
# instrumented, and run each for FUZZ_SECONDS (default 10).  Exits non-zero
# on any crash, leak, sanitizer report or failed check.  Installs nothing:
# needs clang with its runtime (Debian 12: clang libclang-rt-14-dev).
#
#	tests/fuzz/run.sh [srcdir [builddir]]
set -eu

src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
build=${2:-$src/build-fuzz}
cc=${FUZZ_CC:-clang}

command -v "$cc" >/dev/null 2>&1 || {
	echo "run.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
}
[ -x "$src/configure" ] || (cd "$src" && contrib/autogen.sh >/dev/null 2>&1)
mkdir -p "$build"
cd "$build"
# UBSan reports are made fatal at compile time too, not only by
# UBSAN_OPTIONS: a report must fail the run.
[ -f Makefile ] || "$src/configure" -q --enable-fuzz CC="$cc" \
	CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
make -s -j"$(nproc 2>/dev/null || echo 2)" \
	tests/fuzz/fuzz_msg tests/fuzz/fuzz_sse tests/fuzz/fuzz_jsonrpc \
	tests/fuzz/fuzz_http
make -s fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
