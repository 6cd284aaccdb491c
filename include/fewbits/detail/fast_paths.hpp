// Format-specific fast paths of the dispatched kernels on x86-64 (AVX2 with F16C, AVX-512):
// the same bits as the rounding core (encode.hpp, decode.hpp, int8.hpp), with the work done by
// instructions that are exact for the inputs each path takes, and the core itself for the
// rest. Each function does whole vectors of [0, n) and returns how many elements it did; the
// caller finishes the tail with the scalar core. What each relies on:
//
// - round-to-nearest-even into FP16: vcvtps2ph with an explicit nearest-even immediate is the
//   contract's rounding for every float (normals, FP16 subnormals, ties, overflow to inf), is
//   independent of MXCSR's rounding mode, and ignores FTZ; DAZ can only turn a float subnormal
//   into zero, which nearest-even sends to zero anyway. It quiets NaNs by setting the top
//   mantissa bit and keeps the sign and the top 10 payload bits: the contract's NaN. Saturation
//   is the one fix-up: an inf result (overflow or an infinite input) becomes max.
// - decoding FP16, E5M2, E4M3 (fn and fnuz): the code's exponent and mantissa fields, placed
//   as FP16 fields, are the FP16 value 2^(bias - 15) times the code's value, subnormals
//   included; vcvtph2ps is exact (half subnormals are float normals, so DAZ and FTZ do not
//   apply) and the product by 2^(15 - bias) is exact. NaN codes are fixed up in the float bits
//   (vcvtph2ps quiets a signalling NaN; E4M3's NaNs read as numbers); on AVX2 a vector that
//   holds one goes through decode_to_float_bits instead.
// - INT8 with a scale: |x| / scale as 32.32 fixed point (the contract's exact quotient) from a
//   double product with the reciprocal, corrected to the exact floor by the sign of the exact
//   residual; then the core's round_increment. See quantize_int8_avx512.
//
// Only x86-64 with run-time dispatch (FEWBITS_DISPATCH); elsewhere nothing here is defined.
#pragma once

#include "fewbits/config.hpp"

#if FEWBITS_DISPATCH

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <immintrin.h>
#include <type_traits>

#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/dispatch.hpp"
#include "fewbits/detail/encode.hpp"
#include "fewbits/detail/vec.hpp"
#include "fewbits/format.hpp"
#include "fewbits/policy.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

// ---------------------------------------------------------------------------------------
// Round to nearest even into FP16.

template <class Format, rounding Mode>
inline constexpr bool encodes_by_vcvtps2ph = std::is_same_v<Format, binary16_format> && Mode == rounding::nearest_even;

template <overflow Overflow>
FEWBITS_TARGET_AVX512 inline std::size_t fp16_rne_avx512(const float* in, std::uint16_t* out, std::size_t n) noexcept
{
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if constexpr (Overflow == overflow::saturate) {
            const __mmask16 inf = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, _mm256_set1_epi16(0x7FFF)),
                                                          _mm256_set1_epi16(0x7C00));
            h = _mm256_mask_sub_epi16(h, inf, h, _mm256_set1_epi16(1));  // 0x7C00 - 1 = max, sign kept
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), h);
    }
    return i;
}

template <overflow Overflow>
FEWBITS_TARGET_AVX2 inline std::size_t fp16_rne_avx2(const float* in, std::uint16_t* out, std::size_t n) noexcept
{
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
        if constexpr (Overflow == overflow::saturate) {
            const __m128i inf = _mm_cmpeq_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7FFF)), _mm_set1_epi16(0x7C00));
            h = _mm_add_epi16(h, inf);  // inf lanes are all ones: minus 1
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
    }
    return i;
}

// ---------------------------------------------------------------------------------------
// Round to nearest even into BF16 with AVX512-BF16 (a CPU feature beyond the AVX-512 target's
// F/BW/DQ/VL, checked once at run time): vcvtneps2bf16 always rounds to nearest even, ignores
// MXCSR, quiets NaNs like the contract (sign, 0x7FC0, top payload bits) and overflows to inf;
// but it reads float subnormals as zero. A vector that holds one (0 < |x| < 2^-126, the only
// inputs with a BF16 subnormal result) takes the core for those lanes; saturation is the same
// fix-up as FP16's.

template <class Format, rounding Mode>
inline constexpr bool encodes_by_vcvtneps2bf16 =
    std::is_same_v<Format, bfloat16_format> && Mode == rounding::nearest_even;

#define FEWBITS_TARGET_AVX512BF16                                                                        \
    __attribute__((target("avx512bf16,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt," \
                          "popcnt")))

inline bool cpu_has_avx512bf16() noexcept
{
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512bf16") != 0;
    }();
    return has;
}

template <overflow Overflow>
FEWBITS_TARGET_AVX512BF16 inline std::size_t bf16_rne_avx512(const float* in, std::uint16_t* out,
                                                             std::size_t n) noexcept
{
    using U = vec::u32<16>;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(in + i);
        __m256i h = (__m256i)_mm512_cvtneps_pbh(x);
        const __m512i a = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF));
        const __mmask16 subnormal =
            _mm512_cmplt_epu32_mask(_mm512_sub_epi32(a, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x007FFFFF));
        if (subnormal != 0) {
            U bits;
            bits.v = vec::raw<16>::u32(_mm512_castps_si512(x));
            const __m512i exact = __m512i(encode<bfloat16_format, float, rounding::nearest_even, Overflow>(bits, U(0u), U(0u)).v);
            h = _mm256_mask_mov_epi16(h, subnormal, _mm512_cvtepi32_epi16(exact));
        }
        if constexpr (Overflow == overflow::saturate) {
            const __mmask16 inf = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, _mm256_set1_epi16(0x7FFF)),
                                                          _mm256_set1_epi16(0x7F80));
            h = _mm256_mask_sub_epi16(h, inf, h, _mm256_set1_epi16(1));  // 0x7F80 - 1 = max, sign kept
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), h);
    }
    return i;
}

// ---------------------------------------------------------------------------------------
// Decoding through FP16.

template <class Format>
inline constexpr float half_scale = static_cast<float>(Format::bias > 15 ? 0.0 : double(1u << (15 - Format::bias)));

// 16 codes as FP16 bits (see decode_half_avx512) to floats at out.
template <class Format>
FEWBITS_TARGET_AVX512 FEWBITS_ALWAYS_INLINE inline void half_to_float_avx512(__m256i half, float* out) noexcept
{
    constexpr int M = Format::mantissa_bits;
    // {sae}: a signalling NaN code raises no invalid-operation flag (the scalar core raises none).
    __m512 f = _mm512_cvt_roundph_ps(half, _MM_FROUND_NO_EXC);
    if constexpr (Format::bias != 15)
        f = _mm512_mul_round_ps(f, _mm512_set1_ps(half_scale<Format>), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // NaN is not FP16's reading of the fields: fixed in the float bits without a branch.
    const __m256i mag = _mm256_and_si256(half, _mm256_set1_epi16(0x7FFF));
    if constexpr (Format::family == encoding::ieee) {
        // vcvtph2ps sets the quiet bit of a signalling NaN: put the code's own bit back.
        const __mmask16 nan = _mm256_cmpgt_epu16_mask(mag, _mm256_set1_epi16(0x7C00));
        const __m512i quiet = _mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 13);
        f = _mm512_castsi512_ps(_mm512_mask_ternarylogic_epi32(_mm512_castps_si512(f), nan,
                                                               _mm512_set1_epi32(0x00400000), quiet, 0xB8));
    } else if constexpr (Format::family == encoding::fn) {
        // The NaN S.1111.111 decodes to sign | 0x7FC00000.
        const __mmask16 nan =
            _mm256_cmpeq_epi16_mask(mag, _mm256_set1_epi16(std::int16_t(Format::magnitude_mask << (10 - M))));
        f = _mm512_castsi512_ps(_mm512_mask_ternarylogic_epi32(_mm512_castps_si512(f), nan,
                                                               _mm512_set1_epi32(std::int32_t(0x80000000u)),
                                                               _mm512_set1_epi32(0x7FC00000), 0xEA));
    } else {
        // fnuz: the NaN is the sign bit alone, which reads as -0; it decodes to 0x7FC00000.
        const __mmask16 nan = _mm256_cmpeq_epi16_mask(half, _mm256_set1_epi16(std::int16_t(0x8000)));
        f = _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7FC00000)));
    }
    _mm512_storeu_ps(out, f);
}

template <class Format>
FEWBITS_TARGET_AVX512 inline std::size_t decode_half_avx512(const typename Format::storage_type* in, float* out,
                                                            std::size_t n) noexcept
{
    constexpr int E = Format::exponent_bits, M = Format::mantissa_bits;
    static_assert(Format::family != encoding::finite && (Format::family != encoding::ieee || E == 5),
                  "decodes_via_half: the named formats");
    // The code's sign to bit 15, its exponent and mantissa fields to FP16's. With 5 exponent
    // bits that is one shift of the whole code; an 8-bit code with 4 is sign-extended first,
    // so that the shift leaves the sign in bits 15 and 14, and bit 14 is cleared.
    std::size_t i = 0;
    if constexpr (sizeof(typename Format::storage_type) == 1) {
        // 32 codes at a time: the 16-bit steps on a whole zmm.
        for (; i + 32 <= n; i += 32) {
            const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
            __m512i half;
            if constexpr (E == 5) {
                half = _mm512_slli_epi16(_mm512_cvtepu8_epi16(codes), 10 - M);
            } else {
                static_assert(E == 4 && Format::total_bits == 8);
                half = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(codes), 10 - M),
                                        _mm512_set1_epi16(std::int16_t(0xBFFF)));
            }
            half_to_float_avx512<Format>(_mm512_castsi512_si256(half), out + i);
            half_to_float_avx512<Format>(_mm512_extracti64x4_epi64(half, 1), out + i + 16);
        }
    }
    for (; i + 16 <= n; i += 16) {
        __m256i half;
        if constexpr (E == 5) {
            if constexpr (sizeof(typename Format::storage_type) == 1)
                half = _mm256_slli_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))),
                                         10 - M);
            else
                half = _mm256_slli_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)), 10 - M);
        } else {
            half = _mm256_and_si256(
                _mm256_slli_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))), 10 - M),
                _mm256_set1_epi16(std::int16_t(0xBFFF)));
        }
        half_to_float_avx512<Format>(half, out + i);
    }
    return i;
}

template <class Format>
FEWBITS_TARGET_AVX2 inline std::size_t decode_half_avx2(const typename Format::storage_type* in, float* out,
                                                        std::size_t n) noexcept
{
    constexpr int E = Format::exponent_bits, M = Format::mantissa_bits;
    const __m128i sign_mask = _mm_set1_epi16(std::int16_t(Format::sign_mask));
    const __m128i magnitude_mask = _mm_set1_epi16(std::int16_t(Format::magnitude_mask));
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i codes;
        if constexpr (sizeof(typename Format::storage_type) == 1)
            codes = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i)));
        else
            codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
        const __m128i half = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(codes, sign_mask), 15 - E - M),
                                          _mm_slli_epi16(_mm_and_si128(codes, magnitude_mask), 10 - M));
        __m256 f = _mm256_cvtph_ps(half);
        if constexpr (Format::bias != 15) f = _mm256_mul_ps(f, _mm256_set1_ps(half_scale<Format>));
        // The codes whose fields are not FP16's reading of them (inf and NaN; E4M3's NaNs),
        // as all-ones 16-bit lanes.
        __m128i specials = _mm_setzero_si128();
        const __m128i mag = _mm_and_si128(codes, magnitude_mask);
        if constexpr (Format::family == encoding::ieee) {
            // mag >= exponent_field_max << M, signed compare is fine: mag < 2^15
            specials = _mm_cmpgt_epi16(mag, _mm_set1_epi16(std::int16_t((Format::exponent_field_max << M) - 1)));
        } else if constexpr (Format::family == encoding::fn) {
            specials = _mm_cmpeq_epi16(mag, magnitude_mask);
        } else if constexpr (Format::family == encoding::fnuz) {
            specials = _mm_cmpeq_epi16(codes, sign_mask);
        }
        if (_mm_movemask_epi8(specials) != 0) {
            vec::u32<8> wide;
            wide.v = vec::raw<8>::u32(_mm256_cvtepu16_epi32(codes));
            const __m256i exact = __m256i(decode_to_float_bits<Format>(wide).v);
            f = _mm256_blendv_ps(f, _mm256_castsi256_ps(exact), _mm256_castsi256_ps(_mm256_cvtepi16_epi32(specials)));
        }
        _mm256_storeu_ps(out + i, f);
    }
    return i;
}

// ---------------------------------------------------------------------------------------
// Scaled INT8.

// float(q) * scale, one product rounded once, as the scalar int8_value (same MXCSR).
FEWBITS_TARGET_AVX512 inline std::size_t dequantize_int8_avx512(const std::int8_t* in, float* out, std::size_t n,
                                                                float scale) noexcept
{
    const __m512 s = _mm512_set1_ps(scale);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtepi32_ps(q), s));
    }
    return i;
}
FEWBITS_TARGET_AVX2 inline std::size_t dequantize_int8_avx2(const std::int8_t* in, float* out, std::size_t n,
                                                            float scale) noexcept
{
    const __m256 s = _mm256_set1_ps(scale);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), s));
    }
    return i;
}

// The end of every vectorised quantize_int8: the integer part q of |x| / scale and its 32-bit
// fraction (with a sticky bit for what lies below it) rounded by the core's round_increment;
// lanes outside in_range (|x| / scale >= 256, inf) take the range's end, NaN gives 0; the sign
// applied last. The signed result in 32-bit lanes.
template <rounding Mode, int N>
FEWBITS_ALWAYS_INLINE inline vec::u32<N> finish_int8(vec::u32<N> q, vec::u32<N> frac, vec::u32<N> sticky,
                                                     vec::mask<N> in_range, vec::u32<N> a, vec::u32<N> negative,
                                                     vec::u32<N> word, vec::u32<N> random_mask,
                                                     vec::u32<N> full) noexcept
{
    using U = vec::u32<N>;
    q = q + round_increment<Mode, std::uint32_t>(frac, sticky, q & U(1u), negative, word, random_mask);
    q = select(in_range, q, U(256u));
    q = vec::min(q, U(127u) + (negative & full));
    q = select(a > U(0x7F800000u), U(0u), q);
    const U minus = U(0u) - negative;  // all ones for negative inputs
    return (q ^ minus) - minus;
}

// Stores eight signed 32-bit lanes (each in -128..127) as bytes: signed saturating packs,
// 4 bytes per 128-bit half, then the halves together.
FEWBITS_TARGET_AVX2 inline void store_int8_avx2(__m256i r, std::int8_t* out) noexcept
{
    const __m256i words16 = _mm256_packs_epi32(r, r);
    const __m256i bytes = _mm256_packs_epi16(words16, words16);
    const __m256i both = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(both));
}

// The scale as doubles for quantize_int8_avx512 and quantize_int8_avx2, exact but for the reciprocal (built from the
// scale's bits, so that DAZ cannot flush a subnormal scale).
struct int8_divisor {
    double scale;        // the scale, exactly
    double reciprocal;   // 1 / scale, rounded
    double limit;        // 2^40 * scale, exactly: |x| * 2^32 below it means |x| / scale < 256
};
inline int8_divisor make_int8_divisor(float scale) noexcept
{
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(scale);
    const std::uint32_t field = bits >> 23;
    const double significand = double((bits & 0x7FFFFFu) | (field != 0 ? 0x800000u : 0u));
    const double s = std::ldexp(significand, (field != 0 ? int(field) : 1) - 150);
    return {s, 1.0 / s, std::ldexp(s, 40)};
}

// The operand of the exact quotient in doubles (quantize_int8_avx512 and quantize_int8_avx2):
// abs(x) * 2^32 = significand * 2^(power_field - 1023) exactly, where power_field is the
// double exponent field of 2^(e - 150 + 32), e = max(the float's exponent field, 1).
template <int N>
struct int8_operand {
    vec::u32<N> negative, magnitude, significand, power_field;
};
template <int N>
FEWBITS_ALWAYS_INLINE inline int8_operand<N> int8_operand_of(vec::u32<N> x) noexcept
{
    using U = vec::u32<N>;
    const U a = x & U(0x7FFFFFFFu);
    const U field = a >> 23;
    return {x >> 31, a, (a & U(0x7FFFFFu)) | select(field == U(0u), U(0u), U(0x800000u)),
            vec::max(field, U(1u)) + U(1023u - 150u + 32u)};
}

// quantize_int8 on AVX-512, for every mode. The contract's quotient y = |x| / scale in 32.32
// fixed point, floored, with a sticky bit, is computed exactly without a division:
//   X = |x| * 2^32, exact as a double (built from the float's integer significand and a power
//   of two, so DAZ does not apply); t = X * (1 / scale) is within 2^-51 relative of X / scale,
//   so for X / scale < 2^40 its floor F is the true floor or off by one; r = X - F * scale is
//   exact in one FMA (|r| < 2 scale and r is a multiple of min(ulp(X), ulp(scale)), so it has
//   at most 26 significant bits), and its sign moves F to the true floor, where r in
//   [0, scale) and r != 0 is the sticky bit. No double here is subnormal, so FTZ/DAZ never
//   act, and every rounding either is exact or is corrected, so MXCSR's mode does not matter.
// F's integer part and its low 32 bits (the fraction) then go through round_increment like
// the scalar core; lanes at or beyond 256 * scale, inf and NaN take the contract's ends.
template <rounding Mode>
FEWBITS_TARGET_AVX512 inline std::size_t quantize_int8_avx512(const float* in, std::int8_t* out,
                                                              const std::uint32_t* words, std::size_t n,
                                                              const int8_divisor& d, bool full_range,
                                                              std::uint32_t random_mask) noexcept
{
    using U = vec::u32<16>;
    using R = vec::raw<16>::u32;
    const __m512d scale = _mm512_set1_pd(d.scale), reciprocal = _mm512_set1_pd(d.reciprocal);
    const __m512d limit = _mm512_set1_pd(d.limit), one = _mm512_set1_pd(1.0), zero = _mm512_setzero_pd();
    const __m512d integer_bias = _mm512_set1_pd(0x1p52);  // F + 2^52 has F in its low mantissa bits
    const U mask_lanes(random_mask), full(full_range ? 1u : 0u);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int8_operand<16> o = int8_operand_of(U::load(in + i));
        const U negative = o.negative, a = o.magnitude, significand = o.significand, power_field = o.power_field;
        __m256i fraction[2], integer[2];
        __mmask8 inexact[2], below_limit[2];
        for (int h = 0; h < 2; ++h) {
            const __m256i sig = h == 0 ? _mm512_castsi512_si256(__m512i(significand.v))
                                       : _mm512_extracti64x4_epi64(__m512i(significand.v), 1);
            const __m256i pf = h == 0 ? _mm512_castsi512_si256(__m512i(power_field.v))
                                      : _mm512_extracti64x4_epi64(__m512i(power_field.v), 1);
            const __m512d power = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_cvtepu32_epi64(pf), 52));
            // Embedded rounding with {sae}: no MXCSR mode, no status flags.
            constexpr int rne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
            const __m512d X = _mm512_mul_round_pd(_mm512_cvtepu32_pd(sig), power, rne);
            __m512d F = _mm512_roundscale_pd(_mm512_mul_round_pd(X, reciprocal, rne),
                                             _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512d r = _mm512_fnmadd_round_pd(F, scale, X, rne);
            const __mmask8 over = _mm512_cmp_pd_mask(r, zero, _CMP_LT_OQ);
            const __mmask8 under = _mm512_cmp_pd_mask(r, scale, _CMP_GE_OQ);
            F = _mm512_mask_sub_pd(F, over, F, one);
            r = _mm512_mask_add_pd(r, over, r, scale);
            F = _mm512_mask_add_pd(F, under, F, one);
            r = _mm512_mask_sub_pd(r, under, r, scale);
            inexact[h] = _mm512_cmp_pd_mask(r, zero, _CMP_NEQ_UQ);
            below_limit[h] = _mm512_cmp_pd_mask(X, limit, _CMP_LT_OQ);
            const __m512i bits = _mm512_castpd_si512(_mm512_add_pd(F, integer_bias));
            fraction[h] = _mm512_cvtepi64_epi32(bits);
            integer[h] = _mm512_cvtepi64_epi32(_mm512_srli_epi64(bits, 32));
        }
        const __mmask16 sticky_mask = __mmask16(inexact[0] | (inexact[1] << 8));
        const __mmask16 in_range_mask = __mmask16(below_limit[0] | (below_limit[1] << 8));
        U frac, q, sticky, in_range;
        frac.v = R(_mm512_inserti64x4(_mm512_castsi256_si512(fraction[0]), fraction[1], 1));
        q.v = R(_mm512_inserti64x4(_mm512_castsi256_si512(integer[0]), integer[1], 1));
        q = q & U(0xFFFFFu);  // F's bits above 2^32 (below 2^52)
        sticky.v = R(_mm512_maskz_mov_epi32(sticky_mask, _mm512_set1_epi32(1)));
        in_range.v = R(_mm512_movm_epi32(in_range_mask));
        U w(0u);
        if constexpr (Mode == rounding::stochastic) w = U::load(words + i);
        const U result = finish_int8<Mode>(q, frac, sticky, in_range != U(0u) && a < U(0x7F800000u), a, negative, w,
                                           mask_lanes, full);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(__m512i(result.v)));
    }
    return i;
}


// quantize_int8 on AVX2 for every scale: quantize_int8_avx512's exact quotient in two halves of
// four doubles (AVX2 with FMA: the same products, floor, FMA residual and corrections; compares
// give all-ones lanes where AVX-512 has mask registers). No instruction here takes an embedded
// rounding mode: X and the residual are exact and the reciprocal product is corrected, so the
// result does not depend on MXCSR's mode, and no double is subnormal, so not on FTZ/DAZ.
template <rounding Mode>
FEWBITS_TARGET_AVX2 inline std::size_t quantize_int8_avx2(const float* in, std::int8_t* out,
                                                          const std::uint32_t* words, std::size_t n,
                                                          const int8_divisor& d, bool full_range,
                                                          std::uint32_t random_mask) noexcept
{
    using U = vec::u32<8>;
    using R = vec::raw<8>::u32;
    const __m256d scale = _mm256_set1_pd(d.scale), reciprocal = _mm256_set1_pd(d.reciprocal);
    const __m256d limit = _mm256_set1_pd(d.limit), one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
    const __m256d integer_bias = _mm256_set1_pd(0x1p52);  // F + 2^52 has F in its low mantissa bits
    // The low 32-bit halves of four 64-bit lanes to the low 128 bits, the high halves above.
    const __m256i halves = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const U mask_lanes(random_mask), full(full_range ? 1u : 0u);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int8_operand<8> o = int8_operand_of(U::load(in + i));
        const U negative = o.negative, a = o.magnitude;
        const __m256i significand = __m256i(o.significand.v), power_field = __m256i(o.power_field.v);
        __m128i fraction[2], integer[2], inexact[2], below_limit[2];
        for (int h = 0; h < 2; ++h) {
            const __m128i sig = h == 0 ? _mm256_castsi256_si128(significand) : _mm256_extracti128_si256(significand, 1);
            const __m128i pf = h == 0 ? _mm256_castsi256_si128(power_field) : _mm256_extracti128_si256(power_field, 1);
            const __m256d power = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_cvtepu32_epi64(pf), 52));
            const __m256d X = _mm256_mul_pd(_mm256_cvtepi32_pd(sig), power);  // exact: sig < 2^24
            __m256d F = _mm256_round_pd(_mm256_mul_pd(X, reciprocal), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m256d r = _mm256_fnmadd_pd(F, scale, X);
            const __m256d over = _mm256_cmp_pd(r, zero, _CMP_LT_OQ);
            const __m256d under = _mm256_cmp_pd(r, scale, _CMP_GE_OQ);
            F = _mm256_add_pd(_mm256_sub_pd(F, _mm256_and_pd(over, one)), _mm256_and_pd(under, one));
            r = _mm256_sub_pd(_mm256_add_pd(r, _mm256_and_pd(over, scale)), _mm256_and_pd(under, scale));
            const __m256i bits = _mm256_permutevar8x32_epi32(_mm256_castpd_si256(_mm256_add_pd(F, integer_bias)), halves);
            fraction[h] = _mm256_castsi256_si128(bits);
            integer[h] = _mm256_extracti128_si256(bits, 1);
            inexact[h] = _mm256_castsi256_si128(
                _mm256_permutevar8x32_epi32(_mm256_castpd_si256(_mm256_cmp_pd(r, zero, _CMP_NEQ_UQ)), halves));
            below_limit[h] = _mm256_castsi256_si128(
                _mm256_permutevar8x32_epi32(_mm256_castpd_si256(_mm256_cmp_pd(X, limit, _CMP_LT_OQ)), halves));
        }
        // (Lanes set through .v: clang rejects passing a 32-byte vector by value in this region.)
        U q, frac, sticky;
        q.v = R(_mm256_set_m128i(integer[1], integer[0]));
        q = q & U(0xFFFFFu);  // F's bits above 2^32 (below 2^52)
        frac.v = R(_mm256_set_m128i(fraction[1], fraction[0]));
        sticky.v = R(_mm256_set_m128i(inexact[1], inexact[0]));
        sticky = sticky & U(1u);
        const vec::mask<8> in_range{R(_mm256_set_m128i(below_limit[1], below_limit[0]))};
        U w(0u);
        if constexpr (Mode == rounding::stochastic) w = U::load(words + i);
        const __m256i r = __m256i(
            finish_int8<Mode>(q, frac, sticky, in_range && a < U(0x7F800000u), a, negative, w, mask_lanes, full)
                .v);
        store_int8_avx2(r, out + i);
    }
    return i;
}

// quantize_int8 on AVX2 for a power-of-two scale 2^k with k >= -148 (AVX2 has no double path
// above; on AVX-512 the same code in 16 lanes measured slower than the double path, 0.73 vs
// 0.9-1.6 G elements/s, so AVX-512 uses that for every scale): |x| / scale = sig * 2^(e - 150 - k)
// exactly, so the contract's 32.32 quotient is sig split at shift = k + 150 - e bits
// (split_fixed_point, as the float core does), in 32-bit lanes. k >= -148 keeps shift >= 1 for
// every input that can lie below 256 * scale (a larger input has shift <= 0 or kept >= 256).
// Then round_increment like the scalar core; beyond the range (inf included) the range's end,
// NaN 0.
template <rounding Mode, class U>
FEWBITS_ALWAYS_INLINE inline U round_int8_power_of_two(U x, U word, U random_mask, U k_plus_150, U full) noexcept
{
    using T = std::uint32_t;
    const U negative = x >> 31;
    const U a = x & U(0x7FFFFFFFu);
    const U field = a >> 23;
    const U sig = (a & U(0x7FFFFFu)) | select(field == U(0u), U(0u), U(0x800000u));
    const U e = vec::max(field, U(1u));
    const U valid = select(e < k_plus_150 && a < U(0x7F800000u), U(~0u), U(0u));  // shift >= 1, finite
    const fixed_point<U> fp = split_fixed_point<T>(sig, vec::max(k_plus_150 - e, U(1u)));
    const U sticky = select(fp.frac == U(0u) && fp.rem != U(0u), U(1u), U(0u));
    return finish_int8<Mode>(fp.kept, fp.frac, sticky, valid != U(0u) && fp.kept < U(256u), a, negative, word,
                             random_mask, full);
}

// k + 150 for a scale 2^k with k >= -148, else 0 (not such a scale).
inline std::uint32_t int8_power_of_two_scale(float scale) noexcept
{
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(scale);
    const std::uint32_t field = bits >> 23, mantissa = bits & 0x7FFFFFu;
    if (field != 0) return mantissa == 0 ? field + 23 : 0;  // 2^(field - 127): k + 150 = field + 23
    // a subnormal power of two 2^(j - 149) with mantissa 2^j: k + 150 = j + 1, needs j >= 1
    return (mantissa & (mantissa - 1)) == 0 && mantissa >= 2 ? std::uint32_t(std::countr_zero(mantissa)) + 1 : 0;
}

template <rounding Mode>
FEWBITS_TARGET_AVX2 inline std::size_t quantize_int8_power_of_two_avx2(const float* in, std::int8_t* out,
                                                                      const std::uint32_t* words, std::size_t n,
                                                                      std::uint32_t k_plus_150, bool full_range,
                                                                      std::uint32_t random_mask) noexcept
{
    using U = vec::u32<8>;
    // (Broadcasts outside the loop: GCC 12 builds a GNU vector from a run-time scalar lane by lane.)
    const U mask_lanes(random_mask), full(full_range ? 1u : 0u), k(k_plus_150);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        U w(0u);
        if constexpr (Mode == rounding::stochastic) w = U::load(words + i);
        store_int8_avx2(__m256i(round_int8_power_of_two<Mode>(U::load(in + i), w, mask_lanes, k, full).v), out + i);
    }
    return i;
}

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP

#endif  // FEWBITS_DISPATCH
