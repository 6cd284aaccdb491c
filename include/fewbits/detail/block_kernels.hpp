// The SIMD loops of the block-scaled formats (block_formats.hpp): the largest magnitude of each
// block, and the multiplication of whole blocks by their power-of-two scale. Like the rounding core they are written once for any
// lane type (a dispatched vector, an xsimd batch, or a plain uint32_t for the scalar path) in
// integer operations only, so every target gives the same bits and FTZ/DAZ change nothing.
// The rounding of the scaled elements is the existing encode kernels' (kernels.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <bit>
#include <cstring>
#include <type_traits>

#include "fewbits/config.hpp"
#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/dispatch.hpp"
#include "fewbits/detail/encode.hpp"
#include "fewbits/kernels.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

template <class U>
inline constexpr std::size_t lanes_of = [] {
    if constexpr (std::is_integral_v<U>)
        return std::size_t{1};
    else
        return std::size_t{U::size};
}();

template <class U>
FEWBITS_ALWAYS_INLINE inline U load_lanes(const void* p) noexcept
{
    if constexpr (std::is_integral_v<U>) {
        U v;
        std::memcpy(&v, p, sizeof v);
        return v;
    } else {
        return lane_io<U>::load(p);
    }
}
template <class U>
FEWBITS_ALWAYS_INLINE inline void store_lanes(const U& v, void* p) noexcept
{
    if constexpr (std::is_integral_v<U>)
        std::memcpy(p, &v, sizeof v);
    else
        lane_io<U>::store(v, p);
}

// The float bits of x * 2^k, given t_normal = 256 + k and t_subnormal = 107 + k (k in
// -160..160). Exact wherever the product is a normal float, zero or infinite (overflow gives
// inf, as the correctly rounded product does); inf and NaN pass unchanged. A product below
// float's normal range is truncated to the subnormal grid: exact for every use here (an
// element times its scale always fits, see dequantize), and for quantize a value below 2^-126
// is under 2^-110 of the smallest element step, where truncation and the exact value round
// alike in every mode MX allows (nearest, toward zero, stochastic with up to 32 bits).
template <class U>
FEWBITS_ALWAYS_INLINE inline U times_power_of_two(U x, U t_normal, U t_subnormal) noexcept
{
    const U sign = x & U(0x80000000u);
    const U a = x & U(0x7FFFFFFFu);
    const auto subnormal = (a >> 23) == U(0u);
    // A subnormal m * 2^-149 as the exact float m (an integer conversion: no DAZ), whose
    // exponent field is then 149 too high; t_subnormal takes that off.
    const U norm = select(subnormal, lane_ops<U>::int_to_float_bits(a), a);
    const U t = (norm >> 23) + select(subnormal, t_subnormal, t_normal);  // new exponent field + 256
    const U mantissa = norm & U(0x7FFFFFu);
    const U normal = ((t - U(256u)) << 23) | mantissa;
    const U tiny = (mantissa | U(0x800000u)) >> lane_min(U(257u) - t, U(31u));
    U r = select(t > U(256u), normal, tiny);
    r = select(t > U(256u + 254u), U(0x7F800000u), r);
    r = select(a == U(0u), U(0u), r);
    r = select(a > U(0x7F7FFFFFu), a, r);
    return sign | r;
}

// out[b] = the largest magnitude bits (sign cleared) of block b: an integer max, under which
// NaN > inf > every finite magnitude.
template <class U>
FEWBITS_ALWAYS_INLINE inline void block_amax_lanes(const float* in, std::size_t blocks, std::size_t block,
                                                   std::uint32_t* out) noexcept
{
    constexpr std::size_t W = lanes_of<U>;
    for (std::size_t b = 0; b < blocks; ++b) {
        const float* x = in + b * block;
        U m(0u);
        for (std::size_t j = 0; j < block; j += W) m = lane_max(m, load_lanes<U>(x + j) & U(0x7FFFFFFFu));
        std::uint32_t lanes[W];
        store_lanes<U>(m, lanes);
        std::uint32_t r = 0;
        for (std::size_t k = 0; k < W; ++k) r = lanes[k] > r ? lanes[k] : r;
        out[b] = r;
    }
}

