// std::numeric_limits for every minifloat, each member derived from the format descriptor.
// Where the C++ standard leaves a member open (infinity() without an infinity, quiet_NaN()
// without a NaN, is_iec559 for formats IEEE 754 does not list), the values are those of
// ml_dtypes (and Eigen's bfloat16, which ml_dtypes uses), so that code moving between the
// two sees the same limits; docs/numerics.md lists what still differs and why.
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
    // True for the formats with IEEE 754's special values (infinities, NaNs with payloads,
    // signed zero) and gradual underflow, as ml_dtypes and Eigen say for E5M2 and bfloat16;
    // of these, only binary16 is an interchange format of the standard itself.
    static constexpr bool is_iec559 = ieee;
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
    // Without an infinity: the NaN (fn, fnuz), or max for formats without NaN (FP6, FP4).
    static constexpr T infinity() noexcept
    {
        if constexpr (ieee) return T::from_bits(storage(Format::infinity_bits));
        else if constexpr (Format::has_nan) return quiet_NaN();
        else return max();
    }
    // Without a NaN (FP6, FP4): -0, the encoding ml_dtypes gives (the MX specification leaves
    // NaN conversion to the implementation; fewbits' convert sends NaN to +max there).
    static constexpr T quiet_NaN() noexcept
    {
        return T::from_bits(storage(Format::has_nan ? Format::quiet_nan_bits : Format::sign_mask));
    }
    static constexpr T signaling_NaN() noexcept
    {
        if constexpr (has_signaling_NaN)
            return T::from_bits(storage(Format::infinity_bits | (1u << (Format::mantissa_bits - 2))));
        else
            return quiet_NaN();
    }
    static constexpr T denorm_min() noexcept { return T::from_bits(storage(1)); }
};
