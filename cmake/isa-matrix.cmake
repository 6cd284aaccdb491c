# The ISA matrix ("same bits on every CPU"): ctest tests, label `matrix`, that build and
# run the unit tests and fewbits_digest once per toolchain or build that the main build
# cannot stand in for, in sub-builds under <build>/isa/<name>, then compare every digest with
# this build's own. SSE2, AVX2 and AVX-512 need no build of their own: with run-time
# dispatch the main build's differential tests and digest run every instruction set the CPU
# has, in one process (test_kernels, fewbits_digest, build_flags).
#   isa.neon_qemu   aarch64 NEON (xsimd, compile-time), cross-compiled, run under qemu-aarch64
#                   (with the benchmarks)
#   isa.no_xsimd    FEWBITS_DISPATCH=OFF and FEWBITS_WITH_XSIMD=OFF (the scalar fallback),
#                   -march=x86-64-v3 so that the compiler may contract the fallback's float
#                   arithmetic into FMA; only the test programs that run kernel, GEMM or
#                   element-wise code (the others test nothing this build changes)
#   isa.asan_ubsan  clang++, ASan + UBSan, run-time dispatch (every target the CPU has)
#                   (labels matrix and hardening)
#   isa.xsimd13_catch2v3  xsimd 13.2 (compile-time AVX2, FEWBITS_DISPATCH=OFF) and Catch2 v3.7
#                   from Debian trixie (cmake/versions-build.sh); the kernel tests and enough
#                   others that every Catch2 macro of the suite is compiled
#   isa.digests_match   all digests equal the native one, at least 3 of them
# The exhaustive sweeps (label long) are ISA-independent and run only in this build.
# Included from tests/CMakeLists.txt after the fewbits_digest and fewbits_simd_arch targets.