// Block b's exponent k = direction * (code - 127) + offset, or, for a NaN scale (code 0xFF),
// false after filling the block with the bits nan_fill.
inline bool block_exponent(std::uint8_t code, int direction, int offset, float* o, std::size_t block,
                           std::uint32_t nan_fill, int& k) noexcept
{
    if (code == 0xFF) {
        for (std::size_t j = 0; j < block; ++j) std::memcpy(o + j, &nan_fill, sizeof nan_fill);
        return false;
    }
    k = direction * (static_cast<int>(code) - 127) + offset;
    return true;
}

// Block b of in times 2^k with k = direction * (codes[b] - 127) + offset, into out (may be
// in); a block whose code is 0xFF (NaN) is filled with the bits nan_fill.
template <class U>
FEWBITS_ALWAYS_INLINE inline void scale_blocks_lanes(const float* in, float* out, const std::uint8_t* codes,
                                                     std::size_t blocks, std::size_t block, int direction,
                                                     int offset, std::uint32_t nan_fill) noexcept
{
    constexpr std::size_t W = lanes_of<U>;
    for (std::size_t b = 0; b < blocks; ++b) {
        float* o = out + b * block;
        int k = 0;
        if (!block_exponent(codes[b], direction, offset, o, block, nan_fill, k)) continue;
        const U tn(static_cast<std::uint32_t>(256 + k)), ts(static_cast<std::uint32_t>(107 + k));
        const float* x = in + b * block;
        for (std::size_t j = 0; j < block; j += W) store_lanes<U>(times_power_of_two(load_lanes<U>(x + j), tn, ts), o + j);
    }
}

#if FEWBITS_DISPATCH
// The same by a float multiply, which is exact wherever the input and the product are normal
// floats or zero (and then FTZ/DAZ have nothing to flush). Every lane is checked: false when
// some nonzero input or its product was not a normal float (a subnormal input, which DAZ would
// read as zero; a product below 2^-126, which FTZ would flush) or 2^k is no normal float;
// the caller then does the whole call again by the integer path (in and out must differ).
template <class U, class F>
FEWBITS_ALWAYS_INLINE inline bool multiply_blocks_lanes(const float* in, float* out, const std::uint8_t* codes,
                                                        std::size_t blocks, std::size_t block, int direction,
                                                        int offset, std::uint32_t nan_fill) noexcept
{
    constexpr std::size_t W = lanes_of<U>;
    const U exponent(0x7F800000u), magnitude(0x7FFFFFFFu), none(0u), all(~0u);
    U bad(0u);
    for (std::size_t b = 0; b < blocks; ++b) {
        float* o = out + b * block;
        int k = 0;
        if (!block_exponent(codes[b], direction, offset, o, block, nan_fill, k)) continue;
        if (k < -126 || k > 127) return false;
        const F f = F{} + std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
        const float* x = in + b * block;
        for (std::size_t j = 0; j < block; j += W) {
            const U v = U::load(x + j);
            const U y = U::of(reinterpret_cast<typename U::R>(reinterpret_cast<F>(v.v) * f));
            const U a = v & magnitude;
            bad = bad | select(a != none, select((v & exponent) == none, all, none) | select((y & exponent) == none, all, none),
                               none);
            y.store(o + j);
        }
    }
    std::uint32_t lanes[W];
    bad.store(lanes);
    std::uint32_t any = 0;
    for (std::size_t i = 0; i < W; ++i) any |= lanes[i];
    return any == 0;
}
#endif

