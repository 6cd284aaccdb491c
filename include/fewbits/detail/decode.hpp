// Decoding: format bits to the exact float value. Every format fewbits accepts (at most 8
// exponent bits, smallest normal a float normal) is a subset of float, so this is exact.
// Integer operations only, like the encoder, so FTZ/DAZ cannot flush a subnormal result.
#pragma once

#include <bit>
#include <cstdint>

#include "fewbits/format.hpp"

namespace fewbits::detail {

template <class Format>
constexpr std::uint32_t decode_to_float_bits(std::uint32_t bits) noexcept
{
    constexpr int M = Format::mantissa_bits;
    const std::uint32_t magnitude = bits & Format::magnitude_mask;
    const std::uint32_t sign = (bits & Format::sign_mask) ? 0x80000000u : 0u;
    const std::uint32_t e = magnitude >> M;
    const std::uint32_t m = magnitude & Format::mantissa_mask;

    if constexpr (Format::family == encoding::fnuz) {
        if (bits == Format::sign_mask) return 0x7FC00000u;  // the one NaN; it has no sign
    }
    if constexpr (Format::family == encoding::fn) {
        if (magnitude == Format::magnitude_mask) return sign | 0x7FC00000u;
    }
    if constexpr (Format::family == encoding::ieee) {
        // inf, or NaN with its payload kept in the top mantissa bits (quiet bit included)
        if (e == Format::exponent_field_max) return sign | 0x7F800000u | (m << (23 - M));
    }
    if (e != 0) {
        return sign | ((e + std::uint32_t(127 - Format::bias)) << 23) | (m << (23 - M));
    }
    if (m == 0) return sign;
    // Subnormal m * 2^(min_exponent - M): a normal float unless it is below 2^-126.
    const int top = std::bit_width(m) - 1;  // m = 2^top * (1.xxx)
    const int exponent = Format::min_exponent - M + top;
    if constexpr (Format::min_exponent - M < -126) {
        if (exponent < -126) return sign | (m << (Format::min_exponent - M + 149));  // float subnormal
    }
    return sign | (std::uint32_t(exponent + 127) << 23) | ((m << (23 - top)) & 0x7FFFFFu);
}

}  // namespace fewbits::detail
