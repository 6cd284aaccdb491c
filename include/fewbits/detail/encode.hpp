// The rounding core: float or double bits in, format bits out, for every mode and
// overflow policy. It is written once for any "lane" type U: a plain unsigned integer
// (the scalar convert) or an xsimd batch of them (the SIMD kernels), so that both take the
// very same steps and agree bit for bit. It uses integer operations only, hence results
// never depend on the floating-point environment (FTZ/DAZ, dynamic rounding mode).
//
// The one idea: truncate |x| onto the format's grid, keeping the discarded part as a
// fixed-point fraction f in [0, 1) of one grid step; every mode is then "add an addend to f
// and step up by the carry out". Because the encoding of a magnitude is monotone, stepping
// up by one encoding also carries correctly from the mantissa into the exponent, from
// subnormals into normals, and past max into the encoding where the overflow policy acts.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "fewbits/config.hpp"
#include "fewbits/format.hpp"
#include "fewbits/policy.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

// Scalar lanes; xsimd's own select, min and max are found by argument-dependent lookup
// for batches.
template <class U>
FEWBITS_ALWAYS_INLINE constexpr U select(bool condition, U if_true, U if_false) noexcept
{
    return condition ? if_true : if_false;
}
template <class U>
FEWBITS_ALWAYS_INLINE constexpr U lane_min(U a, U b) noexcept
{
    if constexpr (std::is_integral_v<U>)
        return a < b ? a : b;
    else
        return min(a, b);
}
template <class U>
FEWBITS_ALWAYS_INLINE constexpr U lane_max(U a, U b) noexcept
{
    if constexpr (std::is_integral_v<U>)
        return a < b ? b : a;
    else
        return max(a, b);
}

template <class Source>
struct source_traits;
template <>
struct source_traits<float> {
    using uint = std::uint32_t;
    static constexpr int mantissa_bits = 23;
    static constexpr int exponent_bias = 127;
};
template <>
struct source_traits<double> {
    using uint = std::uint64_t;
    static constexpr int mantissa_bits = 52;
    static constexpr int exponent_bias = 1023;
};

// 1 when a + b overflows W = digits(T) bits, else 0: the wrapped sum is then below a.
// (One add and one unsigned compare: AVX-512 and NEON compare unsigned lanes natively.)
template <class T, class U>
FEWBITS_ALWAYS_INLINE constexpr U carry_out(U a, U b) noexcept
{
    return select(U(a + b) < a, U(T(1)), U(T(0)));
}

// Whether a truncated magnitude steps up by one encoding.
//   frac:     the discarded fraction of a grid step, W-bit fixed point, floored
//   sticky:   1 when bits below frac were discarded too (frac is then inexact), else 0
//   lsb:      the last bit of the truncated encoding (for ties-to-even and odd)
//   negative: 1 for negative inputs (directed modes)
//   random, random_mask: the random word in the top 32 bits of W, and the mask of its
//             top r bits. Stochastic: up iff F + R >= 2^r, where F and R are the top r bits
//             of frac and of the word: exactly the carry out of their masked sum.
// Jamming sticky into frac is safe for the nearest modes: it only ever makes a fraction
// that is exactly one half look larger, which is the truth when sticky is set.
template <rounding Mode, class T, class U>
FEWBITS_ALWAYS_INLINE constexpr U round_increment(U frac, U sticky, U lsb, U negative, U random, U random_mask) noexcept
{
    constexpr T half = T(1) << (std::numeric_limits<T>::digits - 1);
    const U one = U(T(1));
    const U jammed = frac | sticky;
    if constexpr (Mode == rounding::nearest_even) {
        return carry_out<T>(jammed, U(T(half - 1)) + lsb);
    } else if constexpr (Mode == rounding::nearest_away) {
        return carry_out<T>(jammed, U(half));
    } else if constexpr (Mode == rounding::toward_zero) {
        return U(T(0));
    } else if constexpr (Mode == rounding::up) {
        return carry_out<T>(jammed, U(T(~T(0)))) & (negative ^ one);
    } else if constexpr (Mode == rounding::down) {
        return carry_out<T>(jammed, U(T(~T(0)))) & negative;
    } else if constexpr (Mode == rounding::odd) {
        return carry_out<T>(jammed, U(T(~T(0)))) & (lsb ^ one);
    } else {
        static_assert(Mode == rounding::stochastic);
        return carry_out<T>(frac & random_mask, random & random_mask);
    }
}

// sig * 2^-shift (sig < 2^(W-1), 1 <= shift per lane) as its integer part kept, the bits below
// it rem (= sig - kept * 2^shift) and the fraction frac = floor(rem / 2^shift * 2^W).
template <class U>
struct fixed_point {
    U kept, rem, frac;
};
template <class T, class U>
FEWBITS_ALWAYS_INLINE constexpr fixed_point<U> split_fixed_point(U sig, U shift) noexcept
{
    constexpr int W = std::numeric_limits<T>::digits;
    // Beyond W - 1 every bit of sig (< 2^(W-1)) is discarded anyway.
    const U kept = sig >> lane_min(shift, U(T(W - 1)));
    const U rem = sig - (kept << lane_min(shift, U(T(W - 1))));
    // Shifting sig left drops the kept bits out of the top (shift >= 1, so the left shift is
    // below W). Beyond shift = W the value is below 2^-(W-Ms-1) of a step, so only the floor
    // matters (no ties there).
    const U left = U(T(W)) - lane_min(shift, U(T(W)));
    const U right = lane_min(lane_max(shift, U(T(W))) - U(T(W)), U(T(W - 1)));
    return {kept, rem, (sig << left) >> right};
}

