# isa.digests_match: every build of the ISA matrix must produce the same digest as this
# build's own fewbits_digest ("same bits on every CPU"). Run with cmake -P and
#   -DMAIN_DIGEST=<path of this build's fewbits_digest>
#   -DDIGEST_DIR=<directory of the <name>.digest files written by cmake/isa-build.sh>
#   -DNAMES=<comma-separated configuration names>  -DMIN_DIGESTS=<fewest acceptable>
# A configuration may be missing only because it was skipped (AVX-512 on a CPU without
# it); MIN_DIGESTS makes sure that this cannot hide a matrix that did not run at all.
foreach(_var IN ITEMS MAIN_DIGEST DIGEST_DIR NAMES MIN_DIGESTS)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "isa-digests-match.cmake: -D${_var}=... is required")
  endif()
endforeach()

execute_process(COMMAND "${MAIN_DIGEST}"
                OUTPUT_VARIABLE _main OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR NOT _main MATCHES "^digest: [0-9a-f]+$")
  message(FATAL_ERROR "this build's fewbits_digest failed (exit ${_rc}) or printed "
                      "'${_main}' instead of 'digest: <hex>'")
endif()

string(REPLACE "," ";" NAMES "${NAMES}")
set(_width 6)  # "native"
foreach(_name IN LISTS NAMES)
  string(LENGTH "${_name}" _len)
  if(_len GREATER _width)
    set(_width ${_len})
  endif()
endforeach()
function(_pad out name)
  string(LENGTH "${name}" _len)
  math(EXPR _fill "${_width} - ${_len} + 2")
  string(REPEAT " " ${_fill} _spaces)
  set(${out} "  ${name}${_spaces}" PARENT_SCOPE)
endfunction()

_pad(_label native)
set(_report "${_label}${_main}\n")
set(_count 0)
set(_differ "")
set(_missing "")
foreach(_name IN LISTS NAMES)
  set(_file "${DIGEST_DIR}/${_name}.digest")
  if(NOT EXISTS "${_file}")
    list(APPEND _missing "${_name}")
    _pad(_label "${_name}")
    string(APPEND _report "${_label}(no digest: skipped or failed)\n")
    continue()
  endif()
  file(READ "${_file}" _digest)
  string(STRIP "${_digest}" _digest)
  math(EXPR _count "${_count} + 1")
  _pad(_label "${_name}")
  string(APPEND _report "${_label}${_digest}\n")
  if(NOT _digest STREQUAL _main)
    list(APPEND _differ "${_name}")
  endif()
endforeach()
string(REGEX REPLACE "\n$" "" _report "${_report}")
message("${_report}")

if(_differ)
  list(JOIN _differ ", " _differ)
  message(FATAL_ERROR "digests differ from the native build: ${_differ}")
endif()
if(_count LESS MIN_DIGESTS)
  list(JOIN _missing ", " _missing)
  message(FATAL_ERROR "only ${_count} ISA digests (missing: ${_missing}); at least "
                      "${MIN_DIGESTS} are required")
endif()
message("all ${_count} ISA digests equal the native one")
