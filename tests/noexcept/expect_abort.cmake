# cmake -DPROGRAM=... [-DEMULATOR=...] -P expect_abort.cmake: the no-exceptions program with its default
# handler must print the error to stderr and abort (ctest's WILL_FAIL does not cover signals).
# EMULATOR (a cross build's CMAKE_CROSSCOMPILING_EMULATOR, a list) runs the program if set.
execute_process(COMMAND ${EMULATOR} "${PROGRAM}" abort RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR out MATCHES "not reached")
  message(FATAL_ERROR "expected an abort, got exit status '${rc}':\n${out}${err}")
endif()
if(NOT err MATCHES "fewbits: out.size\\(\\) \\(3\\) must equal in.size\\(\\) \\(4\\)")
  message(FATAL_ERROR "the error message is missing from stderr (status '${rc}'):\n${err}")
endif()
message(STATUS "aborted as expected ('${rc}'): ${err}")
