// The E8M0 scale type of the OCP Microscaling (MX) formats: float8_e8m0fnu (ml_dtypes' name).
// Eight exponent bits and nothing else: code c is the power of two 2^(c - 127) for c in
// 0..254 (2^-127, a float subnormal, up to 2^127), and 0xFF is NaN. No sign, no zero, no
// infinity ("fnu": finite, NaN, unsigned). Every value is a float, so the conversion to float
// is exact; it is built from the bits (no pow, no float arithmetic), so FTZ/DAZ cannot flush
// 2^-127.
#pragma once

#include <bit>
#include <cstdint>

namespace fewbits {

class float8_e8m0fnu {
public:
    using storage_type = std::uint8_t;
    static constexpr int bias = 127;
    static constexpr std::uint8_t nan_bits = 0xFF;

    // cppcheck-suppress uninitMemberVar ; deliberately uninitialised, like float and the minifloats
    float8_e8m0fnu() = default;  // code 0 (2^-127) when value-initialised, uninitialised otherwise

    static constexpr float8_e8m0fnu from_bits(std::uint8_t bits) noexcept
    {
        float8_e8m0fnu v;
        v.bits_ = bits;
        return v;
    }
    // 2^e for e in -127..127; NaN for any other e (there is no other power of two to give).
    static constexpr float8_e8m0fnu from_exponent(int e) noexcept
    {
        return from_bits(e < -127 || e > 127 ? nan_bits : static_cast<std::uint8_t>(e + bias));
    }

    constexpr std::uint8_t bits() const noexcept { return bits_; }
    constexpr bool is_nan() const noexcept { return bits_ == nan_bits; }
    // The unbiased exponent (bits() - 127); meaningless for NaN.
    constexpr int exponent() const noexcept { return static_cast<int>(bits_) - bias; }

    constexpr explicit operator float() const noexcept
    {
        // Code c >= 1 is the float with exponent field c; code 0 is 2^-127, the float subnormal
        // with only the top mantissa bit set.
        const std::uint32_t f = bits_ == nan_bits ? 0x7FC00000u
                                : bits_ == 0      ? 0x00400000u
                                                  : std::uint32_t{bits_} << 23;
        return std::bit_cast<float>(f);
    }

    // Codes compare as the values they stand for (NaN equals nothing, not even itself).
    friend constexpr bool operator==(float8_e8m0fnu a, float8_e8m0fnu b) noexcept
    {
        return a.bits_ == b.bits_ && a.bits_ != nan_bits;
    }

private:
    std::uint8_t bits_;
};

}  // namespace fewbits
