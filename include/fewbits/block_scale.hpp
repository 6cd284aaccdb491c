// The scale rules of the OCP Microscaling (MX) formats: how a block's largest magnitude amax
// becomes its E8M0 scale 2^s. Every rule is computed exactly from the float's bits (subnormal
// amax included), never with log2, and gives NaN (0xFF) when amax is NaN or infinite.
//
//   floor  s = floor(log2(amax)) - emax_elem: the OCP MX v1.0 rule (microxcaling, torchao's
//          default). The block's largest element lands in [2^emax, 2^(emax+1)), so it can lie
//          above the element's max (E2M1: 7.5 > 6) and then saturates.
//   rceil  s = the smallest integer with amax / 2^s <= the element's max: never clips
//          (NVIDIA cuBLAS's MX rule; torchao's RCEIL).
//   even   floor, applied to amax first rounded to the element's mantissa width (ties away,
//          torchao's EVEN): a block maximum that would round up to the next binade gets the
//          next scale instead of saturating.
// Then s is clamped to E8M0's range -127..127 (a finite amax never exceeds it from above).
// An all-zero block gets 2^-127 (code 0) under every rule.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "fewbits/detail/decode.hpp"
#include "fewbits/e8m0.hpp"
#include "fewbits/int8.hpp"
#include "fewbits/rounding.hpp"

namespace fewbits {

enum class mx_scale_rule { floor, rceil, even };

// What the scale rules need to know about an MX element type.
struct mx_element_info {
    int emax;           // exponent of the largest power of two below the element's max
    float max;          // the largest finite element value
    int mantissa_bits;  // for the even rule
};

// The element types of MX: every fewbits minifloat, and std::int8_t for MXINT8, whose element
// q stands for q / 64 (q in -127..127: 1.984375 at most, emax 0, 6 fraction bits).
template <class E>
concept mx_element = low_precision<E> || std::is_same_v<E, std::int8_t>;

template <mx_element E>
constexpr mx_element_info mx_element_info_of() noexcept
{
    if constexpr (std::is_same_v<E, std::int8_t>) {
        return {0, 127.0f / 64.0f, 6};
    } else {
        using F = typename E::format_type;
        return {F::max_exponent,
                std::bit_cast<float>(detail::decode_to_float_bits<F>(std::uint32_t(F::max_magnitude))),
                F::mantissa_bits};
    }
}

namespace detail {

// |x| = sig * 2^exp with sig in [2^23, 2^24): a finite nonzero float's magnitude bits, normalised.
struct normalised_float {
    std::uint32_t sig;
    int exp;
};
constexpr normalised_float normalise(std::uint32_t magnitude_bits) noexcept
{
    const float_parts p = split_float(magnitude_bits);
    const int shift = 24 - static_cast<int>(std::bit_width(p.significand));
    return {p.significand << shift, p.exponent - shift};
}

// The E8M0 code of a block whose largest magnitude has the bits amax_bits (sign cleared).
constexpr std::uint8_t mx_scale_code(std::uint32_t amax_bits, mx_scale_rule rule, const mx_element_info& e) noexcept
{
    if (amax_bits >= 0x7F800000u) return float8_e8m0fnu::nan_bits;  // inf or NaN in the block
    if (amax_bits == 0) return 0;
    int s = 0;
    switch (rule) {
    case mx_scale_rule::rceil: {
        // amax <= max * 2^s with both normalised to 24-bit significands: compare exponents,
        // then significands.
        const normalised_float a = normalise(amax_bits);
        const normalised_float m = normalise(std::bit_cast<std::uint32_t>(e.max));
        s = a.exp - m.exp + (a.sig > m.sig ? 1 : 0);
        break;
    }
    case mx_scale_rule::even: {
        // Round to mantissa_bits (add half an element ulp, keep the exponent), then floor.
        // A carry past float's max gives exponent 128 (torchao's integer code reads that as
        // inf and gives NaN; a finite block keeps a finite scale here).
        const std::uint32_t rounded = (amax_bits + (1u << (22 - e.mantissa_bits))) & 0xFF800000u;
        const int field = static_cast<int>(rounded >> 23);
        s = (field == 0 ? -127 : field - 127) - e.emax;
        break;
    }
    case mx_scale_rule::floor:
    default: {
        const normalised_float a = normalise(amax_bits);
        s = a.exp + 23 - e.emax;  // floor(log2(amax)) = exp + 23
        break;
    }
    }
    if (s < -127) s = -127;
    if (s > 127) s = 127;
    return static_cast<std::uint8_t>(s + 127);
}

}  // namespace detail

// The scale of a block whose largest magnitude is amax (its sign is ignored) under rule, for
// elements of type E.
template <mx_element E>
constexpr float8_e8m0fnu mx_block_scale(float amax, mx_scale_rule rule = mx_scale_rule::floor) noexcept
{
    return float8_e8m0fnu::from_bits(
        detail::mx_scale_code(std::bit_cast<std::uint32_t>(amax) & 0x7FFFFFFFu, rule, mx_element_info_of<E>()));
}

}  // namespace fewbits
