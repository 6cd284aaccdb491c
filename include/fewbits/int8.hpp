// Scaled INT8: value = scale * q with a positive finite scale, q in [-127, 127]
// (int8_range::symmetric, the default) or [-128, 127] (int8_range::full).
//
// Numeric contract: q is |x| / scale, taken as an exact real number, rounded to an integer by
// the same rule as the float formats (every mode, stochastic with the same F + R >= 2^r rule,
// where f is the exact fractional part), sign applied, then clamped to the range: INT8 always
// saturates (the overflow policy is ignored). NaN gives 0; +-inf gives the range's ends.
#pragma once

#include <bit>
#include <cstdint>
#include <string>

#include "fewbits/detail/encode.hpp"
#include "fewbits/error.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/rounding.hpp"

namespace fewbits {

namespace detail {

inline void validate_scale(float scale)
{
    // On the bits, not with float compares: under DAZ a subnormal scale would compare equal to 0.
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(scale);
    if (bits == 0 || bits >= 0x7F800000u)  // +0, +inf, NaN and every negative
        raise_invalid_argument("scale must be positive and finite, got " + exact_string(scale));
}

// |v| = significand * 2^exponent for a finite float's magnitude bits.
struct float_parts {
    std::uint32_t significand;
    int exponent;
};
constexpr float_parts split_float(std::uint32_t magnitude_bits) noexcept
{
    const std::uint32_t field = magnitude_bits >> 23;
    const std::uint32_t mantissa = magnitude_bits & 0x7FFFFFu;
    if (field == 0) return {mantissa, -149};
    return {mantissa | 0x800000u, static_cast<int>(field) - 150};
}

template <rounding Mode>
constexpr std::int8_t round_int8(float x, float scale, int8_range range, std::uint32_t random,
                                 std::uint32_t random_mask) noexcept
{
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t negative = bits >> 31;
    const std::uint32_t magnitude_bits = bits & 0x7FFFFFFFu;
    if (magnitude_bits > 0x7F800000u) return 0;  // NaN
    const std::uint32_t limit = (negative && range == int8_range::full) ? 128u : 127u;

    std::uint32_t q = limit + 1;  // anything beyond the range saturates below
    const float_parts xp = split_float(magnitude_bits);
    const float_parts sp = split_float(std::bit_cast<std::uint32_t>(scale));
    // |x| < 256 * scale bounds the 32.32 fixed-point quotient below 2^40. Compared on the
    // integer parts (mx * 2^(ex - es - 8) < ms), not in floating point: under DAZ a subnormal
    // x or scale would read as zero.
    const int shift = xp.exponent - sp.exponent - 8;
    const bool in_range = magnitude_bits != 0x7F800000u &&
                          (xp.significand == 0 || shift <= -25 ||
                           (shift < 0 ? xp.significand < (std::uint64_t(sp.significand) << -shift)
                                      : shift < 24 && (std::uint64_t(xp.significand) << shift) < sp.significand));
    if (in_range) {
        // y = |x| / scale as a 32.32 fixed-point number, floored, plus a sticky bit:
        // floor(mx * 2^k / ms) with k = ex - es + 32, in exact integer arithmetic.
        const int k = xp.exponent - sp.exponent + 32;
        std::uint64_t numerator = 0;
        bool lost = false;
        if (k >= 0) {
            numerator = std::uint64_t(xp.significand) << k;  // < 2^40 * ms < 2^64, so k < 64
        } else if (k > -32) {
            numerator = xp.significand >> -k;
            lost = (xp.significand & ((1u << -k) - 1)) != 0;
        } else {
            lost = xp.significand != 0;
        }
        const std::uint64_t y = numerator / sp.significand;
        const bool sticky = lost || numerator % sp.significand != 0;
        q = static_cast<std::uint32_t>(y >> 32);
        const auto frac = static_cast<std::uint32_t>(y);
        q += round_increment<Mode, std::uint32_t>(frac, std::uint32_t(sticky), q & 1u, negative, random,
                                                  random_mask);
    }
    if (q > limit) q = limit;
    return static_cast<std::int8_t>(negative ? -static_cast<int>(q) : static_cast<int>(q));
}

}  // namespace detail

// Quantizes x to q = round(x / scale) under policy p (modes, random_bits and int8 range;
// on_overflow is ignored: INT8 saturates). Throws std::invalid_argument for a scale that
// is not positive and finite, or an invalid policy.
inline std::int8_t convert_int8(float x, float scale, policy p = {}, std::uint32_t random_word = 0)
{
    validate(p);
    detail::validate_scale(scale);
    const std::uint32_t mask = detail::random_mask<float>(p.random_bits);
    return detail::with_policy<false>(p, [&](auto mode, auto) {
        return detail::round_int8<decltype(mode)::value>(x, scale, p.int8, random_word, mask);
    });
}

// The float value of q under scale (exact product, rounded to float once).
inline float int8_value(std::int8_t q, float scale) noexcept { return static_cast<float>(q) * scale; }

}  // namespace fewbits