#if FEWBITS_DISPATCH
// attribute is a function attribute, which cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define FEWBITS_BLOCK_KERNELS_FOR_TARGET(name, attribute, lanes)                                              \
    attribute inline void scale_blocks_##name(const float* in, float* out, const std::uint8_t* codes,               \
                                              std::size_t blocks, std::size_t block, int direction, int offset,      \
                                              std::uint32_t nan_fill) noexcept                                       \
    {                                                                                                                \
        using U = vec::u32<lanes>;                                                                                   \
        if (in != out && multiply_blocks_lanes<U, typename vec::raw<lanes>::f32>(in, out, codes, blocks, block,       \
                                                                                direction, offset, nan_fill))        \
            return;                                                                                                  \
        scale_blocks_lanes<U>(in, out, codes, blocks, block, direction, offset, nan_fill);                           \
    }                                                                                                                \
    /* out's blocks times 2^(codes[b] - 127 + offset) in place: see multiply_blocks */                               \
    attribute inline void multiply_blocks_##name(float* out, const std::uint8_t* codes, std::size_t blocks,         \
                                                 std::size_t block, int offset, int k_lo, int k_hi) noexcept         \
    {                                                                                                                \
        using U = vec::u32<lanes>;                                                                                   \
        using F = typename vec::raw<lanes>::f32;                                                                     \
        for (std::size_t b = 0; b < blocks; ++b) {                                                                   \
            float* o = out + b * block;                                                                              \
            const int k = static_cast<int>(codes[b]) - 127 + offset;                                                 \
            if (codes[b] == 0xFF || k < k_lo || k > k_hi) {                                                          \
                scale_blocks_lanes<U>(o, o, codes + b, 1, block, 1, offset, 0x7FC00000u);              \
                continue;                                                                                            \
            }                                                                                                        \
            const F f = F{} + std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);                       \
            for (std::size_t j = 0; j < block; j += (lanes)) {                                                       \
                F v;                                                                                                 \
                std::memcpy(&v, o + j, sizeof v);                                                                    \
                v = v * f;                                                                                           \
                std::memcpy(o + j, &v, sizeof v);                                                                    \
            }                                                                                                        \
        }                                                                                                            \
    }
// NOLINTEND(bugprone-macro-parentheses)
// Block maxima with the horizontal maximum in intrinsics (blocks are 16 or 32 floats).
inline void block_amax_sse2(const float* in, std::size_t blocks, std::size_t block, std::uint32_t* out) noexcept
{
    block_amax_lanes<vec::u32<4>>(in, blocks, block, out);
}
FEWBITS_TARGET_AVX2 inline void block_amax_avx2(const float* in, std::size_t blocks, std::size_t block,
                                                std::uint32_t* out) noexcept
{
    const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
    for (std::size_t b = 0; b < blocks; ++b) {
        __m256i m = _mm256_setzero_si256();
        for (std::size_t j = 0; j < block; j += 8)
            m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + b * block + j)),
                                                     magnitude));
        __m128i r = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
        r = _mm_max_epu32(r, _mm_shuffle_epi32(r, 0x4E));
        r = _mm_max_epu32(r, _mm_shuffle_epi32(r, 0xB1));
        out[b] = static_cast<std::uint32_t>(_mm_cvtsi128_si32(r));
    }
}
FEWBITS_TARGET_AVX512 inline void block_amax_avx512(const float* in, std::size_t blocks, std::size_t block,
                                                    std::uint32_t* out) noexcept
{
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    for (std::size_t b = 0; b < blocks; ++b) {
        __m512i m = _mm512_setzero_si512();
        for (std::size_t j = 0; j < block; j += 16)
            m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(in + b * block + j), magnitude));
        out[b] = _mm512_reduce_max_epu32(m);
    }
}

FEWBITS_BLOCK_KERNELS_FOR_TARGET(sse2, FEWBITS_TARGET_SSE2, 4)
FEWBITS_BLOCK_KERNELS_FOR_TARGET(avx2, FEWBITS_TARGET_AVX2, 8)
FEWBITS_BLOCK_KERNELS_FOR_TARGET(avx512, FEWBITS_TARGET_AVX512, 16)
#undef FEWBITS_BLOCK_KERNELS_FOR_TARGET
#endif

// The dispatchers: the active target's loop, else the same lane code on plain integers.
inline void block_amax(const float* in, std::size_t blocks, std::size_t block, std::uint32_t* out) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return block_amax_avx512(in, blocks, block, out);
    case simd_target::avx2: return block_amax_avx2(in, blocks, block, out);
    case simd_target::sse2: return block_amax_sse2(in, blocks, block, out);
    default: break;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available)
        if (active_simd_target() != simd_target::scalar) return block_amax_lanes<simd::u32>(in, blocks, block, out);
#endif
    block_amax_lanes<std::uint32_t>(in, blocks, block, out);
}

