#!/usr/bin/env bash
# Static analysis of the library headers (ctest test static_analysis, label hardening):
# clang-tidy with the checked-in .clang-tidy and cppcheck, both on tests/strict_warnings.cpp,
# the translation unit that instantiates every header. Any finding fails.
#
# Usage: cmake/static-analysis.sh [SOURCE_DIR]      (default: this script's repository)
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
tu=$src/tests/strict_warnings.cpp
status=0
for tool in clang-tidy cppcheck; do
    if ! command -v "$tool" >/dev/null; then
        echo "static-analysis.sh: $tool not found; install it with cmake/install-deps.sh --with-hardening" >&2
        exit 1
    fi
done

echo "== clang-tidy ($(clang-tidy --version | grep -o 'version [0-9.]*'))"
# xsimd on (the SIMD kernels) for x86-64-v3; the scalar path is the same lane-generic core.
if ! clang-tidy --quiet "--config-file=$src/.clang-tidy" "$tu" -- -std=c++20 "-I$src/include" -march=x86-64-v3 \
    -DFEWBITS_STRICT_WITH_ZLIB=1; then
    status=1
fi

echo "== cppcheck ($(cppcheck --version))"
# cppcheck does not read the system headers (xsimd among them), so it analyses the scalar
# path. Inline suppressions (// cppcheck-suppress id ; why) mark its known false positives.
if ! cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
    --std=c++20 --language=c++ --suppress=missingIncludeSystem -DFEWBITS_NO_XSIMD \
    --template='{file}:{line}: {severity}: {message} [{id}]' "-I$src/include" "$tu"; then
    status=1
fi
if ((status == 0)); then echo "static-analysis.sh: no findings"; fi
exit $status
