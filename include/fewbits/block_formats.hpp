// Block-scaled formats: OCP Microscaling (MX v1.0: MXFP8 E4M3/E5M2, MXFP6 E3M2/E2M3, MXFP4 E2M1,
// MXINT8) and NVIDIA's NVFP4, with every element rounding of fewbits, stochastic rounding
// included. docs/block_formats.md has the formats, the rules and the edge cases in full.
//
// MX: every block of 32 consecutive elements shares one E8M0 scale 2^s (block_scale.hpp gives
// s from the block's largest magnitude under the chosen rule); element i stores
// convert<E>(in[i] * 2^-s, options.elements, word_i), so it stands for out[i] * 2^s. MXINT8's
// element q (int8_t, -127..127) stands for q / 64 * 2^s. Edge cases:
// - NaN or +-inf anywhere in a block: scale NaN (0xFF), the block's elements are stored as +0
//   and dequantize to NaN (OCP: the scale makes the whole block NaN).
// - all-zero block: scale 2^-127, elements +-0 (the signs kept).
// - elements beyond the element max (floor rule) round under elements.on_overflow: saturate
//   (the default, as OCP asks) or the element's inf/NaN.
// - a scale clamped at 2^-127 (amax below 2^-127 * 2^emax) leaves elements to round toward
//   or to zero by the element rule (a scale that underflows).
// word_i = random_word(s.rng, s.seed, s.offset + i), one word per element as in every kernel,
// so the bits never depend on ISA, chunking or threads; chunks must start on a block boundary.
// Element modes: nearest_even, nearest_away (microxcaling's "nearest"), toward_zero and
// stochastic (random_bits 1..32). options.pre_scale (in (0, 1]) multiplies every input after
// the block's scale is chosen from the unscaled inputs, rounded to float once: 0.75 is Tseng et
// al.'s guard against clipping under SR (a floor-scaled block maximum below 8 x 2^s becomes one
// below 6 x 2^s); dequantize does not undo it.
//
// NVFP4: blocks of 16 E2M1 elements, each with an E4M3 scale, under one float tensor scale;
// two E2M1 codes per byte, the element with the lower index in the low nibble. Two scale chains:
// NVIDIA Transformer Engine's (the default) and torchao's (see nvfp4_scale_rule).
//
// Errors (std::invalid_argument naming the argument and the value, nothing written): sizes not
// a multiple of the block, mismatched spans, an invalid policy or rule, an element mode other
// than the four above, a pre_scale outside (0, 1], a tensor_amax that is negative or not finite.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fewbits/block_scale.hpp"
#include "fewbits/detail/block_kernels.hpp"
#include "fewbits/e8m0.hpp"
#include "fewbits/error.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/types.hpp"

