// Platform, compiler and error-reporting configuration for fewbits. Every piece of
// detection lives here so that the other headers only test FEWBITS_* macros.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

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
// every error that would throw calls the error handler instead (see below).
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define FEWBITS_EXCEPTIONS 1
#else
#define FEWBITS_EXCEPTIONS 0
#endif

namespace fewbits {

// Builds without exceptions: an error (bad argument, non-finite loss, unreadable data file)
// calls the handler with the message the exception would have carried, then std::abort()
// if the handler returns. The default handler prints the message to stderr. A handler may
// end the program its own way (exit code, longjmp to a recovery point); nothing that the
// failing call would have written has been written. Ignored when exceptions are on.
using error_handler = void (*)(const char* message);

namespace detail {
inline error_handler& error_handler_slot() noexcept
{
    static error_handler handler = nullptr;
    return handler;
}
}  // namespace detail

// Sets the handler (nullptr: the default) and returns the previous one.
inline error_handler set_error_handler(error_handler handler) noexcept
{
    const error_handler previous = detail::error_handler_slot();
    detail::error_handler_slot() = handler;
    return previous;
}

namespace detail {

// Throws E(args...), or without exceptions reports E's message and aborts. Every error of
// the library goes through here: the one place that knows how errors leave fewbits.
template <class E, class... Args>
[[noreturn]] void raise(Args&&... args)
{
#if FEWBITS_EXCEPTIONS
    throw E(static_cast<Args&&>(args)...);
#else
    const E error(static_cast<Args&&>(args)...);
    if (const error_handler handler = error_handler_slot()) {
        handler(error.what());
    } else {
        std::fputs(error.what(), stderr);
        std::fputc('\n', stderr);
    }
    std::abort();
#endif
}

// All argument errors go through here. The message always names the argument and the
// offending value.
[[noreturn]] inline void invalid_argument(const std::string& message)
{
    raise<std::invalid_argument>("fewbits: " + message);
}

}  // namespace detail
}  // namespace fewbits
