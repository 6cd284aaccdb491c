# Hardening tests (label `hardening`), registered for a top-level x86-64 Linux build with
# tests (option FEWBITS_HARDENING): valgrind memcheck on a representative subset, clang-tidy
# and cppcheck, a minute of fuzzing per libFuzzer target. The ASan + UBSan build of the
# whole unit suite with clang++ is a configuration of the ISA matrix (isa.asan_ubsan, in
# cmake/isa-matrix.cmake), so that it also checks the digest. The tools come from
# cmake/install-deps.sh --with-hardening; a missing tool fails its test with that hint.

get_property(_fewbits_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)
set(_fewbits_hardening_default OFF)
if(PROJECT_IS_TOP_LEVEL AND NOT CMAKE_CROSSCOMPILING AND NOT _fewbits_multi_config
   AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(_fewbits_hardening_default ON)
endif()
option(FEWBITS_HARDENING "Register the hardening tests (label hardening; x86-64 Linux)"
       ${_fewbits_hardening_default})
if(NOT FEWBITS_HARDENING)
  return()
endif()

find_program(FEWBITS_BASH bash REQUIRED)
find_program(FEWBITS_VALGRIND valgrind)
set(_hint "install it with cmake/install-deps.sh --with-hardening")

# --- valgrind memcheck: the SGD layer and the loader, every kernel and format (through
# fewbits_digest), the examples. Not for builds valgrind cannot run (AVX-512 code,
# sanitizers).
string(TOLOWER "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_RELEASE}" _flags)
if(_flags MATCHES "sanitize|native|x86-64-v4|avx512")
  message(STATUS "fewbits: the valgrind tests are off for these compiler flags (${CMAKE_CXX_FLAGS})")
else()
  # (Only the programs this build has: FEWBITS_TEST_PROGRAMS may name a subset.)
  set(_valgrind_runs "digest|$<TARGET_FILE:fewbits_digest>")
  foreach(_program IN ITEMS test_momentum test_sgd test_sgd_data)
    if(TARGET ${_program})
      list(APPEND _valgrind_runs "${_program}|$<TARGET_FILE:${_program}>")
    endif()
  endforeach()
  if(TARGET quickstart)
    list(APPEND _valgrind_runs "quickstart|$<TARGET_FILE:quickstart>"
                               "accumulate|$<TARGET_FILE:accumulate>|--seeds|10")
  endif()
  foreach(_run IN LISTS _valgrind_runs)
    string(REPLACE "|" ";" _run "${_run}")
    list(POP_FRONT _run _name)
    if(FEWBITS_VALGRIND)
      add_test(NAME valgrind.${_name}
               COMMAND "${FEWBITS_VALGRIND}" -q --error-exitcode=99 --leak-check=full
                       --errors-for-leak-kinds=definite,indirect ${_run})
    else()
      add_test(NAME valgrind.${_name} COMMAND "${CMAKE_COMMAND}" -E echo "valgrind not found; ${_hint}")
      set_tests_properties(valgrind.${_name} PROPERTIES WILL_FAIL TRUE)
    endif()
    set_tests_properties(valgrind.${_name} PROPERTIES LABELS hardening TIMEOUT 900)
  endforeach()
endif()

# --- clang-tidy (.clang-tidy) and cppcheck on tests/strict_warnings.cpp.
add_test(NAME static_analysis COMMAND "${FEWBITS_BASH}" "${PROJECT_SOURCE_DIR}/cmake/static-analysis.sh"
                                      "${PROJECT_SOURCE_DIR}")
set_tests_properties(static_analysis PROPERTIES LABELS hardening TIMEOUT 1200 COST 500)

# --- libFuzzer: a minute per target on the corpus in tests/fuzz/corpus.
set(FEWBITS_FUZZ_SECONDS 60 CACHE STRING "How long the fuzz test runs each libFuzzer target")
add_test(NAME fuzz COMMAND "${FEWBITS_BASH}" "${PROJECT_SOURCE_DIR}/cmake/fuzz.sh"
                           --seconds "${FEWBITS_FUZZ_SECONDS}" --build "${PROJECT_BINARY_DIR}/fuzz"
                           --cmake "${CMAKE_COMMAND}")
set_tests_properties(fuzz PROPERTIES LABELS hardening TIMEOUT 1800 COST 800)