inline void scale_blocks(const float* in, float* out, const std::uint8_t* codes, std::size_t blocks, std::size_t block,
                         int direction, int offset, std::uint32_t nan_fill) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return scale_blocks_avx512(in, out, codes, blocks, block, direction, offset, nan_fill);
    case simd_target::avx2: return scale_blocks_avx2(in, out, codes, blocks, block, direction, offset, nan_fill);
    case simd_target::sse2: return scale_blocks_sse2(in, out, codes, blocks, block, direction, offset, nan_fill);
    default: break;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available)
        if (active_simd_target() != simd_target::scalar)
            return scale_blocks_lanes<simd::u32>(in, out, codes, blocks, block, direction, offset, nan_fill);
#endif
    scale_blocks_lanes<std::uint32_t>(in, out, codes, blocks, block, direction, offset, nan_fill);
}

// Dequantize of whole blocks: the dispatched decode (kernels.hpp), then each block times
// 2^(codes[b] - 127 + offset). Where that power of two and every product of a nonzero element
// with it are normal floats (k in k_lo..k_hi), a float multiply is exact and meets no subnormal
// that FTZ/DAZ could flush; other blocks take the integer times_power_of_two. A NaN scale gives
// a NaN block.
inline void multiply_blocks(float* out, const std::uint8_t* codes, std::size_t blocks, std::size_t block, int offset,
                            int k_lo, int k_hi) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return multiply_blocks_avx512(out, codes, blocks, block, offset, k_lo, k_hi);
    case simd_target::avx2: return multiply_blocks_avx2(out, codes, blocks, block, offset, k_lo, k_hi);
    case simd_target::sse2: return multiply_blocks_sse2(out, codes, blocks, block, offset, k_lo, k_hi);
    default: break;
    }
#endif
    for (std::size_t b = 0; b < blocks; ++b) {
        float* o = out + b * block;
        const int k = static_cast<int>(codes[b]) - 127 + offset;
        if (codes[b] != 0xFF && k >= k_lo && k <= k_hi) {
            const float f = std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
            for (std::size_t j = 0; j < block; ++j) o[j] *= f;
        } else {
            scale_blocks(o, o, codes + b, 1, block, 1, offset, 0x7FC00000u);
        }
    }
}

template <class Format>
void dequantize_blocks(const typename Format::storage_type* in, float* out, const std::uint8_t* codes,
                       std::size_t blocks, std::size_t block) noexcept
{
    decode_block<Format>(in, out, blocks * block);
    // Nonzero elements lie in [2^(min_exponent - M), 2^(max_exponent + 1)).
    constexpr int k_lo = -126 - (Format::min_exponent - Format::mantissa_bits);
    constexpr int k_hi = 126 - Format::max_exponent;
    multiply_blocks(out, codes, blocks, block, 0, k_lo, k_hi);
}


// ---- packed E2M1 through a per-block table -------------------------------------------------
// Dequantize of packed E2M1 looks every code up in its block's table of the 16 values (decoded
// and scaled exactly as the generic path does): AVX-512 permutes a 16-float table in one
// instruction, AVX2 two 8-float halves. Other targets unpack, decode and scale.