namespace fewbits {

inline constexpr std::size_t mx_block_size = 32;
inline constexpr std::size_t nvfp4_block_size = 16;

struct mx_options {
    mx_scale_rule scale = mx_scale_rule::floor;
    policy elements = {rounding::nearest_even, overflow::saturate};
    float pre_scale = 1.0f;  // in (0, 1]: elements are rounded from in[i] * pre_scale (Tseng et al.: 0.75 with SR)
};

namespace detail {

inline void validate_block_policy(const policy& p, const char* options)
{
    validate(p);
    if (p.mode != rounding::nearest_even && p.mode != rounding::nearest_away && p.mode != rounding::toward_zero &&
        p.mode != rounding::stochastic)
        raise_invalid_argument(std::string(options) +
                               ".elements.mode must be nearest_even, nearest_away, toward_zero or stochastic, got " +
                               std::to_string(static_cast<int>(p.mode)));
}

inline void require_blocks(std::size_t n, const char* name, std::size_t block)
{
    if (n % block != 0)
        raise_invalid_argument(std::string(name) + ".size() (" + std::to_string(n) + ") must be a multiple of " +
                               std::to_string(block));
}

inline void validate_positive_finite(float x, const char* name)
{
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    if (bits == 0 || bits >= 0x7F800000u)
        raise_invalid_argument(std::string(name) + " must be positive and finite, got " + exact_string(x));
}

inline void validate_mx_options(const mx_options& o)
{
    if (static_cast<unsigned>(o.scale) > static_cast<unsigned>(mx_scale_rule::even))
        raise_invalid_argument("options.scale must be a fewbits::mx_scale_rule (0..2), got " +
                               std::to_string(static_cast<int>(o.scale)));
    validate_block_policy(o.elements, "options");
    if (!(o.pre_scale > 0.0f && o.pre_scale <= 1.0f))
        raise_invalid_argument("options.pre_scale must be in (0, 1], got " + exact_string(o.pre_scale));
}

template <class E>
auto* element_pointer(E* p) noexcept
{
    if constexpr (std::is_same_v<std::remove_const_t<E>, std::int8_t>)
        return p;
    else
        return storage_pointer(p);
}

// Calls f(mode, on_overflow, start, length, words, amax) for each chunk of n elements (with the
// policy's mode and overflow as compile-time constants, the chunk's random words, and the
// largest magnitude bits of each of its blocks of Block elements).
template <std::size_t Block, class Words, class F>
void for_each_chunk_with_maxima(const float* in, std::size_t n, const policy& p, const Words& source, F&& f)
{
    static_assert(block_size % Block == 0);
    with_policy(p, [&](auto mode, auto on_overflow) {
        for_each_block(n, p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            std::uint32_t amax[block_size / Block];
            block_amax(in + start, length / Block, Block, amax);
            f(mode, on_overflow, start, length, words, static_cast<const std::uint32_t*>(amax));
        });
    });
}

// MX quantize of n elements (n a multiple of 32), block by block of random words.
template <class E, class Words>
void mx_quantize_loop(const float* in, E* out, std::uint8_t* scales, std::size_t n, const mx_options& o,
                      const Words& source)
{
    constexpr mx_element_info info = mx_element_info_of<E>();
    const std::uint32_t mask = random_mask<float>(o.elements.random_bits);
    for_each_chunk_with_maxima<mx_block_size>(
        in, n, o.elements, source,
        [&](auto mode, auto on_overflow, std::size_t start, std::size_t length, const std::uint32_t* words,
            const std::uint32_t* amax) {
            const std::size_t blocks = length / mx_block_size;
            const float* x = in + start;
            std::uint8_t* codes = scales + start / mx_block_size;
            for (std::size_t b = 0; b < blocks; ++b) codes[b] = mx_scale_code(amax[b], o.scale, info);
            // The pre-scale applies after the scale is chosen from the unscaled maximum (so that 3/4
            // keeps a floor-scaled E2M1 block below 6). Zero-filled: GCC cannot see that the loop
            // covers what is read.
            alignas(64) float prescaled[block_size] = {};
            if (o.pre_scale != 1.0f) {
                for (std::size_t i = 0; i < length; ++i) prescaled[i] = x[i] * o.pre_scale;
                x = prescaled;
            }
            alignas(64) float scaled[block_size];
            if constexpr (std::is_same_v<E, std::int8_t>) {
                // q = round(x * 2^(6 - s)): the INT8 kernel with scale 1 on the exactly scaled inputs.
                scale_blocks(x, scaled, codes, blocks, mx_block_size, -1, 6, 0u);
                policy p = o.elements;
                p.int8 = int8_range::symmetric;
                quantize_int8_loop(std::span<const float>(scaled, length), std::span<std::int8_t>(out + start, length),
                                   1.0f, p, caller_words{words});
            } else {
                scale_blocks(x, scaled, codes, blocks, mx_block_size, -1, 0, 0u);
                encode_block<typename E::format_type, decltype(mode)::value, decltype(on_overflow)::value>(
                    scaled, storage_pointer(out + start), words, length, mask);
            }
        });
}

template <class E>
void mx_dequantize_loop(const E* in, const std::uint8_t* scales, float* out, std::size_t n)
{
    for (std::size_t start = 0; start < n; start += block_size) {
        const std::size_t length = std::min(block_size, n - start);
        const std::size_t blocks = length / mx_block_size;
        if constexpr (std::is_same_v<E, std::int8_t>) {
            // float(q), |q| in 1..127 (2^0 .. 2^7), times 2^(s - 6).
            for (std::size_t i = 0; i < length; ++i) out[start + i] = static_cast<float>(in[start + i]);
            multiply_blocks(out + start, scales + start / mx_block_size, blocks, mx_block_size, -6, -126, 120);
        } else {
            dequantize_blocks<typename E::format_type>(storage_pointer(in + start), out + start,
                                                       scales + start / mx_block_size, blocks, mx_block_size);
        }
    }
}

template <class E>
void check_mx_sizes(std::size_t in, std::size_t out, std::size_t scales)
{
    require_blocks(in, "in", mx_block_size);
    require_same_size(in, "in", out, "out");
    require_same_size(in / mx_block_size, "in / 32", scales, "scales");
}

}  // namespace detail

// MX quantize: in.size() a multiple of 32, out.size() == in.size() (E2M1: one code per element;
// mxfp4_quantize packs two per byte), scales.size() == in.size() / 32.
template <mx_element E>
void mx_quantize(std::span<const float> in, std::span<E> out, std::span<float8_e8m0fnu> scales,
                 const mx_options& o = {}, stream s = {})
{
    detail::validate_mx_options(o);
    detail::check_mx_sizes<E>(in.size(), out.size(), scales.size());
    detail::mx_quantize_loop(in.data(), out.data(), detail::storage_pointer(scales.data()), in.size(), o, s);
}
// The same with the caller's random words, one per element (words.size() == in.size()).
template <mx_element E>
void mx_quantize(std::span<const float> in, std::span<E> out, std::span<float8_e8m0fnu> scales, const mx_options& o,
                 std::span<const std::uint32_t> words)
{
    detail::validate_mx_options(o);
    detail::check_mx_sizes<E>(in.size(), out.size(), scales.size());
    detail::require_words(in.size(), "in", words, "words");
    detail::mx_quantize_loop(in.data(), out.data(), detail::storage_pointer(scales.data()), in.size(), o,
                             detail::caller_words{words.data()});
}

// out[i] = float(in[i]) * 2^s of its block (exact: every such product is a float), NaN for a
// NaN scale.
template <mx_element E>
void mx_dequantize(std::span<const E> in, std::span<const float8_e8m0fnu> scales, std::span<float> out)
{
    detail::check_mx_sizes<E>(in.size(), out.size(), scales.size());
    detail::mx_dequantize_loop(in.data(), detail::storage_pointer(scales.data()), out.data(), in.size());
}

// out[i] = the value mx_dequantize gives for element i of mx_quantize(in): the block format's
// grid, in float (for simulation). in and out may be the same array.
template <mx_element E>
void mx_fake_quantize(std::span<const float> in, std::span<float> out, const mx_options& o = {}, stream s = {})
{
    detail::validate_mx_options(o);
    detail::require_blocks(in.size(), "in", mx_block_size);
    require_same_size(in.size(), "in", out.size(), "out");
    for (std::size_t start = 0; start < in.size(); start += detail::block_size) {
        const std::size_t length = std::min(detail::block_size, in.size() - start);
        E codes[detail::block_size];
        std::uint8_t scales[detail::block_size / mx_block_size];
        detail::mx_quantize_loop(in.data() + start, codes, scales, length, o, detail::advance(s, start));
        detail::mx_dequantize_loop(static_cast<const E*>(codes), scales, out.data() + start, length);
    }
}

// ---- packed FP4 ---------------------------------------------------------------------------

namespace detail {
inline void pack_nibbles(const std::uint8_t* codes, std::uint8_t* out, std::size_t pairs) noexcept
{
    for (std::size_t j = 0; j < pairs; ++j)
        out[j] = static_cast<std::uint8_t>((codes[2 * j] & 0x0Fu) | ((codes[2 * j + 1] & 0x0Fu) << 4));
}
inline void unpack_nibbles(const std::uint8_t* in, std::uint8_t* codes, std::size_t pairs) noexcept
{
    std::size_t j = 0;
    // Four bytes at a time: nibble i of the little-endian word spread to byte i (three
    // shift-or-mask steps), stored as eight codes.
    if constexpr (std::endian::native == std::endian::little) {
        for (; j + 4 <= pairs; j += 4) {
            std::uint32_t w;
            std::memcpy(&w, in + j, 4);
            std::uint64_t t = w;
            t = (t | (t << 16)) & 0x0000FFFF0000FFFFull;
            t = (t | (t << 8)) & 0x00FF00FF00FF00FFull;
            t = (t | (t << 4)) & 0x0F0F0F0F0F0F0F0Full;
            std::memcpy(codes + 2 * j, &t, 8);
        }
    }
    for (; j < pairs; ++j) {
        codes[2 * j] = static_cast<std::uint8_t>(in[j] & 0x0Fu);
        codes[2 * j + 1] = static_cast<std::uint8_t>(in[j] >> 4);
    }
}
inline void require_packed(std::size_t elements, const char* elements_name, std::size_t bytes, const char* bytes_name)
{
    if (elements % 2 != 0 || bytes != elements / 2)
        raise_invalid_argument(std::string(bytes_name) + ".size() (" + std::to_string(bytes) + ") must be " +
                               elements_name + ".size() / 2 with " + elements_name + ".size() (" +
                               std::to_string(elements) + ") even");
}
}  // namespace detail

