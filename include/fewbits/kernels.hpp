// Bulk conversion kernels over std::span: quantize, dequantize, fake_quantize and scaled
// INT8 (the fused optimizer updates built on the same block machinery are in updates.hpp).
// Contracts, for element i:
//   quantize(in, out, p, s)       out[i] = convert<T>(in[i], p, word_i)
//   dequantize(in, out)           out[i] = static_cast<float>(in[i])            (exact)
//   fake_quantize(in, out, p, s)  out[i] = static_cast<float>(convert<T>(in[i], p, word_i))
//   quantize_int8(in, out, sc..)  out[i] = convert_int8(in[i], scale, p, word_i)
//   dequantize_int8(in, out, sc)  out[i] = float(in[i]) * scale
// with word_i = random_word(s.rng, s.seed, s.offset + i). So results depend only on the
// inputs, the format, the policy and the stream: never on the ISA, SIMD width, alignment,
// how a caller chunks an array (pass s.offset + start for a chunk) or threads.
// Caller-supplied random words: every kernel that takes a stream s also has an overload that
// takes std::span<const std::uint32_t> words instead, one word per element (word_i = words[i],
// the same law as convert's word; words.size() must equal the element count even when the
// policy does not round stochastically, and the words are then not read). With the stream's
// own words (fill_random_words(s, ...)) an overload gives exactly the stream call's bits: both
// run one loop.
// Errors: std::invalid_argument naming the argument, thrown before anything is written, for
// mismatched sizes, an invalid policy, a scale that is not positive finite.
// in and out may be the same array for fake_quantize; other overlaps are not allowed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/dispatch.hpp"
#include "fewbits/detail/encode.hpp"
#include "fewbits/detail/fast_paths.hpp"
#include "fewbits/detail/fast_paths_neon.hpp"
#include "fewbits/detail/simd.hpp"
#include "fewbits/error.hpp"
#include "fewbits/int8.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits {

// The instruction set the kernels run now: "avx512", "avx2", "sse2" or "scalar" with run-time
// dispatch (GCC or clang on x86-64: the best the CPU has, whatever -march the program was
// built with, unless lowered by FEWBITS_SIMD or set_simd_architecture); elsewhere xsimd's
// name for the compile-time architecture, or "scalar". Every choice gives the same bits.
inline const char* simd_architecture() noexcept { return detail::target_name(detail::active_simd_target()); }

// Lanes per SIMD step of the active instruction set (1 for scalar): for diagnostics.
inline std::size_t simd_width() noexcept
{
    switch (detail::active_simd_target()) {
    case detail::simd_target::sse2: return 4;
    case detail::simd_target::avx2: return 8;
    case detail::simd_target::avx512: return 16;
#if FEWBITS_HAS_XSIMD
    case detail::simd_target::compiled:
        if constexpr (detail::simd::available) return detail::simd::u32::size;
        return 1;
#endif
    default: return 1;
    }
}

// The instruction sets this process can run, lowest first ("scalar" always; with dispatch
// each of "sse2", "avx2", "avx512" up to the CPU's best): what set_simd_architecture accepts.
inline std::vector<std::string> simd_architectures()
{
    detail::simd_target all[5];
    const int n = detail::supported_simd_targets(all);
    std::vector<std::string> names;
    names.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) names.emplace_back(detail::target_name(all[i]));
    return names;
}

// Makes every later kernel call (in any thread) use the named instruction set, one of
// simd_architectures(); "best" restores the CPU's best. For tests and benchmarks: results are
// the same on each. Throws std::invalid_argument naming the value for any other name.
inline void set_simd_architecture(const std::string& name)
{
    detail::simd_target t = detail::best_simd_target();
    if (name != "best" && !(detail::parse_simd_target(name.c_str(), t) && detail::is_supported(t))) {
        std::string supported;
        for (const std::string& a : simd_architectures()) supported += (supported.empty() ? "" : ", ") + a;
        raise_invalid_argument("set_simd_architecture: name must be best or one of this CPU's " + supported +
                               ", got \"" + name + "\"");
    }
    detail::active_target_slot().store(static_cast<int>(t), std::memory_order_relaxed);
}

