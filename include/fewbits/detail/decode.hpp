// Decoding: format bits to the exact float value. Every format fewbits accepts (at most 8
// exponent bits, smallest normal a float normal) is a subset of float, so this is exact.
// Like the encoder it is written once for any lane type (scalar or xsimd batch of uint32)
// and uses integer operations only, so FTZ/DAZ cannot flush a subnormal.
#pragma once

#include <bit>
#include <cstdint>
#include <type_traits>

#include "fewbits/detail/encode.hpp"
#include "fewbits/config.hpp"
#include "fewbits/format.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

// Lane operations that are not plain operators. The SIMD layer specialises this for batches.
template <class U>
struct lane_ops {
    // The float bits of a small non-negative integer m (< 2^24): exact, and an int-to-float
    // conversion is not subject to denormal flushing.
    FEWBITS_ALWAYS_INLINE static constexpr U int_to_float_bits(U m) noexcept
    {
        return std::bit_cast<U>(static_cast<float>(static_cast<std::int32_t>(m)));
    }
};

// The formats the kernels' fast paths decode through FP16 (x86's vcvtph2ps, aarch64's FCVTL,
// see fast_paths.hpp and fast_paths_neon.hpp): their exponent and mantissa fields, placed as
// FP16 fields, are the FP16 value 2^(bias - 15) times the code's value. Every format of at most
// 5 exponent bits but FNUZ E5M2 (bias 16) could; the named ones do (the small formats are
// rarely bulk-decoded, and each one adds compile time).
template <class Format>
inline constexpr bool decodes_via_half =
    Format::exponent_bits <= 5 && Format::mantissa_bits <= 10 && (Format::exponent_bits < 5 || Format::bias == 15) &&
    (std::is_same_v<Format, binary16_format> || std::is_same_v<Format, e4m3fn_format> ||
     std::is_same_v<Format, e5m2_format> || std::is_same_v<Format, e4m3fnuz_format>);

template <class Format, class U>
FEWBITS_ALWAYS_INLINE constexpr U decode_to_float_bits(U bits) noexcept
{
    using T = std::uint32_t;
    constexpr int M = Format::mantissa_bits;
    constexpr int E = Format::exponent_bits;
    const U mag = bits & U(T(Format::magnitude_mask));
    const U sign = (bits & U(T(Format::sign_mask))) << (31 - E - M);

    U value;
    if constexpr (E == 8 && Format::bias == 127) {
        // float's own exponent layout: subnormals, normals, inf and NaN payloads all line up.
        value = mag << (23 - M);
    } else {
        static_assert(Format::min_exponent - M >= -126, "subnormals of E <= 7 formats are float normals");
        const U e = mag >> M;
        const U m = mag & U(T(Format::mantissa_mask));
        const U normal = (mag << (23 - M)) + U(T(T(127 - Format::bias) << 23));
        // m * 2^(min_exponent - M): float(m), its exponent lowered in the integer bits.
        const U subnormal = lane_ops<U>::int_to_float_bits(m) - U(T(T(M - Format::min_exponent) << 23));
        value = select(e == U(T(0)), select(m == U(T(0)), U(T(0)), subnormal), normal);
        if constexpr (Format::family == encoding::ieee) {
            // inf, or NaN with its payload in the top mantissa bits (quiet bit included)
            value = select(e == U(T(Format::exponent_field_max)), U(T(0x7F800000u)) | (m << (23 - M)), value);
        }
    }
    if constexpr (Format::family == encoding::fn) {
        value = select(mag == U(T(Format::magnitude_mask)), U(T(0x7FC00000u)), value);
    }
    U result = sign | value;
    if constexpr (Format::family == encoding::fnuz) {
        result = select(bits == U(T(Format::sign_mask)), U(T(0x7FC00000u)), result);  // the NaN has no sign
    }
    return result;
}

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP
