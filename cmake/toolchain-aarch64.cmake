# Cross toolchain for 64-bit ARM Linux (NEON) with Debian's g++-aarch64-linux-gnu; the
# programs run under qemu-user (Debian: qemu-user). cmake/install-deps.sh --with-cross
# installs both. Usage:
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake \
#         -DFEWBITS_BUILD_BENCHMARKS=OFF
# ctest then runs the tests through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR).
# Google Benchmark has no arm64 build on the host, hence benchmarks off.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(_fewbits_triple aarch64-linux-gnu)
set(_fewbits_sysroot /usr/${_fewbits_triple})

set(CMAKE_C_COMPILER ${_fewbits_triple}-gcc)
set(CMAKE_CXX_COMPILER ${_fewbits_triple}-g++)

# -L: where qemu finds the ARM dynamic loader and libstdc++ (the cross packages' runtime).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${_fewbits_sysroot})

# Libraries, headers and CMake packages only from the ARM tree; programs (tools that run
# during the build) from the host.
set(CMAKE_FIND_ROOT_PATH ${_fewbits_sysroot})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# xsimd and Catch2 v2 are header-only, so the host's copies in /usr/include serve the ARM
# build too; but /usr/include itself must stay off the cross compiler's path (it holds the
# host's glibc and kernel headers). So the build tree gets a directory with nothing but
# links to those two, and fewbits uses it through FEWBITS_XSIMD_INCLUDE_DIR and
# FEWBITS_CATCH2_INCLUDE_DIR (set here unless given on the command line).
# Not inside try_compile, which reads this file again in a scratch directory.
get_property(_fewbits_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT _fewbits_in_try_compile)
  set(_fewbits_links "${CMAKE_BINARY_DIR}/host-header-only")
  file(MAKE_DIRECTORY "${_fewbits_links}")
  foreach(_fewbits_dep IN ITEMS xsimd catch2 benchmark)
    if(EXISTS "/usr/include/${_fewbits_dep}" AND NOT EXISTS "${_fewbits_links}/${_fewbits_dep}")
      file(CREATE_LINK "/usr/include/${_fewbits_dep}" "${_fewbits_links}/${_fewbits_dep}" SYMBOLIC)
    endif()
  endforeach()
  if(EXISTS "${_fewbits_links}/xsimd/xsimd.hpp")
    set(FEWBITS_XSIMD_INCLUDE_DIR "${_fewbits_links}" CACHE PATH
        "Directory that contains xsimd/xsimd.hpp")
  endif()
  # Google Benchmark for arm64 comes from Debian's multiarch package (libbenchmark-dev:arm64,
  # installed by cmake/install-deps.sh --with-cross) under /usr/lib/aarch64-linux-gnu, which
  # is outside the sysroot; its headers are the host's (architecture-independent).
  set(_fewbits_arm64_benchmark "/usr/lib/${_fewbits_triple}/libbenchmark.so")
  if(EXISTS "${_fewbits_arm64_benchmark}" AND EXISTS "${_fewbits_links}/benchmark/benchmark.h")
    set(FEWBITS_BENCHMARK_LIBRARY "${_fewbits_arm64_benchmark}" CACHE FILEPATH
        "Google Benchmark library to use when no benchmark package is found (cross builds)")
    set(FEWBITS_BENCHMARK_INCLUDE_DIR "${_fewbits_links}" CACHE PATH
        "Directory that contains benchmark/benchmark.h, with FEWBITS_BENCHMARK_LIBRARY")
  endif()
  if(EXISTS "${_fewbits_links}/catch2/catch.hpp")
    set(FEWBITS_CATCH2_INCLUDE_DIR "${_fewbits_links}" CACHE PATH
        "Directory that contains catch2/catch.hpp (Catch2 v2), used when no Catch2 package is found")
  endif()
endif()