set(_fewbits_isa_default OFF)
get_property(_fewbits_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
if(PROJECT_IS_TOP_LEVEL AND NOT CMAKE_CROSSCOMPILING AND NOT _fewbits_multi_config
   AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_fewbits_isa_default ON)
endif()
option(FEWBITS_ISA_MATRIX
       "Register the ctest tests (label matrix) that build and test every ISA (x86-64 Linux)"
       ${_fewbits_isa_default})
if(NOT FEWBITS_ISA_MATRIX)
  return()
endif()

find_program(FEWBITS_BASH bash REQUIRED)
set(_fewbits_isa_root "${CMAKE_BINARY_DIR}/isa")
set(_fewbits_isa_script "${PROJECT_SOURCE_DIR}/cmake/isa-build.sh")
set(_fewbits_isa_names "")

# fewbits_isa_config(NAME EXPECT_SIMD REGEX COST N [CPU flags...] [PROGRAMS progs...]
#                    [EMULATOR cmd...] ARGS cmake-args...)
function(fewbits_isa_config name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "EXPECT_SIMD;COST;SCRIPT" "CPU;PROGRAMS;EMULATOR;ARGS;LABELS")
  if(NOT arg_SCRIPT)
    set(arg_SCRIPT "${_fewbits_isa_script}")
  endif()
  if(NOT arg_LABELS)
    set(arg_LABELS matrix)
  endif()
  # Optional script arguments only when given: an empty argument would not survive
  # into the ctest command line reliably.
  set(_options "")
  foreach(_pair IN ITEMS "CPU;--require-cpu" "PROGRAMS;--require-programs" "EMULATOR;--emulator")
    list(GET _pair 0 _key)
    list(GET _pair 1 _flag)
    if(arg_${_key})
      list(JOIN arg_${_key} " " _value)
      list(APPEND _options "${_flag}" "${_value}")
    endif()
  endforeach()
  add_test(NAME isa.${name}
    COMMAND "${FEWBITS_BASH}" "${arg_SCRIPT}"
      --source "${PROJECT_SOURCE_DIR}"
      --build "${_fewbits_isa_root}/${name}"
      --digest "${_fewbits_isa_root}/${name}.digest"
      --expect-simd "${arg_EXPECT_SIMD}"
      --cmake "${CMAKE_COMMAND}"
      --ctest "${CMAKE_CTEST_COMMAND}"
      ${_options}
      -- -G "${CMAKE_GENERATOR}" ${arg_ARGS})
  # COST: ctest -j starts the longest tests first, so the sub-builds overlap with the
  # sweeps instead of trailing behind them.
  # TIMEOUT: isa.neon_qemu took 1910 s (1190 s of it building) beside isa.asan_ubsan on a day
  # the 2-core machine ran about 2x slower than usual; 2400 s left too little room for -O3.
  set_tests_properties(isa.${name} PROPERTIES
    LABELS "${arg_LABELS}"
    TIMEOUT 3600
    SKIP_RETURN_CODE 77
    COST ${arg_COST}
    FIXTURES_SETUP fewbits_isa_${name})
  set(_fewbits_isa_names ${_fewbits_isa_names} ${name} PARENT_SCOPE)
endfunction()

# x86 sub-builds use this build's compiler and build tool.
set(_fewbits_isa_x86_args
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}")

# The test programs that run kernel, GEMM or element-wise code: what a build that only changes
# how those are compiled (no xsimd, another xsimd) can change.
set(_fewbits_isa_kernel_tests
    test_kernels,test_words,test_updates,test_updates_adamw,test_momentum,test_int8,test_packed_random,test_block_formats,test_sgd,test_layers)
# aarch64 also changes the scalar core's compiler and CPU, so the core's own tests and the NEON
# fast paths join the kernel tests. Not the whole suite: compiled by the cross compiler and run
# under emulation it took 2260 s of CI's budget (the GPT, checkpoint and statistics programs do
# not depend on the instruction set beyond the kernels and GEMM tested here).
fewbits_isa_config(neon_qemu EXPECT_SIMD "neon" COST 2000
  PROGRAMS aarch64-linux-gnu-g++ qemu-aarch64
  EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu
  ARGS "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
       "-DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/toolchain-aarch64.cmake"
       -DFEWBITS_BUILD_BENCHMARKS=ON
       "-DFEWBITS_TEST_PROGRAMS=${_fewbits_isa_kernel_tests},test_fast_paths,test_formats,test_rounding,test_random,test_types,test_block_quantizer")
fewbits_isa_config(no_xsimd EXPECT_SIMD "^scalar$" COST 1000
  ARGS ${_fewbits_isa_x86_args} -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DFEWBITS_WITH_XSIMD=OFF
       -DFEWBITS_DISPATCH=OFF "-DFEWBITS_TEST_PROGRAMS=${_fewbits_isa_kernel_tests}")

# The whole unit suite under AddressSanitizer + UndefinedBehaviorSanitizer, built with
# clang++ (also the compiler matrix's clang leg: the other configurations use this build's
# compiler, g++ by default, so this is the one sub-build that also compiles the strict-warnings
# and header-alone checks); its digest must match like any other. Tools:
# cmake/install-deps.sh --with-hardening.
find_program(FEWBITS_CLANGXX clang++)
fewbits_isa_config(asan_ubsan EXPECT_SIMD "^(avx512|avx2)$" COST 1500 LABELS matrix hardening
  PROGRAMS clang++
  ARGS "-DCMAKE_CXX_COMPILER=${FEWBITS_CLANGXX}" "-DCMAKE_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
       -DFEWBITS_BUILD_COMPILE_CHECKS=ON
       # -O1, as ASan's documentation recommends: a third less compile time than -O3. Only here:
       # at -O1 g++ contracts the training layer's float arithmetic into FMA in other places than
       # at -O3 (other MLP bits in isa.no_xsimd and isa.xsimd13_catch2v3), see docs/testing.md.
       "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG"
       "-DCMAKE_CXX_FLAGS=-march=x86-64-v3 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer")

# The newer versions users have: xsimd 13.2 and Catch2 v3.7 from Debian trixie, fetched into
# the build tree (cmake/versions-build.sh; SKIPPED without access to deb.debian.org).
# The kernel tests, plus the programs that use a Catch2 macro the kernel tests do not (CAPTURE,
# CHECK_FALSE, CHECK_NOTHROW, SKIP): every macro of the suite then compiles against Catch2 v3.
fewbits_isa_config(xsimd13_catch2v3 EXPECT_SIMD "avx2" COST 1000
  SCRIPT "${PROJECT_SOURCE_DIR}/cmake/versions-build.sh"
  ARGS ${_fewbits_isa_x86_args} -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DFEWBITS_DISPATCH=OFF
       "-DFEWBITS_TEST_PROGRAMS=${_fewbits_isa_kernel_tests},test_formats,test_sgd_data,test_block_quantizer,test_paired_statistics")

list(JOIN _fewbits_isa_names "," _fewbits_isa_names_csv)
list(TRANSFORM _fewbits_isa_names PREPEND fewbits_isa_ OUTPUT_VARIABLE _fewbits_isa_fixtures)
add_test(NAME isa.digests_match
  COMMAND "${CMAKE_COMMAND}"
    "-DMAIN_DIGEST=$<TARGET_FILE:fewbits_digest>"
    "-DDIGEST_DIR=${_fewbits_isa_root}"
    "-DNAMES=${_fewbits_isa_names_csv}"
    -DMIN_DIGESTS=3
    -P "${PROJECT_SOURCE_DIR}/cmake/isa-digests-match.cmake")
set_tests_properties(isa.digests_match PROPERTIES
  LABELS matrix
  FIXTURES_REQUIRED "${_fewbits_isa_fixtures}")