// |x| (source bits without sign, finite) rounded onto the format's grid extended above max
// (as if the exponent were unbounded). Returns the magnitude encoding, possibly > max.
template <class Format, class Source, rounding Mode, class U>
FEWBITS_ALWAYS_INLINE constexpr U round_magnitude(U a, U negative, U random, U random_mask) noexcept
{
    using S = source_traits<Source>;
    using T = typename S::uint;
    constexpr int W = std::numeric_limits<T>::digits;
    constexpr int Ms = S::mantissa_bits;
    constexpr int M = Format::mantissa_bits;
    // Source exponent field of the format's smallest normal binade.
    constexpr int emin_field = Format::min_exponent + S::exponent_bias;
    static_assert(emin_field >= 1, "the format's smallest normal must be a normal of the source type");
    constexpr T zero = 0;

    U enc, frac, rem;
    if constexpr (emin_field == 1) {
        // The format has every exponent of the source (BF16 from float): a source
        // subnormal is a format subnormal with the same scaling, so the encoding is the
        // source bits shifted right and the fraction is the bits shifted out. Same result
        // as the general path below, in two shifts: the fast path of the SIMD kernels.
        constexpr int shift = Ms - M;
        enc = a >> shift;
        frac = a << (W - shift);
        rem = frac;  // frac is exact here: nothing is lost below it
    } else {
        const U exp_field = a >> Ms;
        // A source subnormal is scaled like the smallest source binade, without the hidden bit.
        const U sig = (a & U(T((T(1) << Ms) - 1))) | select(exp_field == U(zero), U(zero), U(T(T(1) << Ms)));
        const U e = lane_max(exp_field, U(T(1)));
        // Each binade below the format's smallest normal discards one more bit.
        const U shift = U(T(Ms - M + emin_field)) - lane_min(e, U(T(emin_field)));
        const fixed_point<U> fp = split_fixed_point<T>(sig, shift);  // shift >= Ms - M >= 1
        rem = fp.rem;
        frac = fp.frac;
        enc = ((lane_max(e, U(T(emin_field))) - U(T(emin_field))) << M) + fp.kept;
    }
    // Bits below frac are lost only where frac < 2^-(W-Ms-1) of a step, far from a tie, so
    // the sticky bit only has to tell the directed modes and odd that a remainder which
    // floored to frac == 0 was not zero (nearest and stochastic cannot step up there).
    constexpr bool needs_sticky = Mode == rounding::up || Mode == rounding::down || Mode == rounding::odd;
    U sticky = U(zero);
    if constexpr (needs_sticky) sticky = select(frac == U(zero) && rem != U(zero), U(T(1)), U(zero));
    return enc + round_increment<Mode, T>(frac, sticky, enc & U(T(1)), negative, random, random_mask);
}

// The end of encode: mag, the magnitude round_magnitude gave for |x| (a: the source bits
// without sign, negative: the sign bit), through the overflow policy, infinities, NaN and the
// sign, to the format's bits. (Shared with the AVX-512 kernels' own split, see
// encode_split_avx512 in kernels.hpp.)
template <class Format, class Source, rounding Mode, overflow Overflow, class U>
FEWBITS_ALWAYS_INLINE constexpr U finish_encode(U mag, U a, U negative) noexcept
{
    using S = source_traits<Source>;
    using T = typename S::uint;
    constexpr int Ms = S::mantissa_bits;
    constexpr int M = Format::mantissa_bits;
    constexpr T inf_bits = T(T(2 * S::exponent_bias + 1) << Ms);  // source +inf
    constexpr T max_mag = Format::max_magnitude;
    constexpr T beyond = max_mag + 1;  // inf, or the family's NaN (see format.hpp)
    // Formats without NaN have nowhere else to go: they always saturate.
    constexpr bool saturating = Overflow == overflow::saturate || !Format::has_nan;

    // IEEE 754 at overflow: modes that round toward zero for this sign never create an
    // infinity. odd does the same (documented choice: like truncation, it stays finite).
    U overflowed;
    if constexpr (saturating || Mode == rounding::toward_zero || Mode == rounding::odd) {
        overflowed = U(max_mag);
    } else if constexpr (Mode == rounding::up) {
        overflowed = select(negative == U(T(0)), U(beyond), U(max_mag));
    } else if constexpr (Mode == rounding::down) {
        overflowed = select(negative == U(T(0)), U(max_mag), U(beyond));
    } else {
        overflowed = U(beyond);
    }
    // When the format has the source's exponent range and inf is the family's "beyond"
    // (BF16 from float), a finite input can only carry from max into inf, and an infinite
    // input already truncates to inf with nothing to round: in the modes below, both
    // selects would be no-ops, and the SIMD kernels skip them.
    constexpr bool overflow_is_carry_into_inf =
        Format::min_exponent + S::exponent_bias == 1 && Format::family == encoding::ieee && !saturating &&
        (Mode == rounding::nearest_even || Mode == rounding::nearest_away || Mode == rounding::stochastic);
    static_assert(!overflow_is_carry_into_inf || (inf_bits >> (Ms - M)) == beyond);
    if constexpr (!overflow_is_carry_into_inf) {
        mag = select(mag > U(max_mag), overflowed, mag);
        // An infinite input is exact: it stays infinite (or NaN, the family's "beyond") unless saturating.
        mag = select(a == U(inf_bits), U(T(saturating ? max_mag : beyond)), mag);
    }
    if constexpr (Format::family == encoding::ieee) {
        // NaN: quiet, keeping the sign and the top payload bits.
        const U nan = U(T(Format::quiet_nan_bits)) | ((a >> (Ms - M)) & U(T(Format::mantissa_mask)));
        mag = select(a > U(inf_bits), nan, mag);
    } else if constexpr (Format::has_nan) {
        mag = select(a > U(inf_bits), U(beyond), mag);
    }

    U result = (negative << (Format::exponent_bits + M)) | mag;
    if constexpr (Format::family == encoding::fnuz) {
        // No negative zero; the NaN 0x80 already has the sign bit whatever the sign.
        result = select(mag == U(T(0)), U(T(0)), result);
    }
    if constexpr (!Format::has_nan) {
        // Documented choice for finite-only formats: NaN gives +max (as saturating hardware does).
        result = select(a > U(inf_bits), U(max_mag), result);
    }
    return result;
}

