#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages needed to build, test and benchmark fewbits.
# Idempotent: prints nothing and touches nothing when everything is already installed.
#
# Usage: cmake/install-deps.sh [--with-data] [--with-cross] [--with-hardening]
#   --with-data   also the Fashion-MNIST data set, the Jargon File (jargon-text) and gnuplot
#                 (the experiments and their plots)
#   --with-cross  also the aarch64 cross compiler, qemu-user and Google Benchmark for arm64
#                 (ARM builds under emulation; adds arm64 as a dpkg foreign architecture)
#   --with-hardening  also clang with its sanitizer and libFuzzer runtimes, clang-tidy,
#                 cppcheck, valgrind and curl (the hardening tests and the newer-versions build)
set -euo pipefail

packages=(build-essential cmake ninja-build g++ catch2 libbenchmark-dev libxsimd-dev zlib1g-dev pkg-config
    openmpi-bin libopenmpi-dev)

for arg in "$@"; do
    case "$arg" in
        --with-data) packages+=(dataset-fashion-mnist jargon-text gnuplot-nox) ;;
        --with-cross) packages+=(g++-aarch64-linux-gnu qemu-user libbenchmark-dev:arm64) ;;
        --with-hardening) packages+=(clang libclang-rt-dev clang-tidy cppcheck valgrind curl) ;;
        -h | --help)
            sed -n '2,12s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "install-deps.sh: unknown argument '$arg' (expected --with-data, --with-cross, --with-hardening)" >&2
            exit 2
            ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: dpkg-query not found; this script supports Debian/Ubuntu only." >&2
    echo "install-deps.sh: install the equivalents of: ${packages[*]}" >&2
    exit 1
fi

# With a foreign architecture enabled, a bare name can match two packages (amd64 and arm64):
# ask for the native one, then for an architecture-independent one.
native=$(dpkg --print-architecture)
missing=()
for pkg in "${packages[@]}"; do
    if [[ "$pkg" == *:* ]]; then
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    else
        status=$(dpkg-query -W -f='${Status}' "$pkg:$native" 2>/dev/null ||
            dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    fi
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps.sh: missing packages: ${missing[*]}" >&2
    echo "install-deps.sh: not root and sudo is not available; as root run:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
# Packages of another architecture (the arm64 Google Benchmark library that the cross
# build links) need that architecture enabled first.
for pkg in "${missing[@]}"; do
    if [[ "$pkg" == *:* ]]; then
        arch=${pkg##*:}
        if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
            "${as_root[@]}" dpkg --add-architecture "$arch"
        fi
    fi
done
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
