#!/usr/bin/env bash
# Builds bench_kernels the way users build (no -march: run-time dispatch picks the CPU's best
# instruction set) in build-bench/ and prints the benchmark table: medians of repeated runs,
# with the ratios to the scalar core, to the CPU's own round-to-nearest conversion and to
# memcpy, and every target met or missed. Then the default-build vs -march=native comparison:
# the same kernels built with -march=native in build-bench-native/, every kernel row at 16 Ki
# (quantize, fake_quantize, dequantize, sgd_update, sgd_momentum_update; every mode and
# generator, the version-2 rows sr8-packed and sr16-packed included), medians of the same
# number of runs, both measured here one after the other (target: >= 0.95 per row).
#
# Usage: bench/report.sh [--repetitions=N] [Google Benchmark flags, e.g. --benchmark_filter=16Ki]
# Progress goes to stderr, the markdown tables to stdout. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake/install-deps.sh >&2
repetitions=5
for a in "$@"; do
    case "$a" in --repetitions=*) repetitions=${a#--repetitions=} ;; esac
done
for flavour in default native; do
    dir=build-bench
    flags=()
    if [[ $flavour == native ]]; then
        dir=build-bench-native
        flags=(-DCMAKE_CXX_FLAGS=-march=native)
    fi
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${flags[@]}" \
        -DFEWBITS_BUILD_TESTS=OFF -DFEWBITS_BUILD_EXAMPLES=OFF -DFEWBITS_BUILD_BENCHMARKS=ON >&2
    cmake --build "$dir" --target bench_kernels >&2
done

# Pinned to one CPU (the last, or FEWBITS_BENCH_CPU) when taskset is there: on a small shared
# machine the scheduler otherwise moves the benchmark between cores mid-row.
pin=()
if command -v taskset >/dev/null 2>&1; then
    cpu=${FEWBITS_BENCH_CPU:-$(($(getconf _NPROCESSORS_ONLN) - 1))}
    pin=(taskset -c "$cpu")
    echo "bench/report.sh: benchmarks pinned to CPU $cpu; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
fi

"${pin[@]}" build-bench/bench/bench_kernels --report "$@"

# Default vs native: G elements/s (medians) of every kernel row at 16 Ki, from each build's own
# report table ("| kernel | format | mode | size | G elements/s | ...").
filter='^(quantize|fake_quantize|dequantize|sgd_update|sgd_momentum_update)/[^/]*/[^/]*/16Ki/'
rows() {
    "${pin[@]}" "$1" --report --repetitions="$repetitions" --benchmark_filter="$filter" 2>/dev/null |
        awk -F'|' '$5 ~ /16Ki/ && $6 ~ /[0-9]/ { for (i = 2; i <= 4; ++i) gsub(/ /, "", $i); print $2 "/" $3 "/" $4, $6 }' || true
}
echo
echo "| kernel/format/mode, 16 Ki | default build (no -march), G el/s | -march=native, G el/s | default / native | native / default | target: native / default >= 0.95 |"
echo "|---|---:|---:|---:|---:|---|"
join <(rows build-bench/bench/bench_kernels | sort) <(rows build-bench-native/bench/bench_kernels | sort) |
    awk '{ r = $2 / $3; printf "| %s | %.3f | %.3f | %.2f | %.2f | %s |\n", $1, $2, $3, r, 1 / r, (1 / r >= 0.95 ? "met" : "MISSED") }'