// Full conversion of source bits to format bits (in the low total_bits of the lane).
// random: the 32-bit random word placed in the top 32 bits of the lane; random_mask: its
// top random_bits bits (see random_lane below).
template <class Format, class Source, rounding Mode, overflow Overflow, class U>
FEWBITS_ALWAYS_INLINE constexpr U encode(U x_bits, U random, U random_mask) noexcept
{
    using T = typename source_traits<Source>::uint;
    constexpr int W = std::numeric_limits<T>::digits;
    const U negative = x_bits >> (W - 1);
    const U a = x_bits & U(T(~(T(1) << (W - 1))));
    const U mag = round_magnitude<Format, Source, Mode>(a, negative, random, random_mask);
    return finish_encode<Format, Source, Mode, Overflow>(mag, a, negative);
}

// The normal range of a format whose smallest normal is above the source's (FP16, FP8 from
// float): the source bits of its smallest normal and of max. For |x| in that range encode
// reduces to one shift for the encoding and one for the fraction, with nothing to clamp:
// rounding up from below max reaches at most max, and max itself is exact.
template <class Format, class Source>
struct normal_range {
    using S = source_traits<Source>;
    using T = typename S::uint;
    static constexpr int emin_field = Format::min_exponent + S::exponent_bias;
    static constexpr int shift = S::mantissa_bits - Format::mantissa_bits;
    static constexpr bool useful = emin_field > 1;  // else round_magnitude's first branch is this already
    static constexpr T rebias = T(T(emin_field - 1) << Format::mantissa_bits);
    static constexpr T lo = T(T(emin_field) << S::mantissa_bits);
    static constexpr T hi = T((T(Format::max_magnitude) + rebias) << shift);
};

// encode for inputs with min normal <= |x| <= max of the format (normal_range), same bits;
// the kernels use it for a block of inputs that all lie there.
template <class Format, class Source, rounding Mode, class U>
FEWBITS_ALWAYS_INLINE constexpr U encode_normal(U x_bits, U random, U random_mask) noexcept
{
    using R = normal_range<Format, Source>;
    using T = typename R::T;
    constexpr int W = std::numeric_limits<T>::digits;
    const U negative = x_bits >> (W - 1);
    const U a = x_bits & U(T(~(T(1) << (W - 1))));
    const U enc = (a >> R::shift) - U(R::rebias);
    // Nothing lies below frac (it is exact), so the sticky bit is 0 in every mode.
    const U mag = enc + round_increment<Mode, T>(a << (W - R::shift), U(T(0)), enc & U(T(1)), negative, random,
                                                 random_mask);
    return (negative << (Format::exponent_bits + Format::mantissa_bits)) | mag;
}

// Places a 32-bit random word in the top bits of a W-bit lane.
template <class Source>
constexpr typename source_traits<Source>::uint random_lane(std::uint32_t word) noexcept
{
    using T = typename source_traits<Source>::uint;
    return T(T(word) << (std::numeric_limits<T>::digits - 32));
}
// Mask of the top random_bits bits of a W-bit lane (random_bits in 1..32).
template <class Source>
constexpr typename source_traits<Source>::uint random_mask(int random_bits) noexcept
{
    using T = typename source_traits<Source>::uint;
    return T(~T(0) << (std::numeric_limits<T>::digits - random_bits));
}

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP
