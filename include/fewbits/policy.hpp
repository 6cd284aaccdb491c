// The rounding vocabulary shared by every conversion: rounding modes, the overflow
// policy, the INT8 range, and the policy struct that carries them, with its validation.
#pragma once

#include <string>

#include "fewbits/config.hpp"
#include "fewbits/error.hpp"

namespace fewbits {

enum class rounding {
    nearest_even,  // round to nearest, ties to the even encoding (IEEE default)
    nearest_away,  // round to nearest, ties away from zero
    toward_zero,   // truncate the magnitude
    up,            // toward +infinity
    down,          // toward -infinity
    odd,           // exact values stay; otherwise the neighbour with an odd encoding
    stochastic,    // up with probability proportional to the distance (see convert)
};

enum class overflow {
    non_saturating,  // OCP/IEEE: beyond max gives inf (NaN where the format has no inf)
    saturate,        // every magnitude beyond max, infinities included, gives +-max
};

enum class int8_range {
    symmetric,  // q in [-127, 127]
    full,       // q in [-128, 127]
};

struct policy {
    rounding mode = rounding::nearest_even;
    overflow on_overflow = overflow::non_saturating;
    int random_bits = 32;  // stochastic rounding uses this many top bits of the random word (1..32)
    int8_range int8 = int8_range::symmetric;
};

namespace detail {
[[noreturn]] inline void invalid_policy(const char* member, long long value, const char* expected)
{
    raise_invalid_argument(std::string("policy.") + member + " must be " + expected + ", got " +
                     std::to_string(value));
}
}  // namespace detail

// Throws std::invalid_argument naming the member and its value unless every member of p is
// valid; every conversion calls it first, whatever the mode, so a bad policy never passes.
constexpr void validate(const policy& p)
{
    if (p.random_bits < 1 || p.random_bits > 32)
        detail::invalid_policy("random_bits", p.random_bits, "in 1..32");
    if (static_cast<unsigned>(p.mode) > static_cast<unsigned>(rounding::stochastic))
        detail::invalid_policy("mode", static_cast<long long>(p.mode), "a fewbits::rounding value (0..6)");
    if (static_cast<unsigned>(p.on_overflow) > static_cast<unsigned>(overflow::saturate))
        detail::invalid_policy("on_overflow", static_cast<long long>(p.on_overflow),
                               "a fewbits::overflow value (0..1)");
    if (static_cast<unsigned>(p.int8) > static_cast<unsigned>(int8_range::full))
        detail::invalid_policy("int8", static_cast<long long>(p.int8), "a fewbits::int8_range value (0..1)");
}

}  // namespace fewbits