// Two E2M1 codes per byte: in[2j] in the low nibble of out[j], in[2j + 1] in the high one.
inline void pack_fp4(std::span<const float4_e2m1fn> in, std::span<std::uint8_t> out)
{
    detail::require_packed(in.size(), "in", out.size(), "out");
    detail::pack_nibbles(detail::storage_pointer(in.data()), out.data(), out.size());
}
inline void unpack_fp4(std::span<const std::uint8_t> in, std::span<float4_e2m1fn> out)
{
    detail::require_packed(out.size(), "out", in.size(), "in");
    detail::unpack_nibbles(in.data(), detail::storage_pointer(out.data()), in.size());
}

// MXFP4 with packed storage: the bits of mx_quantize<float4_e2m1fn> followed by pack_fp4
// (packed.size() == in.size() / 2).
namespace detail {
template <class Words>
void mxfp4_quantize_chunks(std::span<const float> in, std::span<std::uint8_t> packed, std::span<float8_e8m0fnu> scales,
                           const mx_options& o, const Words& source)
{
    auto* scale_bits = storage_pointer(scales.data());
    for (std::size_t start = 0; start < in.size(); start += block_size) {
        const std::size_t length = std::min(block_size, in.size() - start);
        std::uint8_t codes[block_size];
        mx_quantize_loop(in.data() + start, reinterpret_cast<float4_e2m1fn*>(codes), scale_bits + start / mx_block_size,
                         length, o, advance(source, start));
        pack_nibbles(codes, packed.data() + start / 2, length / 2);
    }
}
inline void check_mxfp4_quantize(const mx_options& o, std::size_t in, std::size_t packed, std::size_t scales)
{
    validate_mx_options(o);
    require_blocks(in, "in", mx_block_size);
    require_packed(in, "in", packed, "packed");
    require_same_size(in / mx_block_size, "in / 32", scales, "scales");
}
}  // namespace detail

inline void mxfp4_quantize(std::span<const float> in, std::span<std::uint8_t> packed,
                           std::span<float8_e8m0fnu> scales, const mx_options& o = {}, stream s = {})
{
    detail::check_mxfp4_quantize(o, in.size(), packed.size(), scales.size());
    detail::mxfp4_quantize_chunks(in, packed, scales, o, s);
}
// The same with the caller's random words, one per element.
inline void mxfp4_quantize(std::span<const float> in, std::span<std::uint8_t> packed,
                           std::span<float8_e8m0fnu> scales, const mx_options& o, std::span<const std::uint32_t> words)
{
    detail::check_mxfp4_quantize(o, in.size(), packed.size(), scales.size());
    detail::require_words(in.size(), "in", words, "words");
    detail::mxfp4_quantize_chunks(in, packed, scales, o, detail::caller_words{words.data()});
}

