#!/usr/bin/env bash
# The ISA-matrix configuration isa.xsimd13_catch2v3: the build and unit tests with the newer
# versions users have, xsimd 13.2 (Debian trixie's libxsimd-dev, header-only) and Catch2 v3.7
# (trixie's source, built here with this machine's compiler: a prebuilt v3 library would
# come from a newer libstdc++). Both are fetched from deb.debian.org into the build tree,
# checked against pinned SHA-256 sums, and cached there; then cmake/isa-build.sh runs as for
# any other configuration, with them on the search paths. Exits 77 (SKIPPED) when the
# mirror cannot be reached.
#
# Usage: cmake/versions-build.sh ISA-BUILD-ARGUMENTS...   (those of cmake/isa-build.sh; the
#        --build directory's parent holds the downloads)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build_dir= cmake_cmd=cmake
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --build) build_dir=${args[i + 1]} ;;
        --cmake) cmake_cmd=${args[i + 1]} ;;
        --) break ;;
    esac
done
[[ -n "$build_dir" ]] || { echo "versions-build.sh: --build DIR is required" >&2; exit 2; }
cache=$(dirname "$build_dir")/versions-cache
mkdir -p "$cache"

mirror=http://deb.debian.org/debian/pool/main
fetch() {  # fetch URL SHA256: into $cache, verified
    local file=$cache/${1##*/}
    if [[ ! -f "$file" ]] || ! echo "$2  $file" | sha256sum -c --status; then
        if ! curl -fsS --max-time 120 -o "$file.part" "$1"; then
            echo "SKIPPED: cannot download $1 (no network to the Debian mirror?)"
            exit 77
        fi
        mv "$file.part" "$file"
    fi
    if ! echo "$2  $file" | sha256sum -c --status; then
        echo "versions-build.sh: FAILED: $file does not have the pinned SHA-256 $2" >&2
        exit 1
    fi
}
command -v curl >/dev/null || { echo "SKIPPED: curl is not installed"; exit 77; }

xsimd_deb=libxsimd-dev_13.2.0-1_amd64.deb
fetch "$mirror/x/xsimd/$xsimd_deb" 60878acfc02bfca76e8c31d53a1b9fdff490c319e53f620f4327c9786eaf631f
catch2_tar=catch2_3.7.1.orig.tar.gz
fetch "$mirror/c/catch2/$catch2_tar" c991b247a1a0d7bb9c39aa35faf0fe9e19764213f28ffba3109388e62ee0269c

xsimd_root=$cache/xsimd-13.2.0
if [[ ! -f "$xsimd_root/usr/include/xsimd/xsimd.hpp" ]]; then
    rm -rf "$xsimd_root"
    dpkg-deb -x "$cache/$xsimd_deb" "$xsimd_root"
fi
catch2_prefix=$cache/catch2-3.7.1
if [[ ! -f "$catch2_prefix/.complete" ]]; then
    rm -rf "$cache/Catch2-3.7.1" "$cache/catch2-build" "$catch2_prefix"
    tar -xzf "$cache/$catch2_tar" -C "$cache"
    # -O1: the test runner and its reporters gain nothing from -O3's longer compile (as for
    # fewbits_catch2_v2_main, tests/CMakeLists.txt).
    "$cmake_cmd" -S "$cache/Catch2-3.7.1" -B "$cache/catch2-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" -DBUILD_TESTING=OFF -DCATCH_INSTALL_DOCS=OFF -DCATCH_INSTALL_EXTRAS=ON >/dev/null
    "$cmake_cmd" --build "$cache/catch2-build"
    "$cmake_cmd" --install "$cache/catch2-build" --prefix "$catch2_prefix" >/dev/null
    touch "$catch2_prefix/.complete"
fi

exec "$here/isa-build.sh" "$@" "-DFEWBITS_XSIMD_INCLUDE_DIR=$xsimd_root/usr/include" \
    "-DCMAKE_PREFIX_PATH=$catch2_prefix"
