// The rounding codecs of the shards' exchange (train/shard_exchange.hpp): every node of the
// shards' tree is rounded with stochastic rounding where it is computed, sent or not, and the
// nodes that are sent travel in the rounded format. The random word of value i of node
// [lo, hi) is word i of derive(derive(words, lo), hi): the same whichever process rounds the
// value and however the values are sliced, so the sum keeps its bits for every process count.
//
//   bf16_sr_codec        BF16: 2 bytes a value
//   e4m3_block_sr_codec  OCP MXFP8 E4M3 (block_formats.hpp): blocks of 32 values share a
//                        power-of-two scale, the smallest under which the block's largest
//                        magnitude fits E4M3 (rule rceil: nothing clips); 33 bytes per 32 values
// Both are unbiased (SR); rounding again an already rounded value gives it back, which makes
// encode lossless. A tail shorter than a block is rounded as a block padded with zeros (which
// leave its scale as it is).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

#include "fewbits/block_formats.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/train/shard_tree.hpp"
#include "fewbits/types.hpp"

namespace fewbits::train {

namespace detail {

// The words of value first of node.
inline stream node_words(const stream& words, shard_span node, std::size_t first) noexcept
{
    stream s = derive(derive(words, node.begin), node.end);
    s.offset = first;
    return s;
}

}  // namespace detail

class bf16_sr_codec {
public:
    static constexpr std::size_t block = 1;
    static constexpr std::size_t bytes(std::size_t count) noexcept { return count * sizeof(bfloat16); }

    explicit bf16_sr_codec(stream words) : words_(words) {}

    void round(shard_span node, std::size_t first, std::span<float> values) const
    {
        fake_quantize<bfloat16>(values, values, policy{rounding::stochastic}, detail::node_words(words_, node, first));
    }
    void encode(std::span<const float> values, std::span<std::byte> out) const
    {
        std::array<bfloat16, 256> chunk{};
        for (std::size_t at = 0; at < values.size(); at += chunk.size()) {
            const std::size_t n = std::min(chunk.size(), values.size() - at);
            // Nearest of a value that is already BF16: the value itself.
            quantize<bfloat16>(values.subspan(at, n), std::span(chunk).first(n), policy{});
            const auto b = std::as_bytes(std::span(chunk).first(n));
            std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(at * sizeof(bfloat16)));
        }
    }
    void decode(std::span<const std::byte> in, std::span<float> values) const
    {
        std::array<bfloat16, 256> chunk{};
        for (std::size_t at = 0; at < values.size(); at += chunk.size()) {
            const std::size_t n = std::min(chunk.size(), values.size() - at);
            std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at * sizeof(bfloat16)), n * sizeof(bfloat16),
                        std::as_writable_bytes(std::span(chunk)).begin());
            dequantize<bfloat16>(std::span(chunk).first(n), values.subspan(at, n));
        }
    }

private:
    stream words_;
};

class e4m3_block_sr_codec {
public:
    static constexpr std::size_t block = mx_block_size;
    // Per block of up to 32 values: its scale byte, then one byte a value.
    static constexpr std::size_t bytes(std::size_t count) noexcept { return count + (count + block - 1) / block; }

    explicit e4m3_block_sr_codec(stream words) : words_(words) {}

    void round(shard_span node, std::size_t first, std::span<float> values) const
    {
        const mx_options sr{mx_scale_rule::rceil, policy{rounding::stochastic, overflow::saturate}};
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<float, block> padded{};
            std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(start), n, padded.begin());
            mx_fake_quantize<float8_e4m3fn>(padded, padded, sr, detail::node_words(words_, node, first + start));
            std::copy_n(padded.begin(), n, values.begin() + static_cast<std::ptrdiff_t>(start));
        }
    }
    void encode(std::span<const float> values, std::span<std::byte> out) const
    {
        const mx_options exact{mx_scale_rule::rceil, policy{rounding::nearest_even, overflow::saturate}};
        auto at = out.begin();
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<float, block> padded{};
            std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(start), n, padded.begin());
            std::array<float8_e4m3fn, block> codes{};
            std::array<float8_e8m0fnu, 1> scale{};
            mx_quantize<float8_e4m3fn>(padded, codes, scale, exact);
            at = std::copy_n(std::as_bytes(std::span(scale)).begin(), 1, at);
            at = std::copy_n(std::as_bytes(std::span(codes)).begin(), n, at);
        }
    }
    void decode(std::span<const std::byte> in, std::span<float> values) const
    {
        auto at = in.begin();
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<float8_e4m3fn, block> codes{};
            std::array<float8_e8m0fnu, 1> scale{};
            std::copy_n(at, 1, std::as_writable_bytes(std::span(scale)).begin());
            std::copy_n(at + 1, n, std::as_writable_bytes(std::span(codes)).begin());
            at += static_cast<std::ptrdiff_t>(n + 1);
            std::array<float, block> decoded{};
            mx_dequantize<float8_e4m3fn>(codes, scale, decoded);
            std::copy_n(decoded.begin(), n, values.begin() + static_cast<std::ptrdiff_t>(start));
        }
    }

private:
    stream words_;
};

}  // namespace fewbits::train
