// Platform, compiler and error-reporting configuration for fewbits. Every piece of
// detection lives here so that the other headers only test FEWBITS_* macros.
#pragma once

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

namespace fewbits::detail {

// All argument errors go through here, so that a build without exceptions has one
// place to change. The message always names the argument and the offending value.
[[noreturn]] inline void invalid_argument(const std::string& message)
{
    throw std::invalid_argument("fewbits: " + message);
}

}  // namespace fewbits::detail
