# Driver of the consumer tests (cmake -D... -P run_consumer.cmake), one per MODE:
#   find_package (default): 1. cmake --install FEWBITS_BINARY_DIR --prefix WORK_DIR/prefix
#     2. configure CONSUMER_SOURCE_DIR with that prefix only (explicit fewbits_DIR, no
#     package registry), same generator and C++ compiler  3. build it and run the executable.
#   pkg_config: 1. install as above  2. pkg-config --cflags fewbits from the prefix only
#     3. compile CONSUMER_SOURCE_DIR/main.cpp with those flags alone, run it.
#   add_subdirectory: configure CONSUMER_SOURCE_DIR (a project that add_subdirectory()s
#     FEWBITS_SOURCE_DIR), build it and run the executable. No install.
# Any failing step stops with FATAL_ERROR and the step's full output.
if(NOT DEFINED MODE OR MODE STREQUAL "")
  set(MODE find_package)
endif()
set(_required CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
if(MODE STREQUAL "add_subdirectory")
  list(APPEND _required FEWBITS_SOURCE_DIR)
else()
  list(APPEND _required FEWBITS_BINARY_DIR CONFIG_SUBDIR)
endif()
foreach(_var ${_required})
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${_var}=... is required")
  endif()
endforeach()

set(_prefix "${WORK_DIR}/prefix")
set(_build "${WORK_DIR}/build")
set(_fewbits_dir "${_prefix}/${CONFIG_SUBDIR}")
# Fresh every time: a stale prefix or cache could hide a broken install.
file(REMOVE_RECURSE "${_prefix}" "${_build}")

function(_run_step what)
  string(REPLACE ";" " " _cmdline "${ARGN}")
  message(STATUS "consumer: ${what}: ${_cmdline}")
  execute_process(COMMAND ${ARGN}
                  RESULT_VARIABLE _rc
                  OUTPUT_VARIABLE _out
                  ERROR_VARIABLE _out)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${_rc}):\n${_cmdline}\n${_out}")
  endif()
  set(_step_output "${_out}" PARENT_SCOPE)
endfunction()

set(_config_args "")
if(NOT "${CONFIG}" STREQUAL "")
  set(_config_args --config "${CONFIG}")
endif()

# 1. Install.
if(NOT MODE STREQUAL "add_subdirectory")
  _run_step("install" "${CMAKE_COMMAND}" --install "${FEWBITS_BINARY_DIR}"
            --prefix "${_prefix}" ${_config_args})
  if(NOT EXISTS "${_fewbits_dir}/fewbits-config.cmake")
    message(FATAL_ERROR "consumer: install did not produce ${_fewbits_dir}/fewbits-config.cmake\n"
                        "${_step_output}")
  endif()
endif()

if(MODE STREQUAL "pkg_config")
  find_program(_pkg_config NAMES pkg-config pkgconf)
  if(NOT _pkg_config)
    message(FATAL_ERROR "consumer: pkg-config not found (apt-get install pkg-config)")
  endif()
  # Only the private prefix may answer: PKG_CONFIG_LIBDIR replaces the default search path.
  set(ENV{PKG_CONFIG_LIBDIR} "${_prefix}/share/pkgconfig")
  unset(ENV{PKG_CONFIG_PATH})
  _run_step("pkg-config" "${_pkg_config}" --cflags fewbits)
  string(STRIP "${_step_output}" _cflags)
  separate_arguments(_cflags UNIX_COMMAND "${_cflags}")
  file(REAL_PATH "${_prefix}/include" _expected_include)
  set(_found FALSE)
  foreach(_flag IN LISTS _cflags)
    if(_flag MATCHES "^-I(.*)$")
      file(REAL_PATH "${CMAKE_MATCH_1}" _inc)
      if(_inc STREQUAL _expected_include)
        set(_found TRUE)
      endif()
    endif()
  endforeach()
  if(NOT _found)
    message(FATAL_ERROR "consumer: pkg-config --cflags fewbits gave '${_cflags}', no -I${_expected_include}")
  endif()
  file(MAKE_DIRECTORY "${_build}")
  _run_step("compile" "${CXX_COMPILER}" -std=c++20 ${_cflags} "${CONSUMER_SOURCE_DIR}/main.cpp"
            -o "${_build}/fewbits_consumer")
  _run_step("run" "${_build}/fewbits_consumer")
  message(STATUS "consumer: ${_step_output}")
  return()
endif()

# 2. Configure.
set(_configure "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_build}" -G "${GENERATOR}")
if(NOT "${GENERATOR_PLATFORM}" STREQUAL "")
  list(APPEND _configure -A "${GENERATOR_PLATFORM}")
endif()
if(NOT "${GENERATOR_TOOLSET}" STREQUAL "")
  list(APPEND _configure -T "${GENERATOR_TOOLSET}")
endif()
if(NOT "${MAKE_PROGRAM}" STREQUAL "")
  list(APPEND _configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(NOT MULTI_CONFIG AND NOT "${CONFIG}" STREQUAL "")
  list(APPEND _configure "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
list(APPEND _configure "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MODE STREQUAL "add_subdirectory")
  list(APPEND _configure "-DFEWBITS_SOURCE_DIR=${FEWBITS_SOURCE_DIR}")
  _run_step("configure" ${_configure})
else()
  list(APPEND _configure
    "-DCMAKE_PREFIX_PATH=${_prefix}"
    "-Dfewbits_DIR=${_fewbits_dir}"
    "-DFEWBITS_EXPECTED_PREFIX=${_prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  _run_step("configure" ${_configure})

  # Belt and braces: the cache must name the installed package, not the build tree.
  file(STRINGS "${_build}/CMakeCache.txt" _cached REGEX "^fewbits_DIR:")
  string(REGEX REPLACE "^fewbits_DIR:[A-Z]+=" "" _cached "${_cached}")
  file(REAL_PATH "${_cached}" _cached_real)
  file(REAL_PATH "${_fewbits_dir}" _expected_real)
  if(NOT _cached_real STREQUAL _expected_real)
    message(FATAL_ERROR "consumer: fewbits_DIR is '${_cached}', expected '${_fewbits_dir}'")
  endif()
endif()

# 3. Build and run.
_run_step("build" "${CMAKE_COMMAND}" --build "${_build}" ${_config_args})

set(_exe_file "${_build}/consumer-exe-${CONFIG}.txt")
if(NOT EXISTS "${_exe_file}")
  message(FATAL_ERROR "consumer: ${_exe_file} missing (configuration mismatch?)")
endif()
file(READ "${_exe_file}" _exe)
_run_step("run" "${_exe}")
message(STATUS "consumer: ${_step_output}")