inline void mxfp4_dequantize(std::span<const std::uint8_t> packed, std::span<const float8_e8m0fnu> scales,
                             std::span<float> out)
{
    detail::require_blocks(out.size(), "out", mx_block_size);
    detail::require_packed(out.size(), "out", packed.size(), "packed");
    require_same_size(out.size() / mx_block_size, "out / 32", scales.size(), "scales");
    const auto* scale_bits = detail::storage_pointer(scales.data());
    const bool lookup = detail::has_fp4_lookup();
    for (std::size_t start = 0; start < out.size(); start += detail::block_size) {
        const std::size_t length = std::min(detail::block_size, out.size() - start);
        const std::size_t blocks = length / mx_block_size;
        if (lookup) {
            alignas(64) float tables[16 * (detail::block_size / mx_block_size)];
            float factors[detail::block_size / mx_block_size];
            for (std::size_t b = 0; b < blocks; ++b)
                factors[b] = detail::mx_fp4_factor(scale_bits[start / mx_block_size + b], tables + 16 * b);
            detail::fp4_lookup(packed.data() + start / 2, factors, 1.0f, tables, out.data() + start, length / 16,
                               mx_block_size / 16);
            continue;
        }
        std::uint8_t codes[detail::block_size];
        detail::unpack_nibbles(packed.data() + start / 2, codes, length / 2);
        detail::dequantize_blocks<e2m1fn_format>(codes, out.data() + start, scale_bits + start / mx_block_size, blocks,
                                                 mx_block_size);
    }
}

// ---- NVFP4 ----------------------------------------------------------------------------------

// How the E4M3 block scales and the float tensor scale are found (A = the tensor's amax over its
// finite elements, a = the block's amax; every step a float operation rounded to nearest):
//   transformer_engine  S = min(2688 / A, FLT_MAX), or 1 when A is 0 or S is 0;
//                       block scale d = e4m3(min(a * (S * (1/6)), 448));
//                       elements x * min(1 / (d * (1 / S)), FLT_MAX); tensor scale 1 / S.
//   torchao             t = A / 2688 (1 when A is 0); block scale d = e4m3(clamp((a / 6) / t,
//                       2^-6, 448)); elements x * ((1 / t) / d); tensor scale t.
// e4m3(): nearest-even, saturating. 2688 = 448 * 6.
enum class nvfp4_scale_rule { transformer_engine, torchao };

struct nvfp4_options {
    nvfp4_scale_rule scale = nvfp4_scale_rule::transformer_engine;
    policy elements = {rounding::nearest_even, overflow::saturate};
    std::optional<float> tensor_amax;  // the tensor's amax A (e.g. from a history); default: from in
};

namespace detail {

inline float finite_amax(std::span<const float> in) noexcept
{
    std::uint32_t m = 0;
    for (const float x : in) {
        const std::uint32_t a = std::bit_cast<std::uint32_t>(x) & 0x7FFFFFFFu;
        if (a < 0x7F800000u && a > m) m = a;
    }
    return std::bit_cast<float>(m);
}

// The E4M3 scale codes and the element coefficients of `blocks` blocks with the given maxima
// (bits, sign cleared; inf or NaN: the NaN scale 0x7F and coefficient 0), the chains' float
// steps in plain loops over the blocks, the E4M3 rounding through the encode kernel.
inline void nvfp4_block_scales(const std::uint32_t* amax_bits, std::size_t blocks, float tensor_amax,
                               nvfp4_scale_rule rule, std::uint8_t* codes, float* coefficients) noexcept
{
    constexpr float flt_max = std::numeric_limits<float>::max();
    constexpr std::size_t most = block_size / nvfp4_block_size;
    float raw[most] = {};  // (zero-filled: GCC -O2 cannot see that the loop covers what is read)
    float s = 2688.0f / tensor_amax;  // transformer_engine's encode scale
    s = s < flt_max ? s : flt_max;
    if (tensor_amax == 0.0f || s == 0.0f) s = 1.0f;
    const float t = tensor_amax == 0.0f ? 1.0f : tensor_amax / 2688.0f;  // torchao's tensor scale
    for (std::size_t b = 0; b < blocks; ++b) {
        const float a = amax_bits[b] >= 0x7F800000u ? 0.0f : std::bit_cast<float>(amax_bits[b]);
        if (rule == nvfp4_scale_rule::torchao) {
            const float bs = (a / 6.0f) / t;
            raw[b] = bs < 0x1p-6f ? 0x1p-6f : (bs > 448.0f ? 448.0f : bs);
        } else {
            const float bd = a * (s * (1.0f / 6.0f));
            raw[b] = bd < 448.0f ? bd : 448.0f;
        }
    }
    encode_block<e4m3fn_format, rounding::nearest_even, overflow::saturate>(raw, codes, nullptr, blocks, 0u);
    float d[most] = {};
    decode_block<e4m3fn_format>(codes, d, blocks);
    for (std::size_t b = 0; b < blocks; ++b) {
        float c;
        if (rule == nvfp4_scale_rule::torchao) {
            c = (1.0f / t) / d[b];
        } else {
            c = 1.0f / (d[b] * (1.0f / s));
            c = c < flt_max ? c : flt_max;
        }
        coefficients[b] = c;
        if (amax_bits[b] >= 0x7F800000u) {
            codes[b] = static_cast<std::uint8_t>(e4m3fn_format::quiet_nan_bits);
            coefficients[b] = 0.0f;
        }
    }
}

inline float nvfp4_tensor_scale(float tensor_amax, nvfp4_scale_rule rule) noexcept
{
    if (rule == nvfp4_scale_rule::torchao) return tensor_amax == 0.0f ? 1.0f : tensor_amax / 2688.0f;
    float s = 2688.0f / tensor_amax;
    s = s < std::numeric_limits<float>::max() ? s : std::numeric_limits<float>::max();
    if (tensor_amax == 0.0f || s == 0.0f) s = 1.0f;
    return 1.0f / s;
}

template <class Words>
void nvfp4_quantize_loop(const float* in, std::uint8_t* packed, std::uint8_t* scales, std::size_t n, float tensor_amax,
                         const nvfp4_options& o, const Words& source)
{
    const std::uint32_t mask = random_mask<float>(o.elements.random_bits);
    for_each_chunk_with_maxima<nvfp4_block_size>(
        in, n, o.elements, source,
        [&](auto mode, auto on_overflow, std::size_t start, std::size_t length, const std::uint32_t* words,
            const std::uint32_t* amax) {
            const std::size_t blocks = length / nvfp4_block_size;
            // Never true (chunks are not empty), but without it GCC's -Wmaybe-uninitialized sees
            // a path on which `scaled` reaches encode_block unwritten.
            if (blocks == 0) return;
            const float* x = in + start;
            float coefficients[block_size / nvfp4_block_size];
            nvfp4_block_scales(amax, blocks, tensor_amax, o.scale, scales + start / nvfp4_block_size, coefficients);
            alignas(64) float scaled[block_size];
            for (std::size_t b = 0; b < blocks; ++b) {
                // A NaN block (coefficient 0) stores +0 elements, whatever its inputs.
                float* y = scaled + b * nvfp4_block_size;
                const float c = coefficients[b];
                if (c == 0.0f && scales[start / nvfp4_block_size + b] == e4m3fn_format::quiet_nan_bits) {
                    for (std::size_t j = 0; j < nvfp4_block_size; ++j) y[j] = 0.0f;
                    continue;
                }
                for (std::size_t j = 0; j < nvfp4_block_size; ++j) y[j] = x[b * nvfp4_block_size + j] * c;
            }
            std::uint8_t codes[block_size];
            encode_block<e2m1fn_format, decltype(mode)::value, decltype(on_overflow)::value>(scaled, codes, words, length,
                                                                                           mask);
            pack_nibbles(codes, packed + start / 2, length / 2);
        });
}

}  // namespace detail

// NVFP4 quantize: in.size() a multiple of 16, packed.size() == in.size() / 2, scales.size() ==
// in.size() / 16. Returns the tensor scale that nvfp4_dequantize takes. A block holding NaN or
// +-inf gets the E4M3 NaN scale (and +0 elements); the tensor amax skips such values.
namespace detail {
inline void validate_nvfp4_options(const nvfp4_options& o)
{
    if (static_cast<unsigned>(o.scale) > static_cast<unsigned>(nvfp4_scale_rule::torchao))
        raise_invalid_argument("options.scale must be a fewbits::nvfp4_scale_rule (0..1), got " +
                               std::to_string(static_cast<int>(o.scale)));
    validate_block_policy(o.elements, "options");
    if (o.tensor_amax) {
        const float a = *o.tensor_amax;
        const std::uint32_t bits = std::bit_cast<std::uint32_t>(a);
        if (bits >= 0x7F800000u)  // negative, inf or NaN (zero is allowed)
            raise_invalid_argument("options.tensor_amax must be finite and not negative, got " + exact_string(a));
    }
}

inline float check_nvfp4_quantize(std::span<const float> in, std::size_t packed, std::size_t scales,
                                  const nvfp4_options& o)
{
    validate_nvfp4_options(o);
    require_blocks(in.size(), "in", nvfp4_block_size);
    require_packed(in.size(), "in", packed, "packed");
    require_same_size(in.size() / nvfp4_block_size, "in / 16", scales, "scales");
    return o.tensor_amax ? *o.tensor_amax : finite_amax(in);  // the tensor amax A
}
}  // namespace detail