namespace detail {

// Random words are generated a block at a time into a small buffer that stays in L1, which
// keeps the generator and the rounding loops independent and both vectorised.
inline constexpr std::size_t block_size = 512;

template <class T>
using storage_of = typename T::storage_type;

template <class T>
storage_of<T>* storage_pointer(T* p) noexcept
{
    static_assert(sizeof(T) == sizeof(storage_of<T>) && std::is_standard_layout_v<T>);
    return reinterpret_cast<storage_of<T>*>(p);
}
template <class T>
const storage_of<T>* storage_pointer(const T* p) noexcept
{
    static_assert(sizeof(T) == sizeof(storage_of<T>) && std::is_standard_layout_v<T>);
    return reinterpret_cast<const storage_of<T>*>(p);
}

// The SIMD loops, written once for any lane type U (a dispatched vector or an xsimd batch):
// whole batches of [0, n), returning how many elements they did; the caller finishes the tail
// with the scalar core. words is only read for stochastic rounding.
template <class U, class Format, rounding Mode, overflow Overflow>
FEWBITS_ALWAYS_INLINE inline std::size_t encode_lanes(const float* in, typename Format::storage_type* out,
                                                      const std::uint32_t* words, std::size_t n,
                                                      std::uint32_t mask) noexcept
{
    constexpr std::size_t W = U::size;
    const U mask_lanes(mask);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        const U x = lane_io<U>::load(in + i);
        U w(0u);
        if constexpr (Mode == rounding::stochastic) w = lane_io<U>::load(words + i);
        lane_io<U>::store_narrow(encode<Format, float, Mode, Overflow>(x, w, mask_lanes), out + i);
    }
    return i;
}

template <class U, class Format>
FEWBITS_ALWAYS_INLINE inline std::size_t decode_lanes(const typename Format::storage_type* in, float* out,
                                                      std::size_t n) noexcept
{
    constexpr std::size_t W = U::size;
    std::size_t i = 0;
    for (; i + W <= n; i += W) lane_io<U>::store(decode_to_float_bits<Format>(lane_io<U>::template load_widen(in + i)), out + i);
    return i;
}

#if FEWBITS_DISPATCH
// Widening loads and narrowing stores of 8- and 16-bit codes for AVX2 and AVX-512, in
// intrinsics: GCC 12 turns the GNU-vector __builtin_convertvector of these widths into
// per-lane scalar code. They carry their target, so they are called only from functions of
// that target (the loops below), where the compiler may inline them.
template <class S>
FEWBITS_TARGET_AVX512 FEWBITS_ALWAYS_INLINE inline vec::u32<16> widen_avx512(const S* in) noexcept
{
    using R = vec::raw<16>::u32;
    vec::u32<16> r;  // (assigned, not passed: clang rejects a 64-byte vector argument to a non-AVX-512 function)
    if constexpr (sizeof(S) == 1)
        r.v = R(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
    else
        r.v = R(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))));
    return r;
}
template <class S>
FEWBITS_TARGET_AVX512 FEWBITS_ALWAYS_INLINE inline void narrow_avx512(vec::u32<16> v, S* out) noexcept
{
    const __m512i r = __m512i(v.v);
    if constexpr (sizeof(S) == 1)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(r));
    else
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(r));
}
template <class S>
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline vec::u32<8> widen_avx2(const S* in) noexcept
{
    using R = vec::raw<8>::u32;
    vec::u32<8> r;  // (assigned, not passed: see widen_avx512)
    if constexpr (sizeof(S) == 1)
        r.v = R(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(in))));
    else
        r.v = R(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in))));
    return r;
}
template <class S>
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline void narrow_avx2(vec::u32<8> v, S* out) noexcept
{
    const __m256i r = __m256i(v.v);
    const __m256i words = _mm256_packus_epi32(r, r);  // per 128-bit half: 4 values twice
    if constexpr (sizeof(S) == 1) {
        const __m256i bytes = _mm256_packus_epi16(words, words);  // 4 bytes per half
        const __m256i both = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(both));
    } else {
        const __m256i both = _mm256_permute4x64_epi64(words, 0x08);  // the halves' low 64 bits together
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(both));
    }
}

// The formats whose blocks of normal-range inputs take encode_normal: the named FP16 and FP8
// formats (the others would only add compile time to every program that includes this).
template <class Format>
inline constexpr bool has_normal_shortcut =
    normal_range<Format, float>::useful &&
    (std::is_same_v<Format, binary16_format> || std::is_same_v<Format, e4m3fn_format> ||
     std::is_same_v<Format, e5m2_format>);

// Whether every whole vector of in[0, n) lies in Format's normal range (normal_range), where
// encode_normal gives encode's bits with fewer instructions. Checked per block (a pass over
// 2 KiB in L1) rather than per vector, so that mixed inputs cost no mispredicted branches.
template <class U, class Format>
FEWBITS_ALWAYS_INLINE inline bool in_normal_range(const float* in, std::size_t n) noexcept
{
    using R = normal_range<Format, float>;
    constexpr std::size_t W = U::size;
    U outside(0u);
    for (std::size_t i = 0; i + W <= n; i += W) {
        const U a = U::load(in + i) & U(0x7FFFFFFFu);
        outside = outside | select(a - U(R::lo) > U(R::hi - R::lo), U(~0u), U(0u));
    }
    std::uint32_t lanes[W];
    outside.store(lanes);
    std::uint32_t any = 0;
    for (std::size_t k = 0; k < W; ++k) any |= lanes[k];
    return any == 0;
}

// One copy of each loop per target: whole batches through the always-inlined core, with the
// target's own widening and narrowing; returns how many elements it did. A block whose inputs
// all lie in the format's normal range takes encode_normal (same bits, fewer instructions).
#define FEWBITS_KERNELS_FOR_TARGET(name, attribute, lanes, widen, narrow)                                        \
    template <class Format, rounding Mode>                                                                       \
    attribute std::size_t encode_normal_##name(const float* in, typename Format::storage_type* out,             \
                                               const std::uint32_t* words, std::size_t n,                       \
                                               std::uint32_t mask) noexcept                                     \
    {                                                                                                            \
        using U = vec::u32<lanes>;                                                                               \
        const U mask_lanes(mask);                                                                                \
        std::size_t i = 0;                                                                                       \
        for (; i + (lanes) <= n; i += (lanes)) {                                                                 \
            U w(0u);                                                                                             \
            if constexpr (Mode == rounding::stochastic) w = U::load(words + i);                                  \
            narrow(encode_normal<Format, float, Mode>(U::load(in + i), w, mask_lanes), out + i);                 \
        }                                                                                                        \
        return i;                                                                                                \
    }                                                                                                            \
    template <class Format, rounding Mode, overflow Overflow>                                                    \
    attribute std::size_t encode_##name(const float* in, typename Format::storage_type* out,                    \
                                        const std::uint32_t* words, std::size_t n, std::uint32_t mask) noexcept \
    {                                                                                                            \
        using U = vec::u32<lanes>;                                                                               \
        const U mask_lanes(mask);                                                                                \
        std::size_t i = 0;                                                                                       \
        if constexpr (has_normal_shortcut<Format>)                                                               \
            if (in_normal_range<U, Format>(in, n)) return encode_normal_##name<Format, Mode>(in, out, words, n, mask); \
        for (; i + (lanes) <= n; i += (lanes)) {                                                                 \
            U w(0u);                                                                                             \
            if constexpr (Mode == rounding::stochastic) w = U::load(words + i);                                  \
            narrow(encode<Format, float, Mode, Overflow>(U::load(in + i), w, mask_lanes), out + i);              \
        }                                                                                                        \
        return i;                                                                                                \
    }                                                                                                            \
    template <class Format>                                                                                      \
    attribute std::size_t decode_##name(const typename Format::storage_type* in, float* out,                    \
                                        std::size_t n) noexcept                                                  \
    {                                                                                                            \
        std::size_t i = 0;                                                                                       \
        for (; i + (lanes) <= n; i += (lanes)) decode_to_float_bits<Format>(widen(in + i)).store(out + i);      \
        return i;                                                                                                \
    }
