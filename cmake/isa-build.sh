#!/usr/bin/env bash
# One configuration of the ISA matrix (registered by cmake/isa-matrix.cmake as a ctest test
# isa.<name>): configures a separate build of this source tree for one instruction set,
# builds its unit tests and fewbits_digest, checks that the kernels really use the expected
# instruction set, runs the unit tests (through the emulator for a cross build), and
# writes fewbits_digest's line to the digest file for isa.digests_match.
#
# Usage: cmake/isa-build.sh --source DIR --build DIR --digest FILE --expect-simd REGEX
#          [--cmake PATH] [--ctest PATH] [--require-cpu "FLAG..."]
#          [--require-programs "PROG..."] [--emulator "COMMAND ARGS..."] -- CMAKE_ARGS...
#   --expect-simd   extended regex that fewbits_simd_arch's "simd: <name>" must match
#   --require-cpu   /proc/cpuinfo flags this configuration needs to run; without them the
#                   script prints SKIPPED and exits 77 (the test's SKIP_RETURN_CODE)
#   --require-programs  tools that must be on PATH (a cross compiler, qemu)
#   --emulator      runs the built programs (cross builds)
# Exit status: 0 passed, 77 skipped (CPU lacks the ISA), anything else failed.
set -euo pipefail

source_dir= build_dir= digest_file= expect_simd=
cmake_cmd=cmake ctest_cmd=ctest require_cpu= require_programs= emulator=
while (($#)); do
    case "$1" in
        --source) source_dir=$2; shift 2 ;;
        --build) build_dir=$2; shift 2 ;;
        --digest) digest_file=$2; shift 2 ;;
        --expect-simd) expect_simd=$2; shift 2 ;;
        --cmake) cmake_cmd=$2; shift 2 ;;
        --ctest) ctest_cmd=$2; shift 2 ;;
        --require-cpu) require_cpu=$2; shift 2 ;;
        --require-programs) require_programs=$2; shift 2 ;;
        --emulator) emulator=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "isa-build.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for required in source_dir build_dir digest_file expect_simd; do
    if [[ -z "${!required}" ]]; then
        echo "isa-build.sh: --${required//_/-} is required" >&2
        exit 2
    fi
done

name=$(basename "$build_dir")
# A digest from an earlier run must never stand in for this one.
rm -f "$digest_file"

step_start=$SECONDS
step() {  # step TITLE: prints the time the previous step took and the new title
    echo "isa-build[$name]: $1 ($((SECONDS - step_start)) s so far)"
}

if [[ -n "$require_cpu" ]]; then
    cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
    missing=()
    for flag in $require_cpu; do
        [[ "$cpu_flags" == *" $flag "* ]] || missing+=("$flag")
    done
    if ((${#missing[@]})); then
        echo "SKIPPED: this CPU (or OS) lacks ${missing[*]}, so the $name build cannot run here"
        exit 77
    fi
fi

for program in $require_programs; do
    if ! command -v "$program" >/dev/null 2>&1; then
        echo "isa-build[$name]: FAILED: '$program' not found; install it with" \
             "'cmake/install-deps.sh --with-cross --with-hardening' (as in the README's test command)" >&2
        exit 1
    fi
done

run() {  # runs a program of the sub-build, through the emulator if there is one
    # shellcheck disable=SC2086  # the emulator is a command with arguments
    ${emulator} "$@"
}

jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

step "configure $build_dir"
"$cmake_cmd" -S "$source_dir" -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DFEWBITS_BUILD_TESTS=ON \
    -DFEWBITS_BUILD_EXAMPLES=OFF \
    -DFEWBITS_BUILD_BENCHMARKS=OFF \
    -DFEWBITS_INSTALL=OFF \
    -DFEWBITS_BUILD_LONG_TESTS=OFF \
    -DFEWBITS_ISA_MATRIX=OFF \
    -DFEWBITS_HARDENING=OFF \
    -DFEWBITS_BUILD_COMPILE_CHECKS=OFF \
    "$@"

step "build"
"$cmake_cmd" --build "$build_dir" --parallel "$jobs"

# A configuration that asks for the benchmarks (the aarch64 one) must get them: their
# smoke test then runs with the unit tests below.
if grep -q '^FEWBITS_BUILD_BENCHMARKS:BOOL=ON' "$build_dir/CMakeCache.txt" && [[ ! -x "$build_dir/bench/bench_kernels" ]]; then
    echo "isa-build[$name]: FAILED: Google Benchmark for this target was not found, so bench_kernels" \
         "was not built; install it with 'cmake/install-deps.sh --with-cross'" >&2
    exit 1
fi

step "check the instruction set"
simd=$(run "$build_dir/tests/fewbits_simd_arch")
echo "isa-build[$name]: $simd"
if ! [[ "${simd#simd: }" =~ $expect_simd ]]; then
    echo "isa-build[$name]: FAILED: expected the kernels to use '$expect_simd'," \
         "this build uses '${simd#simd: }' (xsimd not found, or the wrong -march?)" >&2
    exit 1
fi

step "unit tests (and the benchmarks' smoke pass when built)"
"$ctest_cmd" --test-dir "$build_dir" -L 'unit|bench' --output-on-failure --no-tests=error \
    --parallel "$jobs"

step "digest"
line=$(run "$build_dir/tests/fewbits_digest")
if ! [[ "$line" =~ ^digest:\ [0-9a-f]{16}$ ]]; then
    echo "isa-build[$name]: FAILED: fewbits_digest printed '$line'," \
         "expected one line 'digest: <16 hex digits>'" >&2
    exit 1
fi
printf '%s\n' "$line" >"$digest_file"
echo "isa-build[$name]: $line"
step "done"