inline float nvfp4_quantize(std::span<const float> in, std::span<std::uint8_t> packed,
                            std::span<float8_e4m3fn> scales, const nvfp4_options& o = {}, stream s = {})
{
    const float amax = detail::check_nvfp4_quantize(in, packed.size(), scales.size(), o);
    detail::nvfp4_quantize_loop(in.data(), packed.data(), detail::storage_pointer(scales.data()), in.size(), amax, o, s);
    return detail::nvfp4_tensor_scale(amax, o.scale);
}
// The same with the caller's random words, one per element.
inline float nvfp4_quantize(std::span<const float> in, std::span<std::uint8_t> packed,
                            std::span<float8_e4m3fn> scales, const nvfp4_options& o, std::span<const std::uint32_t> words)
{
    const float amax = detail::check_nvfp4_quantize(in, packed.size(), scales.size(), o);
    detail::require_words(in.size(), "in", words, "words");
    detail::nvfp4_quantize_loop(in.data(), packed.data(), detail::storage_pointer(scales.data()), in.size(), amax, o,
                                detail::caller_words{words.data()});
    return detail::nvfp4_tensor_scale(amax, o.scale);
}

// out[i] = (e2m1 value * block scale) * tensor_scale: the first product is exact, so one rounding.
inline void nvfp4_dequantize(std::span<const std::uint8_t> packed, std::span<const float8_e4m3fn> scales,
                             float tensor_scale, std::span<float> out)
{
    detail::require_blocks(out.size(), "out", nvfp4_block_size);
    detail::require_packed(out.size(), "out", packed.size(), "packed");
    require_same_size(out.size() / nvfp4_block_size, "out / 16", scales.size(), "scales");
    const bool lookup = detail::has_fp4_lookup();
    for (std::size_t start = 0; start < out.size(); start += detail::block_size) {
        const std::size_t length = std::min(detail::block_size, out.size() - start);
        if (lookup) {
            // Each table holds (value * d) * tensor_scale: the very products of the loop below (a NaN
            // scale d gives a NaN table either way).
            float factors[detail::block_size / nvfp4_block_size];
            alignas(64) float tables[16 * (detail::block_size / nvfp4_block_size)];
            for (std::size_t b = 0; b < length / nvfp4_block_size; ++b) {
                factors[b] = static_cast<float>(scales[start / nvfp4_block_size + b]);
                if (factors[b] != factors[b])  // a NaN scale: the lookup takes this table
                    for (std::size_t c = 0; c < 16; ++c) tables[16 * b + c] = factors[b];
            }
            detail::fp4_lookup(packed.data() + start / 2, factors, tensor_scale, tables, out.data() + start,
                               length / 16, 1);
            continue;
        }
        std::uint8_t codes[detail::block_size];
        detail::unpack_nibbles(packed.data() + start / 2, codes, length / 2);
        detail::decode_block<e2m1fn_format>(codes, out.data() + start, length);
        for (std::size_t b = 0; b < length / nvfp4_block_size; ++b) {
            const float d = static_cast<float>(scales[start / nvfp4_block_size + b]);
            float* o = out.data() + start + b * nvfp4_block_size;
            for (std::size_t j = 0; j < nvfp4_block_size; ++j) o[j] = (o[j] * d) * tensor_scale;
        }
    }
}

// out[i] = the value nvfp4_dequantize gives for element i of nvfp4_quantize(in) (in and out may
// be the same array). Returns the tensor scale.
inline float nvfp4_fake_quantize(std::span<const float> in, std::span<float> out, const nvfp4_options& o = {},
                                 stream s = {})
{
    require_same_size(in.size(), "in", out.size(), "out");
    std::vector<std::uint8_t> packed(in.size() / 2);
    std::vector<float8_e4m3fn> scales(in.size() / nvfp4_block_size);
    const float t = nvfp4_quantize(in, packed, scales, o, s);
    nvfp4_dequantize(packed, scales, t, out);
    return t;
}

}  // namespace fewbits
