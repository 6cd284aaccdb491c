// std::numeric_limits for every minifloat, each member derived from the format descriptor.
#pragma once

#include <cstdint>
#include <limits>

#include "fewbits/types.hpp"

namespace fewbits::detail {

// floor(n * log10(2)) for 0 <= n <= 1000 (30103/100000 is close enough: n * log10(2) is
// never within 1e-5 of an integer in that range except at n = 0).
constexpr int floor_log10_pow2(int n) { return n >= 0 ? n * 30103 / 100000 : -((-n * 30103 + 99999) / 100000); }
constexpr int ceil_log10_pow2(int n) { return -floor_log10_pow2(-n); }

// floor(log10(v)) for a positive double, by counting powers of ten (constexpr).
constexpr int floor_log10(double v)
{
    int k = 0;
    while (v >= 10.0) { v /= 10.0; ++k; }
    while (v < 1.0) { v *= 10.0; --k; }
    return k;
}

}  // namespace fewbits::detail

template <class Format>
class std::numeric_limits<fewbits::minifloat<Format>> {
    using T = fewbits::minifloat<Format>;
    using storage = typename Format::storage_type;
    static constexpr bool ieee = Format::family == fewbits::encoding::ieee;

public:
    static constexpr bool is_specialized = true;
    static constexpr bool is_signed = true;
    static constexpr bool is_integer = false;
    static constexpr bool is_exact = false;
    static constexpr bool has_infinity = Format::has_infinity;
    static constexpr bool has_quiet_NaN = Format::has_nan;
    // A signalling NaN needs a non-zero mantissa with the quiet bit (its top bit) clear.
    static constexpr bool has_signaling_NaN = ieee && Format::mantissa_bits >= 2;
    static constexpr std::float_denorm_style has_denorm =
        Format::mantissa_bits > 0 ? std::denorm_present : std::denorm_absent;
    static constexpr bool has_denorm_loss = false;
    static constexpr std::float_round_style round_style = std::round_to_nearest;
    // Only binary16 is an IEEE 754 interchange format among these.
    static constexpr bool is_iec559 = ieee && Format::exponent_bits == 5 && Format::mantissa_bits == 10;
    static constexpr bool is_bounded = true;
    static constexpr bool is_modulo = false;
    static constexpr int digits = Format::mantissa_bits + 1;
    static constexpr int digits10 = fewbits::detail::floor_log10_pow2(digits - 1);
    // ceil(digits * log10(2) + 1); digits * log10(2) is never an integer for digits >= 1.
    static constexpr int max_digits10 = fewbits::detail::floor_log10_pow2(digits) + 2;
    static constexpr int radix = 2;
    static constexpr int min_exponent = Format::min_exponent + 1;  // min() == 2^(min_exponent - 1)
    static constexpr int min_exponent10 = fewbits::detail::ceil_log10_pow2(Format::min_exponent);
    static constexpr int max_exponent = Format::max_exponent + 1;  // max() < 2^max_exponent
    static constexpr int max_exponent10 =
        fewbits::detail::floor_log10(static_cast<double>(static_cast<float>(T::from_bits(storage(Format::max_magnitude)))));
    static constexpr bool traps = false;
    static constexpr bool tinyness_before = false;

    static constexpr T min() noexcept { return T::from_bits(storage(1u << Format::mantissa_bits)); }
    static constexpr T lowest() noexcept { return T::from_bits(storage(Format::sign_mask | Format::max_magnitude)); }
    static constexpr T max() noexcept { return T::from_bits(storage(Format::max_magnitude)); }
    static constexpr T epsilon() noexcept { return T(1.0f / float(1u << Format::mantissa_bits)); }
    static constexpr T round_error() noexcept { return T(0.5f); }
    static constexpr T infinity() noexcept { return T::from_bits(storage(ieee ? Format::infinity_bits : 0u)); }
    static constexpr T quiet_NaN() noexcept { return T::from_bits(storage(Format::quiet_nan_bits)); }
    static constexpr T signaling_NaN() noexcept
    {
        if constexpr (has_signaling_NaN)
            return T::from_bits(storage(Format::infinity_bits | (1u << (Format::mantissa_bits - 2))));
        else
            return quiet_NaN();
    }
    static constexpr T denorm_min() noexcept { return T::from_bits(storage(1)); }
};