alignas(64) inline constexpr float e2m1_values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                                      -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// out[16 g + i] = table_t[nibble i of packed[8 g .. 8 g + 8)] for g < groups (a multiple of
// groups_per_table), with t = g / groups_per_table and table_t = (e2m1_values * factors[t]) * last, or tables[16 t ..] where
// factors[t] is NaN (the caller's own table: a block the multiply would not give exactly).
// Returns how many groups it did: all of them, or 0 without a fast target.
#if FEWBITS_DISPATCH
FEWBITS_TARGET_AVX512 inline std::size_t fp4_lookup_avx512(const std::uint8_t* packed, const float* factors, float last,
                                                           const float* tables, float* out, std::size_t groups,
                                                           std::size_t groups_per_table) noexcept
{
    const __m512i shifts = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    const __m512i low4 = _mm512_set1_epi32(15);
    const __m512 values = _mm512_loadu_ps(e2m1_values);
    for (std::size_t t = 0; t * groups_per_table < groups; ++t) {
        const __m512 table = factors[t] == factors[t]
                                 ? _mm512_mul_ps(_mm512_mul_ps(values, _mm512_set1_ps(factors[t])), _mm512_set1_ps(last))
                                 : _mm512_loadu_ps(tables + 16 * t);
        for (std::size_t g = t * groups_per_table; g < (t + 1) * groups_per_table; ++g) {
            const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + 8 * g));
            const __m128i twice = _mm_unpacklo_epi8(bytes, bytes);  // b0 b0 b1 b1 ... b7 b7
            const __m512i idx = _mm512_and_si512(_mm512_srlv_epi32(_mm512_cvtepu8_epi32(twice), shifts), low4);
            _mm512_storeu_ps(out + 16 * g, _mm512_permutexvar_ps(idx, table));
        }
    }
    return groups;
}
FEWBITS_TARGET_AVX2 inline std::size_t fp4_lookup_avx2(const std::uint8_t* packed, const float* factors, float last,
                                                       const float* tables, float* out, std::size_t groups,
                                                       std::size_t groups_per_table) noexcept
{
    const __m256i shifts = _mm256_set_epi32(4, 0, 4, 0, 4, 0, 4, 0);
    const __m256i low4 = _mm256_set1_epi32(15);
    const __m256 values_lo = _mm256_loadu_ps(e2m1_values), values_hi = _mm256_loadu_ps(e2m1_values + 8);
    for (std::size_t t = 0; t * groups_per_table < groups; ++t) {
        __m256 lo, hi;
        if (factors[t] == factors[t]) {
            const __m256 f = _mm256_set1_ps(factors[t]), l = _mm256_set1_ps(last);
            lo = _mm256_mul_ps(_mm256_mul_ps(values_lo, f), l);
            hi = _mm256_mul_ps(_mm256_mul_ps(values_hi, f), l);
        } else {
            lo = _mm256_loadu_ps(tables + 16 * t);
            hi = _mm256_loadu_ps(tables + 16 * t + 8);
        }
        for (std::size_t g = t * groups_per_table; g < (t + 1) * groups_per_table; ++g) {
            const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + 8 * g));
            const __m128i twice = _mm_unpacklo_epi8(bytes, bytes);
            for (int half = 0; half < 2; ++half) {
                const __m128i part = half == 0 ? twice : _mm_srli_si128(twice, 8);
                const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_cvtepu8_epi32(part), shifts), low4);
                // permutevar8x32 reads the low 3 bits; bit 3 (the negative half) picks the table half.
                const __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                                                  _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
                _mm256_storeu_ps(out + 16 * g + std::size_t{8} * static_cast<std::size_t>(half), v);
            }
        }
    }
    return groups;
}
#endif

inline std::size_t fp4_lookup(const std::uint8_t* packed, const float* factors, float last, const float* tables,
                              float* out, std::size_t groups, std::size_t groups_per_table) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return fp4_lookup_avx512(packed, factors, last, tables, out, groups, groups_per_table);
    case simd_target::avx2: return fp4_lookup_avx2(packed, factors, last, tables, out, groups, groups_per_table);
    default: break;
    }
#endif
    (void)packed, (void)factors, (void)last, (void)tables, (void)out, (void)groups, (void)groups_per_table;
    return 0;
}

inline bool has_fp4_lookup() noexcept
{
#if FEWBITS_DISPATCH
    return active_simd_target() == simd_target::avx512 || active_simd_target() == simd_target::avx2;
#else
    return false;
#endif
}

// The lookup's factor for an MX block, 2^(code - 127) where e2m1_values times it is exact (the
// multiply of dequantize_blocks); else NaN, and table gets the values by the integer scaling
// (NaN for a NaN scale), as dequantize_blocks gives them.
inline float mx_fp4_factor(std::uint8_t code, float* table) noexcept
{
    constexpr int k_lo = -126 - (e2m1fn_format::min_exponent - e2m1fn_format::mantissa_bits);
    constexpr int k_hi = 126 - e2m1fn_format::max_exponent;
    const int k = static_cast<int>(code) - 127;
    if (code != 0xFF && k >= k_lo && k <= k_hi) return std::bit_cast<float>(static_cast<std::uint32_t>(k + 127) << 23);
    scale_blocks(e2m1_values, table, &code, 1, 16, 1, 0, 0x7FC00000u);
    return std::bit_cast<float>(0x7FC00000u);
}

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP
