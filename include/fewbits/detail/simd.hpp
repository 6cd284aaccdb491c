// The thin layer between fewbits and xsimd: which architecture the kernels use, the batch
// types, the lane operations the generic core needs beyond operators, the spelling that
// differs between xsimd 8 (Debian bookworm) and 11+ (bitwise_cast), and the narrowing and
// widening between 32-bit lanes and 8/16-bit storage, which xsimd does not provide: raw
// per-ISA intrinsics, with a store-and-loop fallback for any other architecture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "fewbits/config.hpp"
#include "fewbits/detail/decode.hpp"

#if FEWBITS_HAS_XSIMD

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail::simd {

// GCC at -O0 (no __OPTIMIZE__) turns its AVX-512 intrinsics into macros whose casts xsimd
// 8.1's avx512bw code cannot compile ("invalid cast ... to type '__v64qi'"), so an
// unoptimised GCC build of an AVX-512 -march uses the AVX2 kernels instead: same bits, and
// speed does not matter at -O0. Every optimised build, and clang, keeps xsimd's best arch.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__OPTIMIZE__) && XSIMD_WITH_AVX512F && XSIMD_WITH_AVX2
using arch = xsimd::avx2;
#else
using arch = xsimd::default_arch;
#endif
// True when xsimd found an instruction set for this build's -march.
inline constexpr bool available = !std::is_same_v<arch, xsimd::unavailable>;

template <class T>
using batch = xsimd::batch<T, arch>;
using u32 = batch<std::uint32_t>;
using f32 = batch<float>;

template <class To, class From>
inline To bit_cast(const From& x) noexcept
{
#if XSIMD_VERSION_MAJOR >= 11
    return xsimd::bitwise_cast<typename To::value_type>(x);
#else
    return xsimd::bitwise_cast<To>(x);
#endif
}

// Stores the low 8 or 16 bits of each lane (the values fit) to out[0 .. u32::size).
// (A is a template parameter so that only the branch of this build's ISA is instantiated.)
template <class S, class A = arch>
inline void store_narrow(const xsimd::batch<std::uint32_t, A>& v, S* out) noexcept
{
    using B = xsimd::batch<std::uint32_t, A>;
    static_assert(sizeof(S) == 1 || sizeof(S) == 2);
#if XSIMD_WITH_AVX512F
    if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
        const __m512i r = v;
        if constexpr (sizeof(S) == 1)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(r));
        else
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(r));
        return;
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
        const __m256i r = v;
        const __m256i words = _mm256_packus_epi32(r, r);  // per 128-bit half: 4 values twice
        if constexpr (sizeof(S) == 1) {
            const __m256i bytes = _mm256_packus_epi16(words, words);  // 4 bytes per half
            const __m256i both = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
            _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(both));
        } else {
            const __m256i both = _mm256_permute4x64_epi64(words, 0x08);  // halves' low 64 bits together
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(both));
        }
        return;
    }
#endif
#if XSIMD_WITH_SSE2
    if constexpr (std::is_base_of_v<xsimd::sse2, A>) {
        const __m128i r = v;
        if constexpr (sizeof(S) == 1) {
            const __m128i words = _mm_packs_epi32(r, r);  // values < 256 fit signed 16 bits
            const int four = _mm_cvtsi128_si32(_mm_packus_epi16(words, words));
            std::memcpy(out, &four, 4);
        } else {
            // SSE2 has only signed saturation: shift the range down, pack, shift back.
            const __m128i bias32 = _mm_set1_epi32(0x8000);
            const __m128i words = _mm_packs_epi32(_mm_sub_epi32(r, bias32), _mm_sub_epi32(r, bias32));
            _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_add_epi16(words, _mm_set1_epi16(-0x8000)));
        }
        return;
    }
#endif
#if XSIMD_WITH_NEON
    if constexpr (std::is_base_of_v<xsimd::neon, A>) {
        const uint32x4_t r = v;
        const uint16x4_t words = vmovn_u32(r);
        if constexpr (sizeof(S) == 1) {
            const uint8x8_t bytes = vmovn_u16(vcombine_u16(words, words));
            vst1_lane_u32(reinterpret_cast<std::uint32_t*>(static_cast<void*>(out)), vreinterpret_u32_u8(bytes), 0);
        } else {
            vst1_u16(reinterpret_cast<std::uint16_t*>(out), words);
        }
        return;
    }
#endif
    alignas(64) std::uint32_t lanes[B::size];
    v.store_aligned(lanes);
    for (std::size_t i = 0; i < B::size; ++i) out[i] = static_cast<S>(lanes[i]);
}

// Loads in[0 .. u32::size) zero-extended to 32-bit lanes.
template <class S, class A = arch>
inline xsimd::batch<std::uint32_t, A> load_widen(const S* in) noexcept
{
    using B = xsimd::batch<std::uint32_t, A>;
    static_assert(sizeof(S) == 1 || sizeof(S) == 2);
#if XSIMD_WITH_AVX512F
    if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
        if constexpr (sizeof(S) == 1)
            return B(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
        else
            return B(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))));
    }
#endif
#if XSIMD_WITH_AVX2
    if constexpr (std::is_base_of_v<xsimd::avx2, A>) {
        if constexpr (sizeof(S) == 1)
            return B(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in))));
        else
            return B(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
    }
#endif
#if XSIMD_WITH_SSE2
    if constexpr (std::is_base_of_v<xsimd::sse2, A>) {
        const __m128i zero = _mm_setzero_si128();
        if constexpr (sizeof(S) == 1) {
            int four;
            std::memcpy(&four, in, 4);
            const __m128i bytes = _mm_cvtsi32_si128(four);
            return B(_mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
        } else {
            return B(_mm_unpacklo_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in)), zero));
        }
    }
#endif
#if XSIMD_WITH_NEON
    if constexpr (std::is_base_of_v<xsimd::neon, A>) {
        if constexpr (sizeof(S) == 1) {
            std::uint32_t four;
            std::memcpy(&four, in, 4);
            const uint8x8_t bytes = vreinterpret_u8_u32(vdup_n_u32(four));
            return B(vmovl_u16(vget_low_u16(vmovl_u8(bytes))));
        } else {
            return B(vmovl_u16(vld1_u16(reinterpret_cast<const std::uint16_t*>(in))));
        }
    }
#endif
    alignas(64) std::uint32_t lanes[B::size];
    for (std::size_t i = 0; i < B::size; ++i) lanes[i] = in[i];
    return B::load_aligned(lanes);
}

}  // namespace fewbits::detail::simd

namespace fewbits::detail {

template <class A>
struct lane_ops<xsimd::batch<std::uint32_t, A>> {
    using u32 = xsimd::batch<std::uint32_t, A>;
    static u32 int_to_float_bits(const u32& m) noexcept
    {
        return simd::bit_cast<u32>(xsimd::batch_cast<float>(simd::bit_cast<xsimd::batch<std::int32_t, A>>(m)));
    }
};

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP

#endif  // FEWBITS_HAS_XSIMD
