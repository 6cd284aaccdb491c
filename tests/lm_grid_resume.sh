#!/usr/bin/env bash
# lm_grid_resume.sh: an interrupted lm_batch_vs_precision grid continued with --resume ends with
# the same CSV as the grid that ran through (every column but the seconds), running only the
# runs that were missing; and the numbers do not depend on how many runs go at once (--jobs).
#
# Usage: lm_grid_resume.sh DIR -- PROGRAM ARGS...   (ARGS: a small grid, without --csv/--jobs)
set -euo pipefail
if (($# < 3)) || [[ $2 != -- ]]; then
    echo "usage: $0 DIR -- PROGRAM ARGS..." >&2
    exit 2
fi
dir=$1
shift 2
rm -rf "$dir"
mkdir -p "$dir"
"$@" --jobs 2 --csv "$dir/whole.csv" >"$dir/whole.out"
runs=$(($(wc -l <"$dir/whole.csv") - 1))
# An interruption: the log of finished runs (PATH.partial) holds the header, the first third of
# the runs (in another order than the grid's) and half a line.
keep=$((runs / 3))
{
    head -1 "$dir/whole.csv"
    tail -n +2 "$dir/whole.csv" | tac | head -"$keep"
    tail -1 "$dir/whole.csv" | cut -c1-20
} >"$dir/resumed.csv.partial"
"$@" --jobs 1 --csv "$dir/resumed.csv" --resume >"$dir/resumed.out"
if ! grep -q "($((runs - keep)) to do)" "$dir/resumed.out"; then
    echo "lm_grid_resume: the resumed grid should have run $((runs - keep)) of $runs runs:" >&2
    grep "to do" "$dir/resumed.out" >&2
    exit 1
fi
if ! diff <(cut -d, -f1-11 "$dir/whole.csv") <(cut -d, -f1-11 "$dir/resumed.csv") >&2; then
    echo "lm_grid_resume: the resumed grid's CSV differs from the uninterrupted grid's" >&2
    exit 1
fi
[[ ! -e $dir/resumed.csv.partial ]] || { echo "lm_grid_resume: resumed.csv.partial left behind" >&2; exit 1; }
echo "lm_grid_resume: $keep of $runs runs kept, the rest run again; the CSVs agree"
