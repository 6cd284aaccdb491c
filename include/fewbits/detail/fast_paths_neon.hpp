// Format-specific fast paths of the kernels on aarch64 (NEON is part of every aarch64 CPU): the
// same bits as the rounding core (encode.hpp, decode.hpp), with the work done by the CPU's own
// conversion instructions where those are exact, and the core for the rest. Each function does
// whole steps of 16 elements of [0, n) and returns how many it did; the caller finishes the tail
// with the scalar core. What each relies on (Arm ARM, the FCVTN/FCVTL/BFCVTN pseudocode):
//
// - The floating-point environment. FCVTN, FCVTL and BFCVTN obey FPCR: its rounding mode (RMode),
//   flush-to-zero (FZ), default-NaN (DN) and alternative half-precision (AHP) bits, and FEAT_AFP's
//   FIZ/AH, can all change their results, and FPCR's trap enables could make them trap. So the
//   paths run only while FPCR is entirely at its reset value (0, how Linux starts every thread):
//   round to nearest even, no flushing, NaNs propagated, IEEE half precision, no traps. Any other
//   FPCR sends the block to the integer core, which no FPCR bit affects. FPCR is read once per
//   call (a block of 512 elements in quantize), never written: writing it can stall the pipeline
//   on some cores, and a changed FPCR would be visible to a signal handler that runs inside the
//   loop; fixing the results up instead would redo the core's work for each FPCR bit.
//   The instructions set FPSR's cumulative flags (inexact, overflow, invalid for a signalling
//   NaN); each path puts FPSR back as it found it, so a kernel call leaves the flags as the
//   integer core does (untouched).
// - FP16 round-to-nearest-even (FCVTN, FCVTN2): under that FPCR, IEEE nearest-even onto FP16 for
//   every float (FP16 subnormals, ties, overflow to inf); a NaN keeps its sign and top 10 payload
//   bits with the quiet bit set, which is the contract's NaN. Saturation is the one fix-up: an
//   inf result (overflow or an infinite input) becomes max, sign kept.
// - BF16 round-to-nearest-even (BFCVTN, BFCVTN2), only where the CPU reports FEAT_BF16 (Linux:
//   HWCAP2_BF16, read once): unlike the BF16 arithmetic instructions, BFCVT/BFCVTN honour every
//   FPCR bit that applies to single precision, so under the reset FPCR they round to nearest
//   even, keep float subnormals (BF16 has float's exponent range, so they round onto BF16
//   subnormals) and quiet NaNs like the contract. Saturation is the same fix-up as FP16's.
// - Decoding FP16, E5M2, E4M3 (fn and fnuz): the code's exponent and mantissa fields, placed as
//   FP16 fields, are the FP16 value 2^(bias - 15) times the code's value, subnormals included;
//   FCVTL is exact (FP16 subnormals are float normals) and the product by 2^(15 - bias) is exact.
//   FP16's reading differs from the code's only for NaN codes (FCVTL quiets a signalling NaN;
//   E4M3's NaN reads as a number, E4M3 FNUZ's as -0): a step of 16 codes that holds one is
//   decoded by the core instead.
//
// aarch64 with xsimd only (the kernels' SIMD layer there); elsewhere nothing here is defined and
// FEWBITS_NEON_FAST_PATHS is 0.
#pragma once

#include "fewbits/config.hpp"

#if defined(__aarch64__) && FEWBITS_HAS_XSIMD && (defined(__GNUC__) || defined(__clang__))
#if XSIMD_WITH_NEON64
#define FEWBITS_NEON_FAST_PATHS 1
#endif
#endif
#ifndef FEWBITS_NEON_FAST_PATHS
#define FEWBITS_NEON_FAST_PATHS 0
#endif

#if FEWBITS_NEON_FAST_PATHS

#include <arm_neon.h>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/encode.hpp"
#include "fewbits/detail/simd.hpp"
#include "fewbits/format.hpp"
#include "fewbits/policy.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

// ---------------------------------------------------------------------------------------
// The floating-point environment.

inline std::uint64_t read_fpcr() noexcept
{
    std::uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v) : : "memory");
    return v;
}

// True when FPCR is at its reset value, the one state in which the conversion instructions
// below give the contract's bits (see the top of this file).
inline bool fpcr_is_default() noexcept { return read_fpcr() == 0; }

// Puts FPSR back as it was when constructed. The "memory" clobbers keep the conversions, whose
// inputs are loaded and results stored in between, inside the saved interval.
class fpsr_restorer {
public:
    fpsr_restorer() noexcept { __asm__ volatile("mrs %0, fpsr" : "=r"(saved_) : : "memory"); }
    ~fpsr_restorer() { __asm__ volatile("msr fpsr, %0" : : "r"(saved_) : "memory"); }
    fpsr_restorer(const fpsr_restorer&) = delete;
    fpsr_restorer& operator=(const fpsr_restorer&) = delete;

private:
    std::uint64_t saved_;
};

