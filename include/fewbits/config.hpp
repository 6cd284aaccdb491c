// Platform, compiler and error-reporting configuration for fewbits. Every piece of
// detection lives here so that the other headers only test FEWBITS_* macros.
#pragma once

#include <stdexcept>
#include <string>

#define FEWBITS_VERSION_MAJOR 0
#define FEWBITS_VERSION_MINOR 1
#define FEWBITS_VERSION_PATCH 0

namespace fewbits::detail {

// All argument errors go through here, so that a build without exceptions has one
// place to change. The message always names the argument and the offending value.
[[noreturn]] inline void invalid_argument(const std::string& message)
{
    throw std::invalid_argument("fewbits: " + message);
}

}  // namespace fewbits::detail
