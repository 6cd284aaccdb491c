#!/usr/bin/env bash
# ctest build_flags (label matrix): compiles main.cpp, a program that calls every kernel, the
# ways users build: g++ and clang++, at -O0 -g and -O2, with -march=native, -march=x86-64-v3
# and no -march (plus g++ -march=native without run-time dispatch, at -O0 and -O2), always
# with -Wall -Wextra -Werror; runs each binary, which checks every result against the scalar
# core on every instruction set the build dispatches to, and checks that every build that
# dispatches picks the same kernels, -march or not. Two compilations at a time (the test machines have 2
# cores). A compiler that is not installed is skipped with a message; if none is, the test
# fails (it would otherwise pass without checking anything).
#
# Usage: build_flags.sh SOURCE_DIR WORK_DIR [EXTRA_FLAGS...]
#   EXTRA_FLAGS: e.g. -isystem <xsimd include dir> when xsimd is not on the default path.
set -uo pipefail

source_dir=$1 work_dir=$2
shift 2
extra=("$@")
mkdir -p "$work_dir"

compilers=()
for cxx in g++ clang++; do
    if command -v "$cxx" >/dev/null 2>&1; then
        compilers+=("$cxx")
    else
        echo "build_flags: SKIPPING $cxx: not installed"
    fi
done
if ((${#compilers[@]} == 0)); then
    echo "build_flags: FAILED: neither g++ nor clang++ is installed" >&2
    exit 1
fi

# One configuration: compile, then run. Writes its log to $work_dir/<name>.log and its
# status (0 = passed) to <name>.status.
one() {
    local cxx=$1 opt=$2 march=$3
    local name="${cxx}_${opt// /}_${march:-nomarch}"
    name=${name//[^A-Za-z0-9_.=-]/_}
    local exe="$work_dir/$name" log="$work_dir/$name.log"
    # shellcheck disable=SC2086  # opt and march are lists of flags
    {
        echo "== $cxx -std=c++20 $opt $march -Wall -Wextra -Werror"
        if "$cxx" -std=c++20 $opt $march -Wall -Wextra -Werror -I"$source_dir/include" "${extra[@]}" \
            "$source_dir/tests/user_flags/main.cpp" -o "$exe" 2>&1 && "$exe"; then
            echo 0 >"$work_dir/$name.status"
        else
            echo 1 >"$work_dir/$name.status"
        fi
    } >"$log" 2>&1
}

configs=()
for cxx in "${compilers[@]}"; do
    for opt in "-O0 -g" "-O2"; do
        for march in "-march=native" "-march=x86-64-v3" ""; do
            configs+=("$cxx|$opt|$march")
        done
    done
done
# Without run-time dispatch (FEWBITS_NO_DISPATCH): xsimd's compile-time kernels for the
# -march, including GCC's unoptimised AVX-512 build that xsimd 8.1 cannot compile.
if [[ " ${compilers[*]} " == *" g++ "* ]]; then
    configs+=("g++|-O0 -g|-march=native -DFEWBITS_NO_DISPATCH" "g++|-O2|-march=native -DFEWBITS_NO_DISPATCH")
fi

rm -f "$work_dir"/*.status "$work_dir"/*.log
running=0
for c in "${configs[@]}"; do
    IFS='|' read -r cxx opt march <<<"$c"
    one "$cxx" "$opt" "$march" &
    running=$((running + 1))
    if ((running >= 2)); then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
for log in "$work_dir"/*.log; do
    status_file=${log%.log}.status
    cat "$log"
    if [[ "$(cat "$status_file" 2>/dev/null)" != 0 ]]; then
        echo "build_flags: FAILED: $(head -1 "$log" | sed 's/^== //')"
        failed=1
    fi
done
# -march must not change which kernels run: every configuration that dispatches (all but
# FEWBITS_NO_DISPATCH) must report the same choice as the others, the builds without -march
# included (a -march=native build with AVX-512 once kept xsimd's slower compile-time kernels).
choices=$(for log in "$work_dir"/*.log; do
    head -1 "$log" | grep -q FEWBITS_NO_DISPATCH || grep '^kernel choice:' "$log"
done | sort | uniq -c)
if (($(wc -l <<<"$choices") != 1)); then
    echo "build_flags: FAILED: the dispatching configurations choose different kernels:"
    echo "$choices"
    failed=1
else
    echo "build_flags: every dispatching configuration runs the same kernels:$(sed 's/^ *[0-9]* kernel choice://' <<<"$choices")"
fi
expected=${#configs[@]}
got=$(ls "$work_dir"/*.status 2>/dev/null | wc -l)
if ((got != expected)); then
    echo "build_flags: FAILED: $got of $expected configurations reported a result" >&2
    failed=1
fi
((failed == 0)) && echo "build_flags: all $expected configurations compile warning-free and agree with the scalar core"
exit $failed