FEWBITS_KERNELS_FOR_TARGET(sse2, FEWBITS_TARGET_SSE2, 4, vec::load_widen<4>, vec::store_narrow)
FEWBITS_KERNELS_FOR_TARGET(avx2, FEWBITS_TARGET_AVX2, 8, widen_avx2, narrow_avx2)
FEWBITS_KERNELS_FOR_TARGET(avx512, FEWBITS_TARGET_AVX512, 16, widen_avx512, narrow_avx512)
#undef FEWBITS_KERNELS_FOR_TARGET

// Nearest-even and stochastic rounding into FP16 and FP8 on AVX2 for a block with inputs
// outside the normal range (subnormal results, overflow, inf, NaN): the core's encode with
// round_magnitude's one costly step, the per-lane shift that splits |x| below the format's
// smallest normal into kept steps and a 32-bit fraction (split_fixed_point: two clamps and
// variable shifts, each select three instructions in GCC 12's code), done by floats instead,
// while every lane at or above the smallest normal takes encode_normal's split. Below the
// smallest normal, y = |x| 2^-q (q: the exponent of the subnormal step, y < 2^M) is exact, and
// so are its integer part (truncation), the part below it (an exact subtraction: both lie on
// y's grid), and that part times 2^16 split the same way into the fraction's two 16-bit
// halves, whose truncations give the core's floored 32-bit fraction. Every operation is
// exact, so MXCSR's rounding mode does not matter; FTZ and DAZ can only act on a float
// subnormal |x|, whose fraction floors to 0 either way (|x| 2^-q 2^32 < 2^-70 for these
// formats). The sticky bit is not needed (nearest and stochastic); the rest is finish_encode.
// (AVX2 has no {sae}: inexact and invalid flags may be raised, as by F16C's conversions.)
template <class Format, rounding Mode>
inline constexpr bool encodes_by_float_split =
    has_normal_shortcut<Format> && (Mode == rounding::nearest_even || Mode == rounding::stochastic);

// The split for one vector: the codes of the floats x (words w for SR).
template <class Format, rounding Mode, overflow Overflow>
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline vec::u32<8> encode_split_lanes_avx2(vec::u32<8> x, vec::u32<8> w,
                                                                                   vec::u32<8> mask_lanes) noexcept
{
    static_assert(encodes_by_float_split<Format, Mode>);
    using U = vec::u32<8>;
    using R = vec::raw<8>::u32;
    using N = normal_range<Format, float>;
    constexpr int step_exponent = Format::min_exponent - Format::mantissa_bits;  // q
    const __m256 to_steps = _mm256_set1_ps(std::bit_cast<float>(std::uint32_t(127 - step_exponent) << 23));
    const __m256 two_to_16 = _mm256_set1_ps(65536.0f);
    const __m256i smallest_normal = _mm256_set1_epi32(std::int32_t(N::lo));
    const U negative = x >> 31;
    const U a = x & U(0x7FFFFFFFu);
    const __m256i a_bits = __m256i(a.v);
    const __m256 y = _mm256_mul_ps(_mm256_castsi256_ps(a_bits), to_steps);
    const __m256i kept = _mm256_cvttps_epi32(y);
    const __m256 high = _mm256_mul_ps(_mm256_sub_ps(y, _mm256_cvtepi32_ps(kept)), two_to_16);
    const __m256i high_bits = _mm256_cvttps_epi32(high);
    const __m256i low_bits =
        _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_sub_ps(high, _mm256_cvtepi32_ps(high_bits)), two_to_16));
    const __m256i fraction = _mm256_or_si256(_mm256_slli_epi32(high_bits, 16), low_bits);
    const __m256i subnormal = _mm256_cmpgt_epi32(smallest_normal, a_bits);  // both below 2^31
    U enc = (a >> N::shift) - U(N::rebias);
    U frac = a << (32 - N::shift);
    enc.v = R(_mm256_blendv_epi8(__m256i(enc.v), kept, subnormal));
    frac.v = R(_mm256_blendv_epi8(__m256i(frac.v), fraction, subnormal));
    const U mag = enc + round_increment<Mode, std::uint32_t>(frac, U(0u), enc & U(1u), negative, w, mask_lanes);
    return finish_encode<Format, float, Mode, Overflow>(mag, a, negative);
}

