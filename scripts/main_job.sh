#!/usr/bin/env bash
# The main job: builds the example programs (Release, compiled for this CPU) and runs the
# batch-size-vs-precision experiments end to end, then draws the plots.
#
#   scripts/main_job.sh [--full] [--out DIR] [--threads N] [--seed N]
#
#   accumulate          stagnation of 1.0 + small increments: RTN stays, SR moves
#   gradient_variance   the 1/b law of the backward SR noise and the weight-quantization floor
#                       -> DIR/gradient_variance.csv, DIR/gradient_variance_fits.csv
#   batch_vs_precision  test accuracy over formats x rounding x placement x batch size
#                       -> DIR/batch_vs_precision.csv, DIR/batch_vs_precision.md; and the
#                       low-precision weights at lr 0.01, batch 512 (where RTN stagnates)
#                       -> DIR/weights_small_lr.csv, DIR/weights_small_lr.md
#   lm_batch_vs_precision  validation bits per byte of the byte-level GPT on the Jargon File
#                       over format x rounding x placement x batch size x seed, the paired
#                       gaps to FP32 with 95% intervals and the paper's claims answered
#                       -> DIR/lm_batch_vs_precision.csv, DIR/lm_batch_vs_precision_gaps.csv,
#                       DIR/lm_batch_vs_precision.md, DIR/lm_curves.csv,
#                       DIR/lm_gradient_variance.csv
#   scripts/plot_results.sh DIR -> DIR/gradient_variance.svg, DIR/batch_vs_precision.svg,
#                       DIR/lm_batch_vs_precision.svg, DIR/lm_curves.svg
# The quick grids (default) take about 10 minutes after a 2-minute build on 2 cores (the language
# model's about 6 of them); with --full, the language model's grid alone took 1 h 41 min
# (docs/results/lm/full), the others' are estimated at an hour and a half.
# Fashion-MNIST (dataset-fashion-mnist) is used when installed, else the synthetic teacher; the
# Jargon File (jargon-text) is needed for the language model.
set -euo pipefail
cd "$(dirname "$0")/.."

grid=--quick out=results extra=() lm_extra=()
while (($#)); do
    case "$1" in
        --full | --quick) grid=$1; shift ;;
        --out) out=${2:?--out needs a directory}; shift 2 ;;
        --threads | --seed)
            extra+=("$1" "${2:?$1 needs a value}")
            # The language model runs N single-threaded runs at once rather than one on N threads.
            if [[ $1 == --threads ]]; then lm_extra+=(--jobs "$2"); else lm_extra+=("$1" "$2"); fi
            shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
        *) echo "main_job.sh: unknown argument '$1' (expected --full, --quick, --out DIR, --threads N, --seed N)" >&2; exit 2 ;;
    esac
done

build=build-main
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFEWBITS_BUILD_TESTS=OFF \
    -DFEWBITS_BUILD_BENCHMARKS=OFF -DFEWBITS_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" --target accumulate gradient_variance batch_vs_precision lm_batch_vs_precision
mkdir -p "$out"

echo "== accumulate"
"$build/examples/accumulate"
echo "== gradient_variance $grid"
"$build/examples/gradient_variance" "$grid" "${extra[@]}" --csv "$out/gradient_variance.csv" \
    --fits "$out/gradient_variance_fits.csv"
echo "== batch_vs_precision $grid"
"$build/examples/batch_vs_precision" "$grid" "${extra[@]}" --csv "$out/batch_vs_precision.csv"
echo "== batch_vs_precision: weights stored in the format at a small learning rate (lr 0.01, batch 512, 5 epochs)"
"$build/examples/batch_vs_precision" "${extra[@]}" --placements weights --formats fp32,bf16,e5m2,e4m3 --batches 512 \
    --epochs 5 --lr 0.01 --lr-scaling none --csv "$out/weights_small_lr.csv"
echo "== lm_batch_vs_precision $grid (the byte-level GPT on the Jargon File)"
"$build/examples/lm_batch_vs_precision" "$grid" "${lm_extra[@]}" --csv "$out/lm_batch_vs_precision.csv" \
    --curves "$out/lm_curves.csv" --variance "$out/lm_gradient_variance.csv"
echo "== plots"
scripts/plot_results.sh "$out"
