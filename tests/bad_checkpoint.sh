#!/usr/bin/env bash
# bad_checkpoint.sh: a training program (tiny_gpt, batch_vs_precision) refuses every bad
# checkpoint given to --resume with exit status 2 and a message naming the file and the reason,
# and overwrites nothing (the same path is also given to --checkpoint). The cases: no such file,
# truncated, one byte changed (checksum), wrong magic, another version, another model shape,
# another storage format, another setting (learning rate).
#
# Usage: bad_checkpoint.sh DIR "OTHER-SHAPE OPTIONS" "OTHER-FORMAT OPTIONS" -- PROGRAM ARGS...
#   the run PROGRAM ARGS writes the good checkpoint; the option strings (split on spaces) are
#   appended to make a run of another shape and of another storage format; an empty string
#   skips that case (a program whose shape no option changes without other data).
set -euo pipefail
if (($# < 5)) || [[ $4 != -- ]]; then
    echo "usage: $0 DIR \"OTHER-SHAPE OPTIONS\" \"OTHER-FORMAT OPTIONS\" -- PROGRAM ARGS..." >&2
    exit 2
fi
dir=$1
read -ra other_shape <<<"$2"
read -ra other_format <<<"$3"
shift 4
program=("$@")
rm -rf "$dir"
mkdir -p "$dir"
good=$dir/good.fbck
"${program[@]}" --checkpoint "$good" >"$dir/good.out"
size=$(stat -c %s "$good")
failures=0

# expect_refusal NAME REASON FILE [OPTIONS...]: --resume FILE --checkpoint FILE [OPTIONS] must
# exit 2, name FILE and REASON on stderr, and leave FILE (when it exists) as it was.
expect_refusal() {
    local name=$1 reason=$2 file=$3
    shift 3
    [[ -e $file ]] && cp "$file" "$dir/before"
    local status=0
    "${program[@]}" "$@" --resume "$file" --checkpoint "$file" >"$dir/$name.out" 2>"$dir/$name.err" || status=$?
    local problem=
    if ((status != 2)); then
        problem="exit status $status, expected 2"
    elif ! grep -qF -- "$file" "$dir/$name.err"; then
        problem="the message does not name $file"
    elif ! grep -qF -- "$reason" "$dir/$name.err"; then
        problem="the message does not say '$reason'"
    elif [[ -e $dir/before ]] && ! cmp -s "$file" "$dir/before"; then
        problem="$file was overwritten"
    fi
    rm -f "$dir/before"
    if [[ -n $problem ]]; then
        echo "FAILED $name: $problem; stderr:"
        cat "$dir/$name.err"
        failures=$((failures + 1))
    else
        echo "ok $name: $(head -c 300 "$dir/$name.err")"
    fi
}

# patch FILE OFFSET BYTE: writes one byte (a decimal value) at OFFSET.
patch() {
    printf "\\$(printf '%03o' "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
byte_at() {
    od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '
}

expect_refusal missing "no such checkpoint file" "$dir/none.fbck"

head -c $((size / 2)) "$good" >"$dir/truncated.fbck"
expect_refusal truncated "truncated" "$dir/truncated.fbck"

cp "$good" "$dir/corrupted.fbck"
middle=$((size / 2))
patch "$dir/corrupted.fbck" "$middle" $(($(byte_at "$good" "$middle") ^ 16))
expect_refusal corrupted "corrupted: the CRC-32" "$dir/corrupted.fbck"

cp "$good" "$dir/magic.fbck"
patch "$dir/magic.fbck" 0 71  # 'G'
expect_refusal magic "not a fewbits checkpoint" "$dir/magic.fbck"

cp "$good" "$dir/version.fbck"
patch "$dir/version.fbck" 4 2
expect_refusal version "checkpoint version 2, this build reads version 1" "$dir/version.fbck"

if ((${#other_shape[@]})); then
    cp "$good" "$dir/shape.fbck"
    expect_refusal shape "a checkpoint of another model" "$dir/shape.fbck" "${other_shape[@]}"
fi

cp "$good" "$dir/format.fbck"
expect_refusal format "a checkpoint of another model or format" "$dir/format.fbck" "${other_format[@]}"

cp "$good" "$dir/setting.fbck"
expect_refusal setting "a checkpoint of another run: it has 'lr" "$dir/setting.fbck" --lr 0.0123

if ((failures > 0)); then
    echo "$failures case(s) failed"
    exit 1
fi
echo "every bad checkpoint was refused with exit status 2, naming the file and the reason"
