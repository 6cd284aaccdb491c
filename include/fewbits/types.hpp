// The value type: minifloat<Format> stores one encoding (1 or 2 bytes, trivially
// copyable) and converts exactly to float. Arithmetic is computed in float and rounded
// back to nearest-even; for every format here float has at least 2p + 2 bits of
// precision (p = mantissa_bits + 1), so + - * / are correctly rounded despite the two steps.
#pragma once

#include <bit>
#include <compare>
#include <cstdint>
#include <limits>
#include <ostream>

#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/encode.hpp"
#include "fewbits/format.hpp"
#include "fewbits/policy.hpp"

namespace fewbits {

template <class Format>
class minifloat {
    static_assert(is_format<Format>::value, "minifloat takes a fewbits::format<E, M, encoding>");
    static_assert(Format::max_exponent <= 127, "the format's values must fit in float");

public:
    using format_type = Format;
    using storage_type = typename Format::storage_type;

    minifloat() = default;  // +0 when value-initialised (T{}), uninitialised otherwise, like float

    // Round to nearest even, non-saturating (the IEEE default).
    constexpr explicit minifloat(float x) noexcept
        : bits_(static_cast<storage_type>(
              detail::encode<Format, float, rounding::nearest_even, overflow::non_saturating>(
                  std::bit_cast<std::uint32_t>(x), std::uint32_t(0), std::uint32_t(0))))
    {
    }
    constexpr explicit minifloat(double x) noexcept
        : bits_(static_cast<storage_type>(
              detail::encode<Format, double, rounding::nearest_even, overflow::non_saturating>(
                  std::bit_cast<std::uint64_t>(x), std::uint64_t(0), std::uint64_t(0))))
    {
    }

    // Bits outside the format's total_bits (FP6/FP4 in a byte) are ignored.
    static constexpr minifloat from_bits(storage_type bits) noexcept
    {
        minifloat v;
        v.bits_ = static_cast<storage_type>(bits & (Format::sign_mask | Format::magnitude_mask));
        return v;
    }
    constexpr storage_type bits() const noexcept { return bits_; }

    constexpr explicit operator float() const noexcept
    {
        return std::bit_cast<float>(detail::decode_to_float_bits<Format>(std::uint32_t(bits_)));
    }
    constexpr explicit operator double() const noexcept { return static_cast<float>(*this); }

    friend constexpr bool operator==(minifloat a, minifloat b) noexcept
    {
        return static_cast<float>(a) == static_cast<float>(b);
    }
    friend constexpr std::partial_ordering operator<=>(minifloat a, minifloat b) noexcept
    {
        return static_cast<float>(a) <=> static_cast<float>(b);
    }

    constexpr minifloat operator+() const noexcept { return *this; }
    constexpr minifloat operator-() const noexcept
    {
        if constexpr (Format::family == encoding::fnuz) {
            // No negative zero, and the single NaN has no sign to flip.
            if ((bits_ & Format::magnitude_mask) == 0) return *this;
        }
        return from_bits(static_cast<storage_type>(bits_ ^ Format::sign_mask));
    }
    friend constexpr minifloat operator+(minifloat a, minifloat b) noexcept
    {
        return minifloat(static_cast<float>(a) + static_cast<float>(b));
    }
    friend constexpr minifloat operator-(minifloat a, minifloat b) noexcept
    {
        return minifloat(static_cast<float>(a) - static_cast<float>(b));
    }
    friend constexpr minifloat operator*(minifloat a, minifloat b) noexcept
    {
        return minifloat(static_cast<float>(a) * static_cast<float>(b));
    }
    friend constexpr minifloat operator/(minifloat a, minifloat b) noexcept
    {
        return minifloat(static_cast<float>(a) / static_cast<float>(b));
    }
    constexpr minifloat& operator+=(minifloat b) noexcept { return *this = *this + b; }
    constexpr minifloat& operator-=(minifloat b) noexcept { return *this = *this - b; }
    constexpr minifloat& operator*=(minifloat b) noexcept { return *this = *this * b; }
    constexpr minifloat& operator/=(minifloat b) noexcept { return *this = *this / b; }

    friend std::ostream& operator<<(std::ostream& os, minifloat v) { return os << static_cast<float>(v); }

private:
    storage_type bits_;
};

template <class Format>
constexpr bool isnan(minifloat<Format> v) noexcept
{
    const float f = static_cast<float>(v);
    return f != f;
}
template <class Format>
constexpr bool isinf(minifloat<Format> v) noexcept
{
    const float f = static_cast<float>(v);
    return f == std::numeric_limits<float>::infinity() || f == -std::numeric_limits<float>::infinity();
}
template <class Format>
constexpr bool isfinite(minifloat<Format> v) noexcept
{
    return !isnan(v) && !isinf(v);
}
template <class Format>
constexpr bool signbit(minifloat<Format> v) noexcept
{
    return (v.bits() & Format::sign_mask) != 0 && !(Format::family == encoding::fnuz && isnan(v));
}

using float8_e4m3fn = minifloat<e4m3fn_format>;      // OCP FP8 E4M3: max 448, NaN 0x7F/0xFF, no inf
using float8_e5m2 = minifloat<e5m2_format>;          // OCP FP8 E5M2: max 57344, inf 0x7C
using float16 = minifloat<binary16_format>;          // IEEE binary16: max 65504
using bfloat16 = minifloat<bfloat16_format>;         // bfloat16: float's range, 8 significant bits
using float8_e4m3fnuz = minifloat<e4m3fnuz_format>;  // max 240, NaN 0x80 only, no -0
using float8_e5m2fnuz = minifloat<e5m2fnuz_format>;  // max 57344, NaN 0x80 only, no -0
using float6_e3m2fn = minifloat<e3m2fn_format>;      // OCP MX FP6: max 28, finite only
using float6_e2m3fn = minifloat<e2m3fn_format>;      // OCP MX FP6: max 7.5, finite only
using float4_e2m1fn = minifloat<e2m1fn_format>;      // OCP MX FP4: max 6, finite only

}  // namespace fewbits