// FEAT_BF16 (BFCVT, BFCVTN), which is optional before Armv8.6: asked of the OS once.
inline bool cpu_has_bf16() noexcept
{
#if defined(__linux__) && defined(AT_HWCAP2)
#if defined(HWCAP2_BF16)
    constexpr unsigned long hwcap2_bf16 = HWCAP2_BF16;
#else
    constexpr unsigned long hwcap2_bf16 = 1ul << 14;  // the Linux ABI's bit, for older C libraries
#endif
    static const bool has = (getauxval(AT_HWCAP2) & hwcap2_bf16) != 0;
    return has;
#else
    return false;  // no portable query elsewhere: the integer core
#endif
}

// ---------------------------------------------------------------------------------------
// Round to nearest even into FP16 and BF16.

template <class Format, rounding Mode>
inline constexpr bool encodes_by_fcvtn = std::is_same_v<Format, binary16_format> && Mode == rounding::nearest_even;
template <class Format, rounding Mode>
inline constexpr bool encodes_by_bfcvtn =
    std::is_same_v<Format, bfloat16_format> && Mode == rounding::nearest_even;

// 16 floats per step (two registers of 8 codes). Saturation: a code whose magnitude is inf's
// (bits << 1 == inf << 1 drops the sign) gets all ones added, i.e. becomes max, sign kept.
template <overflow Overflow>
inline std::size_t fp16_rne_neon(const float* in, std::uint16_t* out, std::size_t n) noexcept
{
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint16x8_t codes[2];
        for (int h = 0; h < 2; ++h) {
            const float* x = in + i + 8 * h;
            codes[h] = vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x)), vld1q_f32(x + 4)));
            if constexpr (Overflow == overflow::saturate)
                codes[h] = vaddq_u16(codes[h], vceqq_u16(vshlq_n_u16(codes[h], 1), vdupq_n_u16(0xF800)));
        }
        vst1q_u16(out + i, codes[0]);
        vst1q_u16(out + i + 8, codes[1]);
    }
    return i;
}

// BFCVTN and BFCVTN2 of 8 floats (lo, then hi) into 8 BF16 codes, as encoded words with the
// registers fixed: GCC 12 declares the BF16 intrinsics only inside functions whose target is
// "arch=armv8.2-a+bf16", clang 14 only when the whole translation unit is built with +bf16, and
// clang 14's assembler does not know the bf16 extension directive; words assemble with any
// compiler and -march. They run only where cpu_has_bf16().
FEWBITS_ALWAYS_INLINE inline uint16x8_t bfcvtn_pair(float32x4_t lo, float32x4_t hi) noexcept
{
    register float32x4_t lo_in_v1 __asm__("v1") = lo;
    register float32x4_t hi_in_v2 __asm__("v2") = hi;
    register uint16x8_t codes_in_v0 __asm__("v0");
    __asm__(".inst 0x0ea16820  // bfcvtn  v0.4h, v1.4s\n\t"
            ".inst 0x4ea16840  // bfcvtn2 v0.8h, v2.4s"
            : "=w"(codes_in_v0)
            : "w"(lo_in_v1), "w"(hi_in_v2));
    return codes_in_v0;
}

// Same steps as fp16_rne_neon.
template <overflow Overflow>
inline std::size_t bf16_rne_neon(const float* in, std::uint16_t* out, std::size_t n) noexcept
{
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint16x8_t codes[2];
        for (int h = 0; h < 2; ++h) {
            const float* x = in + i + 8 * h;
            codes[h] = bfcvtn_pair(vld1q_f32(x), vld1q_f32(x + 4));
            if constexpr (Overflow == overflow::saturate)
                codes[h] = vaddq_u16(codes[h], vceqq_u16(vshlq_n_u16(codes[h], 1), vdupq_n_u16(0xFF00)));
        }
        vst1q_u16(out + i, codes[0]);
        vst1q_u16(out + i + 8, codes[1]);
    }
    return i;
}

// The kernels' entry: encodes whole vectors of in[0, n) by FCVTN or BFCVTN when one applies to
// this format and mode, on this CPU, under the current FPCR; then sets done to how many elements
// it did and returns true. Otherwise returns false (the caller's loops do the block).
template <class Format, rounding Mode, overflow Overflow>
inline bool encode_neon(const float* in, typename Format::storage_type* out, std::size_t n, std::size_t& done) noexcept
{
    if constexpr (encodes_by_fcvtn<Format, Mode> || encodes_by_bfcvtn<Format, Mode>) {
        if (!fpcr_is_default()) return false;
        if constexpr (encodes_by_fcvtn<Format, Mode>) {
            const fpsr_restorer keep_flags;
            done = fp16_rne_neon<Overflow>(in, out, n);
            return true;
        } else {
            if (!cpu_has_bf16()) return false;
            const fpsr_restorer keep_flags;
            done = bf16_rne_neon<Overflow>(in, out, n);
            return true;
        }
    } else {
        (void)in, (void)out, (void)n, (void)done;
        return false;
    }
}