template <class Format, rounding Mode, overflow Overflow>
FEWBITS_TARGET_AVX2 std::size_t encode_split_avx2(const float* in, typename Format::storage_type* out,
                                                  const std::uint32_t* words, std::size_t n, std::uint32_t mask) noexcept
{
    using U = vec::u32<8>;
    if (in_normal_range<U, Format>(in, n)) return encode_normal_avx2<Format, Mode>(in, out, words, n, mask);
    const U mask_lanes(mask);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        U w(0u);
        if constexpr (Mode == rounding::stochastic) w = U::load(words + i);
        narrow_avx2(encode_split_lanes_avx2<Format, Mode, Overflow>(U::load(in + i), w, mask_lanes), out + i);
    }
    return i;
}

// The core's encode for one vector of 8 lanes on AVX2, by the float split where it applies (the
// fused updates' rounding).
template <class Format, rounding Mode, overflow Overflow>
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline vec::u32<8> encode_lanes_avx2(vec::u32<8> x, vec::u32<8> w,
                                                                             vec::u32<8> mask_lanes) noexcept
{
    if constexpr (encodes_by_float_split<Format, Mode>)
        return encode_split_lanes_avx2<Format, Mode, Overflow>(x, w, mask_lanes);
    else
        return encode<Format, float, Mode, Overflow>(x, w, mask_lanes);
}
#endif

// out[i] = encode(in[i], words[i]) for i < n, on the active instruction set.
template <class Format, rounding Mode, overflow Overflow>
void encode_block(const float* in, typename Format::storage_type* out, const std::uint32_t* words, std::size_t n,
                  std::uint32_t mask) noexcept
{
    std::size_t i = 0;
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512:
        if constexpr (encodes_by_vcvtps2ph<Format, Mode>)
            i = fp16_rne_avx512<Overflow>(in, out, n);
        else if constexpr (encodes_by_vcvtneps2bf16<Format, Mode>)
            i = cpu_has_avx512bf16() ? bf16_rne_avx512<Overflow>(in, out, n)
                                     : encode_avx512<Format, Mode, Overflow>(in, out, words, n, mask);
        else
            i = encode_avx512<Format, Mode, Overflow>(in, out, words, n, mask);
        break;
    case simd_target::avx2:
        if constexpr (encodes_by_vcvtps2ph<Format, Mode>)
            i = fp16_rne_avx2<Overflow>(in, out, n);
        else if constexpr (encodes_by_float_split<Format, Mode>)
            i = encode_split_avx2<Format, Mode, Overflow>(in, out, words, n, mask);
        else
            i = encode_avx2<Format, Mode, Overflow>(in, out, words, n, mask);
        break;
    case simd_target::sse2: i = encode_sse2<Format, Mode, Overflow>(in, out, words, n, mask); break;
    default: break;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available)
        if (active_simd_target() != simd_target::scalar) {
            bool by_hardware = false;
#if FEWBITS_NEON_FAST_PATHS
            by_hardware = encode_neon<Format, Mode, Overflow>(in, out, n, i);
#endif
            if (!by_hardware) i = encode_lanes<simd::u32, Format, Mode, Overflow>(in, out, words, n, mask);
        }
#endif
    for (; i < n; ++i) {
        std::uint32_t w = 0;  // words is only read (and only given) for stochastic rounding
        if constexpr (Mode == rounding::stochastic) w = words[i];
        out[i] = static_cast<typename Format::storage_type>(
            encode<Format, float, Mode, Overflow>(std::bit_cast<std::uint32_t>(in[i]), w, mask));
    }
}

