// Platform and compiler configuration for fewbits. Every piece of detection lives here so
// that the other headers only test FEWBITS_* macros.
#pragma once

#define FEWBITS_VERSION_MAJOR 0
#define FEWBITS_VERSION_MINOR 1
#define FEWBITS_VERSION_PATCH 0

// Run-time instruction-set dispatch (detail/dispatch.hpp): GCC and clang on x86-64 compile
// every kernel once per target (SSE2, AVX2, AVX-512) with function target attributes over
// GNU vector extensions, and pick the best the CPU has at run time, whatever -march the
// program was built with. xsimd cannot take part there: its per-architecture code exists only
// for the instruction sets enabled on the command line. Elsewhere (aarch64, whose NEON is
// always there; other compilers) the kernels use xsimd for the compile-time architecture,
// or the scalar core. Define FEWBITS_NO_DISPATCH to keep the compile-time choice on x86-64.
// A build with -march=native dispatches too, even when its -march has AVX-512, so that it runs
// the very kernels the default build runs (with the same fast paths) and is never the slower.
#if !defined(FEWBITS_NO_DISPATCH) && (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && !defined(_MSC_VER)
#define FEWBITS_DISPATCH 1
#else
#define FEWBITS_DISPATCH 0
#endif

// Without dispatch, SIMD comes from xsimd for the compile-time architecture (the user's -march), when it is on the
// include path and not disabled with FEWBITS_NO_XSIMD. Without it every kernel runs the
// scalar core, with the same results bit for bit.
#if !FEWBITS_DISPATCH && !defined(FEWBITS_NO_XSIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#define FEWBITS_HAS_XSIMD 1
#endif
#endif
#ifndef FEWBITS_HAS_XSIMD
#define FEWBITS_HAS_XSIMD 0
#endif

// The rounding core is written once for scalar and vector lanes; in the dispatched kernels
// its vector instantiations must be inlined into each target's function (where the target's
// instructions are enabled), at every optimisation level, -O0 included.
#if defined(__GNUC__) || defined(__clang__)
#define FEWBITS_ALWAYS_INLINE __attribute__((always_inline))
#else
#define FEWBITS_ALWAYS_INLINE
#endif

// GCC 12's AVX-512 intrinsics initialise a register from itself (_mm512_undefined_epi32:
// `__m512i __Y = __Y;`, GCC PR 105593, fixed in GCC 13), and once they are inlined into
// our kernels -Wmaybe-uninitialized/-Wuninitialized report it at every use: false warnings
// that -Werror users could not build through. The headers whose functions inline SIMD code
// (detail/encode.hpp, decode.hpp, simd.hpp, vec.hpp, dispatch.hpp, random.hpp, kernels.hpp)
// wrap themselves in these two macros, which silence exactly those warnings and nothing else.
// GCC also notes (-Wpsabi) that the vector-lane instantiations of the core pass 32- and
// 64-byte vectors by value: they are always inlined (FEWBITS_ALWAYS_INLINE), never called.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#define FEWBITS_SIMD_DIAGNOSTICS_PUSH                                  \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
        _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") _Pragma("GCC diagnostic ignored \"-Wpsabi\"")
#define FEWBITS_SIMD_DIAGNOSTICS_POP _Pragma("GCC diagnostic pop")
#elif defined(__GNUC__) && !defined(__clang__)
#define FEWBITS_SIMD_DIAGNOSTICS_PUSH _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wpsabi\"")
#define FEWBITS_SIMD_DIAGNOSTICS_POP _Pragma("GCC diagnostic pop")
#elif defined(__clang__)
// clang reports the same ABI point as an error under -Werror: silenced for these headers only.
#define FEWBITS_SIMD_DIAGNOSTICS_PUSH                                                           \
    _Pragma("clang diagnostic push") _Pragma("clang diagnostic ignored \"-Wunknown-warning-option\"") \
        _Pragma("clang diagnostic ignored \"-Wpsabi\"")
#define FEWBITS_SIMD_DIAGNOSTICS_POP _Pragma("clang diagnostic pop")
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
