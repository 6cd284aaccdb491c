// The scalar conversion: one float (or double) to a low-precision value under a policy.
// This is the reference every bulk kernel must match bit for bit.
//
// Numeric contract (also in the README):
// - Rounding is decided on the format's grid extended above max (as if the exponent were
//   unbounded), then the overflow policy applies to results beyond max.
// - nearest_even / nearest_away / toward_zero / up / down as IEEE 754; odd: exact values
//   stay, otherwise the neighbour whose encoding is odd.
// - stochastic: with lo <= |x| <= hi the neighbouring grid magnitudes, f = (|x|-lo)/(hi-lo),
//   r = policy.random_bits, R = random_word >> (32 - r) and F = floor(f * 2^r): the result
//   is hi iff F + R >= 2^r. So P(hi) = F / 2^r, exactly f whenever f has at most r
//   significant bits (always for r = 32 and float input into FP16/BF16/FP8 normals), and
//   otherwise less than f by under 2^-r. Representable values never move.
// - Overflow, non_saturating: +-inf (ieee formats) or NaN (fn, fnuz); but toward_zero, odd,
//   down for positive and up for negative inputs give +-max. saturate: +-max for every
//   magnitude beyond max, infinities included. Formats without NaN always saturate.
// - Infinite input: +-inf / NaN (non_saturating), +-max (saturate). NaN input: a quiet NaN of
//   the same sign (ieee keeps the top payload bits; fnuz has the single NaN 0x80); formats
//   without NaN give +max.
// - Subnormals are kept (gradual underflow); zero keeps its sign except in fnuz formats.
// - double input is rounded once, from its exact value (no double rounding through float).
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "fewbits/detail/encode.hpp"
#include "fewbits/format.hpp"
#include "fewbits/policy.hpp"

namespace fewbits {

// A fewbits value type (float8_e4m3fn, bfloat16, any minifloat<Format>): what the kernels,
// convert and the training library's storage accept.
template <class T>
concept low_precision = requires(typename T::storage_type s) {
    typename T::format_type;
    { T::from_bits(s) } -> std::same_as<T>;
};

namespace detail {

// Calls f(mode_constant, overflow_constant) with the policy's runtime values as
// compile-time constants, so that each (mode, overflow) pair gets its own branch-free code.
// OverflowMatters = false (a format without NaN, which always saturates, or INT8) passes
// overflow::saturate whatever the policy says: one instantiation per mode instead of two
// identical ones, which is compile time saved in every program that uses those kernels.
template <bool OverflowMatters = true, class F>
constexpr decltype(auto) with_policy(const policy& p, F&& f)
{
    auto with_overflow = [&](auto mode) -> decltype(auto) {
        if constexpr (OverflowMatters) {
            if (p.on_overflow == overflow::non_saturating)
                return f(mode, std::integral_constant<overflow, overflow::non_saturating>{});
        }
        return f(mode, std::integral_constant<overflow, overflow::saturate>{});
    };
    switch (p.mode) {
    case rounding::nearest_away:
        return with_overflow(std::integral_constant<rounding, rounding::nearest_away>{});
    case rounding::toward_zero:
        return with_overflow(std::integral_constant<rounding, rounding::toward_zero>{});
    case rounding::up:
        return with_overflow(std::integral_constant<rounding, rounding::up>{});
    case rounding::down:
        return with_overflow(std::integral_constant<rounding, rounding::down>{});
    case rounding::odd:
        return with_overflow(std::integral_constant<rounding, rounding::odd>{});
    case rounding::stochastic:
        return with_overflow(std::integral_constant<rounding, rounding::stochastic>{});
    case rounding::nearest_even:
    default:  // validate() has rejected anything else
        return with_overflow(std::integral_constant<rounding, rounding::nearest_even>{});
    }
}

template <class Format, class Source>
constexpr typename Format::storage_type convert_bits(Source x, const policy& p, std::uint32_t random_word)
{
    validate(p);
    using U = typename source_traits<Source>::uint;
    const U bits = std::bit_cast<U>(x);
    const U random = random_lane<Source>(random_word);
    const U mask = random_mask<Source>(p.random_bits);
    return with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        return static_cast<typename Format::storage_type>(
            encode<Format, Source, decltype(mode)::value, decltype(on_overflow)::value>(bits, random, mask));
    });
}

}  // namespace detail

// Rounds x to the format of T under policy p; random_word feeds stochastic rounding.
// Throws std::invalid_argument if p is invalid (see validate), whatever the mode.
template <low_precision T>
constexpr T convert(float x, policy p = {}, std::uint32_t random_word = 0)
{
    return T::from_bits(detail::convert_bits<typename T::format_type>(x, p, random_word));
}

// The same from a double, rounded once from its exact value.
template <low_precision T>
constexpr T convert(double x, policy p = {}, std::uint32_t random_word = 0)
{
    return T::from_bits(detail::convert_bits<typename T::format_type>(x, p, random_word));
}

}  // namespace fewbits
