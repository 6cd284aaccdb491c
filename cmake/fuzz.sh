#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang++ with ASan + UBSan) in their own tree and
# runs each for SECONDS on its corpus (ctest test fuzz, label hardening: 60 s each).
#
# Usage: cmake/fuzz.sh [--seconds N] [--build DIR] [--cxx CLANG++] [--cmake PATH]
# New inputs that libFuzzer finds go to DIR/new-corpus/<target>, not into the repository;
# copy the interesting ones into tests/fuzz/corpus/<target>/ to keep them. A crash leaves
# its input as DIR/crash-* and fails the run (rerun: DIR/tests/fuzz/<target> FILE).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
seconds=60 build=$src/build/fuzz cxx=clang++ cmake_cmd=cmake
while (($#)); do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --cxx) cxx=$2; shift 2 ;;
        --cmake) cmake_cmd=$2; shift 2 ;;
        -h | --help) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if ! command -v "$cxx" >/dev/null; then
    echo "fuzz.sh: $cxx not found; libFuzzer needs clang: cmake/install-deps.sh --with-hardening" >&2
    exit 1
fi
"$cmake_cmd" -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_COMPILER=$cxx" \
    -DFEWBITS_BUILD_FUZZERS=ON -DFEWBITS_BUILD_TESTS=OFF -DFEWBITS_BUILD_EXAMPLES=OFF \
    -DFEWBITS_BUILD_BENCHMARKS=OFF -DFEWBITS_INSTALL=OFF >/dev/null
"$cmake_cmd" --build "$build" --target fuzz_kernels fuzz_idx_loader
cd "$build"
for target in fuzz_kernels fuzz_idx_loader; do
    mkdir -p "new-corpus/$target"
    echo "== $target, $seconds s"
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
        "new-corpus/$target" "$src/tests/fuzz/corpus/$target" 2>&1 | grep -v -E '^(#[0-9]|[[:space:]]+NEW_FUNC)' || {
        echo "fuzz.sh: $target FAILED (see the report above; the input is in $build/crash-*)" >&2
        exit 1
    }
done
echo "fuzz.sh: no findings"
