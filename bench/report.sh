#!/usr/bin/env bash
# Builds bench_kernels for this CPU (-march=native) in build-bench/ and prints the README's
# benchmark table: medians of repeated runs, with the ratios to the scalar core, to the
# CPU's own round-to-nearest conversion and to memcpy, and the targets met or missed.
#
# Usage: bench/report.sh [--repetitions=N] [Google Benchmark flags, e.g. --benchmark_filter=16Ki]
# Progress goes to stderr, the markdown table to stdout. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake/install-deps.sh >&2
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-march=native \
    -DFEWBITS_BUILD_TESTS=OFF -DFEWBITS_BUILD_EXAMPLES=OFF >&2
cmake --build build-bench --target bench_kernels >&2
exec build-bench/bench/bench_kernels --report "$@"