template <class Format>
void decode_block(const typename Format::storage_type* in, float* out, std::size_t n) noexcept
{
    std::size_t i = 0;
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512:
        if constexpr (decodes_via_half<Format>)
            i = decode_half_avx512<Format>(in, out, n);
        else
            i = decode_avx512<Format>(in, out, n);
        break;
    case simd_target::avx2:
        if constexpr (decodes_via_half<Format>)
            i = decode_half_avx2<Format>(in, out, n);
        else
            i = decode_avx2<Format>(in, out, n);
        break;
    case simd_target::sse2: i = decode_sse2<Format>(in, out, n); break;
    default: break;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available)
        if (active_simd_target() != simd_target::scalar) {
            bool by_hardware = false;
#if FEWBITS_NEON_FAST_PATHS
            by_hardware = decode_neon<Format>(in, out, n, i);
#endif
            if (!by_hardware) i = decode_lanes<simd::u32, Format>(in, out, n);
        }
#endif
    for (; i < n; ++i) out[i] = std::bit_cast<float>(decode_to_float_bits<Format>(std::uint32_t(in[i])));
}

// The two sources of a kernel's random words, word i for element i: a stream (generated a
// block at a time) or the caller's own words (used in place). Every kernel is written once
// over a word source, so both overloads run the very same loop.
struct caller_words {
    const std::uint32_t* data;
};

// The source for elements [start, ...) of a call: what a chunked call at start would use.
inline stream advance(const stream& s, std::size_t start) noexcept { return stream{s.seed, s.offset + start, s.rng}; }
inline caller_words advance(caller_words w, std::size_t start) noexcept { return caller_words{w.data + start}; }

// Calls f(start, length, words) over blocks of [0, n); words holds the block's random words
// when the policy rounds stochastically (and is not filled otherwise).
template <class F>
void for_each_block(std::size_t n, const policy& p, const stream& s, F&& f)
{
    alignas(64) std::uint32_t words[block_size];
    for (std::size_t start = 0; start < n; start += block_size) {
        const std::size_t length = std::min(block_size, n - start);
        if (p.mode == rounding::stochastic)
            fill_random_words(advance(s, start), std::span<std::uint32_t>(words, length), p.random_bits);
        f(start, length, static_cast<const std::uint32_t*>(words));
    }
}
// The same blocks over the caller's words: nothing to generate.
template <class F>
void for_each_block(std::size_t n, const policy&, caller_words w, F&& f)
{
    for (std::size_t start = 0; start < n; start += block_size)
        f(start, std::min(block_size, n - start), w.data + start);
}

// One word per element: the words overloads' size check (names "words" or "velocity_words").
inline void require_words(std::size_t n, const char* n_name, std::span<const std::uint32_t> words,
                          const char* words_name)
{
    require_same_size(n, n_name, words.size(), words_name);
}

// Encodes n floats to storage under p, block by block (words: that block's random words).
template <class Format, class Words>
void encode_span(const float* in, typename Format::storage_type* out, std::size_t n, const policy& p, const Words& source)
{
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        for_each_block(n, p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            encode_block<Format, decltype(mode)::value, decltype(on_overflow)::value>(in + start, out + start, words,
                                                                                    length, mask);
        });
    });
}

// The kernels' loops, each over a word source (stream or caller_words); arguments validated.
template <class T, class Words>
void quantize_loop(std::span<const float> in, std::span<T> out, const policy& p, const Words& words)
{
    encode_span<typename T::format_type>(in.data(), storage_pointer(out.data()), in.size(), p, words);
}

template <class T, class Words>
void fake_quantize_loop(std::span<const float> in, std::span<float> out, const policy& p, const Words& source)
{
    using Format = typename T::format_type;
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        for_each_block(in.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            typename Format::storage_type encoded[block_size];
            encode_block<Format, decltype(mode)::value, decltype(on_overflow)::value>(in.data() + start, encoded, words,
                                                                                    length, mask);
            decode_block<Format>(encoded, out.data() + start, length);
        });
    });
}