// ---------------------------------------------------------------------------------------
// Decoding through FP16: the formats of decodes_via_half (decode.hpp), as on x86.

// 16 codes per step: one check for NaN codes over all 16, then the codes' fields placed as FP16
// fields (with 5 exponent bits one widening shift; E4M3 is sign-extended first, so that the shift
// leaves the sign in bits 15 and 14, and bit 14 is cleared), FCVTL, and the exact product.
template <class Format>
inline std::size_t decode_half_neon(const typename Format::storage_type* in, float* out, std::size_t n) noexcept
{
    constexpr int E = Format::exponent_bits, M = Format::mantissa_bits;
    static_assert(decodes_via_half<Format>);
    constexpr bool bytes = sizeof(typename Format::storage_type) == 1;
    constexpr float scale = float(1u << (15 - Format::bias));  // 2^(15 - bias), exact
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint16x8_t half[2];
        bool nan_code;
        if constexpr (bytes) {
            const uint8x16_t codes = vld1q_u8(in + i);
            const uint8x16_t twice_magnitude = vshlq_n_u8(codes, 1);  // the sign shifted out
            uint8x16_t nan;
            if constexpr (Format::family == encoding::ieee)
                nan = vcgtq_u8(twice_magnitude, vdupq_n_u8(std::uint8_t(Format::exponent_field_max << (M + 1))));
            else if constexpr (Format::family == encoding::fn)
                nan = vceqq_u8(twice_magnitude, vdupq_n_u8(std::uint8_t(Format::magnitude_mask << 1)));
            else
                nan = vceqq_u8(codes, vdupq_n_u8(std::uint8_t(Format::sign_mask)));
            nan_code = vmaxvq_u8(nan) != 0;
            if constexpr (E == 5) {
                half[0] = vshll_n_u8(vget_low_u8(codes), 10 - M);
                half[1] = vshll_high_n_u8(codes, 10 - M);
            } else {
                static_assert(E == 4 && Format::total_bits == 8);
                const int8x16_t signed_codes = vreinterpretq_s8_u8(codes);
                half[0] = vbicq_u16(vreinterpretq_u16_s16(vshll_n_s8(vget_low_s8(signed_codes), 10 - M)), vdupq_n_u16(0x4000));
                half[1] = vbicq_u16(vreinterpretq_u16_s16(vshll_high_n_s8(signed_codes, 10 - M)), vdupq_n_u16(0x4000));
            }
        } else {
            static_assert(std::is_same_v<Format, binary16_format>);
            half[0] = vld1q_u16(in + i);
            half[1] = vld1q_u16(in + i + 8);
            const uint16x8_t twice_inf = vdupq_n_u16(0xF800);  // magnitudes doubled: the sign shifted out
            nan_code = vmaxvq_u16(vorrq_u16(vcgtq_u16(vshlq_n_u16(half[0], 1), twice_inf),
                                            vcgtq_u16(vshlq_n_u16(half[1], 1), twice_inf))) != 0;
        }
        if (nan_code) {
            // The core decodes the 16 codes (its lanes: 4 codes zero-extended to 32 bits).
            using lanes = xsimd::batch<std::uint32_t, xsimd::neon64>;
            for (int q = 0; q < 4; ++q) {
                std::uint32_t wide[4];
                for (int k = 0; k < 4; ++k) wide[k] = in[i + 4 * q + k];
                vst1q_u32(reinterpret_cast<std::uint32_t*>(out + i + 4 * q),
                          decode_to_float_bits<Format>(lanes(vld1q_u32(wide))));
            }
            continue;
        }
        for (int h = 0; h < 2; ++h) {
            const float16x8_t f16 = vreinterpretq_f16_u16(half[h]);
            float32x4_t lo = vcvt_f32_f16(vget_low_f16(f16)), hi = vcvt_high_f32_f16(f16);
            if constexpr (Format::bias != 15) {
                lo = vmulq_n_f32(lo, scale);
                hi = vmulq_n_f32(hi, scale);
            }
            vst1q_f32(out + i + 8 * h, lo);
            vst1q_f32(out + i + 8 * h + 4, hi);
        }
    }
    return i;
}

// The kernels' entry for decoding, like encode_neon.
template <class Format>
inline bool decode_neon(const typename Format::storage_type* in, float* out, std::size_t n, std::size_t& done) noexcept
{
    if constexpr (decodes_via_half<Format>) {
        if (!fpcr_is_default()) return false;
        const fpsr_restorer keep_flags;
        done = decode_half_neon<Format>(in, out, n);
        return true;
    } else {
        (void)in, (void)out, (void)n, (void)done;
        return false;
    }
}

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP

#endif  // FEWBITS_NEON_FAST_PATHS
