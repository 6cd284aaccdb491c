// The blockwise random Hadamard transform (RHT) of 4-bit training (Tseng et al. 2025; NVIDIA's
// NVFP4 recipe): before a GEMM operand is quantized, each block of `block` elements along the
// reduction axis is multiplied by Q = H D / sqrt(block), with H the Sylvester-Hadamard matrix
// and D a diagonal of random signs. Q is orthogonal, so transforming both operands of
// C = A B (A's rows and B's columns, each stored with the reduction axis contiguous) with the
// same stream leaves C unchanged in exact arithmetic while it spreads outliers over the block,
// which shrinks the block maxima the scales must cover.
//
// Contract: data holds rows of row_length floats; block is a power of two in 16..256 that
// divides row_length. Position k of every row (k = 0 .. row_length - 1) gets the sign
// -1 iff the top bit of random_word(s.rng, s.seed, s.offset + k) is set, the same for every
// row. Each block x becomes H (D x) / sqrt(block): the butterflies in float (adds and
// subtracts in a fixed order), then one multiply by the float nearest 1 / sqrt(block) (exactly
// a power of two for 16, 64 and 256). So the result is the same on every instruction set;
// the transform is orthogonal up to that float rounding. The inverse applies D H / sqrt(block).
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/random.hpp"

namespace fewbits {

namespace detail {

inline void validate_hadamard(std::size_t size, std::size_t row_length, std::size_t block)
{
    if (block < 16 || block > 256 || !std::has_single_bit(block))
        raise_invalid_argument("block must be a power of two in 16..256, got " + std::to_string(block));
    if (row_length == 0 || row_length % block != 0)
        raise_invalid_argument("row_length (" + std::to_string(row_length) + ") must be a positive multiple of block (" +
                               std::to_string(block) + ")");
    if (size % row_length != 0)
        raise_invalid_argument("data.size() (" + std::to_string(size) + ") must be a multiple of row_length (" +
                               std::to_string(row_length) + ")");
}

// x <- H x for one block of n (a power of two) floats, unnormalised.
inline void walsh_hadamard(float* x, std::size_t n) noexcept
{
    for (std::size_t h = 1; h < n; h *= 2)
        for (std::size_t i = 0; i < n; i += 2 * h)
            for (std::size_t j = i; j < i + h; ++j) {
                const float a = x[j];
                const float b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

inline float inverse_sqrt_of_power_of_two(std::size_t n) noexcept
{
    return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
}

inline std::vector<std::uint32_t> hadamard_signs(std::size_t row_length, stream s)
{
    std::vector<std::uint32_t> signs(row_length);
    fill_random_words(s, signs);
    for (std::uint32_t& w : signs) w &= 0x80000000u;
    return signs;
}

inline void flip_signs(float* x, const std::uint32_t* signs, std::size_t n) noexcept
{
    for (std::size_t k = 0; k < n; ++k) x[k] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(x[k]) ^ signs[k]);
}

}  // namespace detail

namespace detail {

// Calls f(x, signs) for every block x of every row, with the signs of its positions.
template <class F>
void for_each_hadamard_block(std::span<float> data, std::size_t row_length, std::size_t block, stream s, F&& f)
{
    validate_hadamard(data.size(), row_length, block);
    const std::vector<std::uint32_t> signs = hadamard_signs(row_length, s);
    for (std::size_t row = 0; row < data.size(); row += row_length)
        for (std::size_t k = 0; k < row_length; k += block) f(data.data() + row + k, signs.data() + k);
}

inline void normalise_block(float* x, std::size_t block) noexcept
{
    const float norm = inverse_sqrt_of_power_of_two(block);
    for (std::size_t j = 0; j < block; ++j) x[j] *= norm;
}

}  // namespace detail

// data <- each block x of each row becomes H (D x) / sqrt(block).
inline void random_hadamard_transform(std::span<float> data, std::size_t row_length, std::size_t block, stream s = {})
{
    detail::for_each_hadamard_block(data, row_length, block, s, [block](float* x, const std::uint32_t* signs) {
        detail::flip_signs(x, signs, block);
        detail::walsh_hadamard(x, block);
        detail::normalise_block(x, block);
    });
}

// The inverse: each block y becomes D (H y) / sqrt(block).
inline void inverse_random_hadamard_transform(std::span<float> data, std::size_t row_length, std::size_t block,
                                              stream s = {})
{
    detail::for_each_hadamard_block(data, row_length, block, s, [block](float* x, const std::uint32_t* signs) {
        detail::walsh_hadamard(x, block);
        detail::normalise_block(x, block);
        detail::flip_signs(x, signs, block);
    });
}

}  // namespace fewbits
