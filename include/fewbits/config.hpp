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

// GCC 12's AVX-512 intrinsics initialise a register from itself (_mm512_undefined_epi32:
// `__m512i __Y = __Y;`, GCC PR 105593, fixed in GCC 13), and once they are inlined into
// our kernels -Wmaybe-uninitialized/-Wuninitialized report it at every use: false warnings
// that -Werror users could not build through. The headers whose functions inline xsimd's
// AVX-512 code (random.hpp, kernels.hpp) wrap themselves in these two macros, which
// silence exactly those two warnings for GCC < 13 and nothing else.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define FEWBITS_SIMD_DIAGNOSTICS_PUSH                                  \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
        _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define FEWBITS_SIMD_DIAGNOSTICS_POP _Pragma("GCC diagnostic pop")
#else
#define FEWBITS_SIMD_DIAGNOSTICS_PUSH
#define FEWBITS_SIMD_DIAGNOSTICS_POP
#endif

// Exceptions: on unless the compiler was told otherwise (-fno-exceptions). Without them,
// every error that would throw calls the error handler instead (error.hpp).
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FEWBITS_EXCEPTIONS 1
#else
#define FEWBITS_EXCEPTIONS 0
#endif
