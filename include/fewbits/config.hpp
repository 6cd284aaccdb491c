// Platform and compiler configuration for fewbits. Every piece of detection lives here so
// that the other headers only test FEWBITS_* macros.
#pragma once

#define FEWBITS_VERSION_MAJOR 0
#define FEWBITS_VERSION_MINOR 1
#define FEWBITS_VERSION_PATCH 0

// SIMD: xsimd for the compile-time architecture (the user's -march), when it is on the
// include path and not disabled with FEWBITS_NO_XSIMD. Without it every kernel runs the
// scalar core, with the same results bit for bit.
#if !defined(FEWBITS_NO_XSIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#define FEWBITS_HAS_XSIMD 1
#endif
#endif
#ifndef FEWBITS_HAS_XSIMD
#define FEWBITS_HAS_XSIMD 0
#endif

// Exceptions: on unless the compiler was told otherwise (-fno-exceptions). Without them,
// every error that would throw calls the error handler instead (error.hpp).
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FEWBITS_EXCEPTIONS 1
#else
#define FEWBITS_EXCEPTIONS 0
#endif