template <class Words>
void quantize_int8_loop(std::span<const float> in, std::span<std::int8_t> out, float scale, const policy& p,
                        const Words& source)
{
    const std::uint32_t mask = random_mask<float>(p.random_bits);
#if FEWBITS_DISPATCH
    const int8_divisor divisor = make_int8_divisor(scale);
    const std::uint32_t k_plus_150 = int8_power_of_two_scale(scale);
#endif
    with_policy<false>(p, [&](auto mode, auto) {
        for_each_block(in.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            std::size_t i = 0;
#if FEWBITS_DISPATCH
            constexpr rounding Mode = decltype(mode)::value;
            const bool full = p.int8 == int8_range::full;
            const simd_target t = active_simd_target();
            if (k_plus_150 != 0 && t == simd_target::avx2)
                i = quantize_int8_power_of_two_avx2<Mode>(in.data() + start, out.data() + start, words, length,
                                                          k_plus_150, full, mask);
            else if (t == simd_target::avx2)
                i = quantize_int8_avx2<Mode>(in.data() + start, out.data() + start, words, length, divisor, full, mask);
            else if (t == simd_target::avx512)
                i = quantize_int8_avx512<Mode>(in.data() + start, out.data() + start, words, length, divisor, full,
                                               mask);
#endif
            for (; i < length; ++i) {
                std::uint32_t word = 0;
                if constexpr (decltype(mode)::value == rounding::stochastic) word = words[i];
                out[start + i] = round_int8<decltype(mode)::value>(in[start + i], scale, p.int8, word, mask);
            }
        });
    });
}

}  // namespace detail

template <low_precision T>
void quantize(std::span<const float> in, std::span<T> out, policy p = {}, stream s = {})
{
    validate(p);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::quantize_loop(in, out, p, s);
}
template <low_precision T>
void quantize(std::span<const float> in, std::span<T> out, policy p, std::span<const std::uint32_t> words)
{
    validate(p);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::require_words(in.size(), "in", words, "words");
    detail::quantize_loop(in, out, p, detail::caller_words{words.data()});
}

template <low_precision T>
void dequantize(std::span<const T> in, std::span<float> out)
{
    require_same_size(in.size(), "in", out.size(), "out");
    detail::decode_block<typename T::format_type>(detail::storage_pointer(in.data()), out.data(), in.size());
}

template <low_precision T>
void fake_quantize(std::span<const float> in, std::span<float> out, policy p = {}, stream s = {})
{
    validate(p);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::fake_quantize_loop<T>(in, out, p, s);
}
template <low_precision T>
void fake_quantize(std::span<const float> in, std::span<float> out, policy p, std::span<const std::uint32_t> words)
{
    validate(p);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::require_words(in.size(), "in", words, "words");
    detail::fake_quantize_loop<T>(in, out, p, detail::caller_words{words.data()});
}


inline void quantize_int8(std::span<const float> in, std::span<std::int8_t> out, float scale, policy p = {},
                          stream s = {})
{
    validate(p);
    detail::validate_scale(scale);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::quantize_int8_loop(in, out, scale, p, s);
}
inline void quantize_int8(std::span<const float> in, std::span<std::int8_t> out, float scale, policy p,
                          std::span<const std::uint32_t> words)
{
    validate(p);
    detail::validate_scale(scale);
    require_same_size(in.size(), "in", out.size(), "out");
    detail::require_words(in.size(), "in", words, "words");
    detail::quantize_int8_loop(in, out, scale, p, detail::caller_words{words.data()});
}

inline void dequantize_int8(std::span<const std::int8_t> in, std::span<float> out, float scale)
{
    detail::validate_scale(scale);
    require_same_size(in.size(), "in", out.size(), "out");
    std::size_t i = 0;
#if FEWBITS_DISPATCH
    switch (detail::active_simd_target()) {
    case detail::simd_target::avx512: i = detail::dequantize_int8_avx512(in.data(), out.data(), in.size(), scale); break;
    case detail::simd_target::avx2: i = detail::dequantize_int8_avx2(in.data(), out.data(), in.size(), scale); break;
    default: break;
    }
#endif
    for (; i < in.size(); ++i) out[i] = int8_value(in[i], scale);
}

}  // namespace fewbits

FEWBITS_SIMD_DIAGNOSTICS_POP
