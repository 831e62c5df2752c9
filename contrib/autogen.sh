#!/bin/sh
# Generate configure and Makefile.in from the top of the source tree.
set -e
cd "$(dirname "$0")/.."
mkdir -p m4 build-aux
autoreconf -fi
