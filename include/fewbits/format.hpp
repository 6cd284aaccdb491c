// Format descriptors: a low-precision floating-point format is fixed at compile time by
// its exponent bits, mantissa bits and encoding family. Everything else (bias, limits,
// the encodings of max, inf and NaN) is derived here, in one place.
#pragma once

#include <cstdint>
#include <type_traits>

namespace fewbits {

// How the top of the encoding space is used.
enum class encoding {
    ieee,    // IEEE 754 style: exponent all ones is inf (mantissa 0) or NaN (E5M2, FP16, BF16)
    fn,      // finite + NaN (OCP E4M3): only S.1111.111 is NaN, no inf, so one more binade of values
    fnuz,    // finite + NaN, unsigned zero: 0x80 (sign bit alone) is the only NaN, bias 2^(E-1)
    finite,  // finite only (OCP MX FP6/FP4): no inf, no NaN
};

template <int ExponentBits, int MantissaBits, encoding Encoding>
struct format {
    static_assert(ExponentBits >= 2 && ExponentBits <= 8, "exponent_bits must be in 2..8");
    static_assert(MantissaBits >= 0 && 1 + ExponentBits + MantissaBits <= 16,
                  "a format has at most 16 bits");
    static_assert(Encoding != encoding::ieee || MantissaBits >= 1,
                  "an ieee format needs a mantissa bit to encode NaN; use encoding::fn");

    static constexpr int exponent_bits = ExponentBits;
    static constexpr int mantissa_bits = MantissaBits;
    static constexpr encoding family = Encoding;
    static constexpr int total_bits = 1 + ExponentBits + MantissaBits;
    using storage_type = std::conditional_t<(total_bits <= 8), std::uint8_t, std::uint16_t>;

    static constexpr int bias =
        Encoding == encoding::fnuz ? (1 << (ExponentBits - 1)) : (1 << (ExponentBits - 1)) - 1;
    // Unbiased exponent of the smallest normal; subnormals share it (gradual underflow).
    static constexpr int min_exponent = 1 - bias;

    static constexpr bool has_infinity = Encoding == encoding::ieee;
    static constexpr bool has_nan = Encoding != encoding::finite;
    static constexpr bool has_negative_zero = Encoding != encoding::fnuz;

    static constexpr std::uint32_t sign_mask = 1u << (ExponentBits + MantissaBits);
    static constexpr std::uint32_t magnitude_mask = sign_mask - 1;
    static constexpr std::uint32_t mantissa_mask = (1u << MantissaBits) - 1;
    static constexpr std::uint32_t exponent_field_max = (1u << ExponentBits) - 1;

    // Magnitude encoding of the largest finite value. The encoding just above it
    // (max_magnitude + 1) is where the family puts what lies beyond: inf for ieee,
    // the NaN S.1111.111 for fn, and 0x80 (the sign bit: the unsigned NaN) for fnuz.
    static constexpr std::uint32_t max_magnitude =
        Encoding == encoding::ieee ? (exponent_field_max << MantissaBits) - 1
        : Encoding == encoding::fn ? magnitude_mask - 1
                                   : magnitude_mask;
    // Unbiased exponent of the largest finite value: E4M3 fn 1.75 * 2^8 = 448.
    static constexpr int max_exponent = static_cast<int>(max_magnitude >> MantissaBits) - bias;

    // Encodings of the special values (full storage bits, positive sign where it matters).
    static constexpr std::uint32_t infinity_bits = max_magnitude + 1;  // ieee only
    static constexpr std::uint32_t quiet_nan_bits =
        Encoding == encoding::ieee ? infinity_bits | ((1u << MantissaBits) >> 1)  // top mantissa bit
        : Encoding == encoding::fn ? magnitude_mask
        : Encoding == encoding::fnuz ? sign_mask
                                     : 0u;
};

// The formats with ecosystem names (ml_dtypes / MLIR spelling).
using e4m3fn_format = format<4, 3, encoding::fn>;
using e5m2_format = format<5, 2, encoding::ieee>;
using binary16_format = format<5, 10, encoding::ieee>;
using bfloat16_format = format<8, 7, encoding::ieee>;
using e4m3fnuz_format = format<4, 3, encoding::fnuz>;
using e5m2fnuz_format = format<5, 2, encoding::fnuz>;
using e3m2fn_format = format<3, 2, encoding::finite>;
using e2m3fn_format = format<2, 3, encoding::finite>;
using e2m1fn_format = format<2, 1, encoding::finite>;

template <class T>
struct is_format : std::false_type {};
template <int E, int M, encoding Enc>
struct is_format<format<E, M, Enc>> : std::true_type {};

}  // namespace fewbits
