// The rounding codecs of the shards' exchange (train/shard_exchange.hpp): every node of the
// shards' tree is rounded where it is computed, sent or not, and the
// nodes that are sent travel in the rounded format. The random word of value i of node
// [lo, hi) is word i of derive(derive(words, lo), hi): the same whichever process rounds the
// value and however the values are sliced, so the sum keeps its bits for every process count.
//
//   bf16_sr_codec     BF16 with stochastic rounding (SR): 2 bytes a value
//   mx_block_codec    OCP MXFP8 (block_formats.hpp), E4M3 or E5M2 elements with SR or
//                     nearest-even: blocks of 32 values share a power-of-two scale, the smallest
//                     under which the block's largest magnitude fits the element (rule rceil:
//                     nothing clips); 33 bytes per 32 values
// The SR codecs are unbiased. Rounding again an already rounded value gives it back, which
// makes encode lossless. exchange_format names the codecs for the training steps. A tail shorter than a block is rounded as a block padded with zeros (which
// leave its scale as it is).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "fewbits/block_formats.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/train/shard_exchange.hpp"
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

// An MX block format (block_formats.hpp) with element Element rounded by Mode where the node
// is computed: stochastic (unbiased) or nearest-even (deterministic, so still the same bits for
// every process count; biased, an exchange that SR is compared against).
template <mx_element Element, rounding Mode>
class mx_block_codec {
public:
    static constexpr std::size_t block = mx_block_size;
    // Per block of up to 32 values: its scale byte, then one byte a value.
    static constexpr std::size_t bytes(std::size_t count) noexcept { return count + (count + block - 1) / block; }

    explicit mx_block_codec(stream words) : words_(words) {}

    void round(shard_span node, std::size_t first, std::span<float> values) const
    {
        const mx_options rounded{mx_scale_rule::rceil, policy{Mode, overflow::saturate}};
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<float, block> padded{};
            std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(start), n, padded.begin());
            mx_fake_quantize<Element>(padded, padded, rounded, detail::node_words(words_, node, first + start));
            std::copy_n(padded.begin(), n, values.begin() + static_cast<std::ptrdiff_t>(start));
        }
    }
    void encode(std::span<const float> values, std::span<std::byte> out) const
    {
        // Nearest of a block round left: the block's codes and scale, exactly.
        const mx_options exact{mx_scale_rule::rceil, policy{rounding::nearest_even, overflow::saturate}};
        auto at = out.begin();
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<float, block> padded{};
            std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(start), n, padded.begin());
            std::array<Element, block> codes{};
            std::array<float8_e8m0fnu, 1> scale{};
            mx_quantize<Element>(padded, codes, scale, exact);
            at = std::copy_n(std::as_bytes(std::span(scale)).begin(), 1, at);
            at = std::copy_n(std::as_bytes(std::span(codes)).begin(), n, at);
        }
    }
    void decode(std::span<const std::byte> in, std::span<float> values) const
    {
        auto at = in.begin();
        for (std::size_t start = 0; start < values.size(); start += block) {
            const std::size_t n = std::min(block, values.size() - start);
            std::array<Element, block> codes{};
            std::array<float8_e8m0fnu, 1> scale{};
            std::copy_n(at, 1, std::as_writable_bytes(std::span(scale)).begin());
            std::copy_n(at + 1, n, std::as_writable_bytes(std::span(codes)).begin());
            at += static_cast<std::ptrdiff_t>(n + 1);
            std::array<float, block> decoded{};
            mx_dequantize<Element>(codes, scale, decoded);
            std::copy_n(decoded.begin(), n, values.begin() + static_cast<std::ptrdiff_t>(start));
        }
    }

private:
    stream words_;
};

using e4m3_block_sr_codec = mx_block_codec<float8_e4m3fn, rounding::stochastic>;
using e4m3_block_rtn_codec = mx_block_codec<float8_e4m3fn, rounding::nearest_even>;
using e5m2_block_sr_codec = mx_block_codec<float8_e5m2, rounding::stochastic>;

// How the shards' gradients travel (shards > 1): fp32, or every node of the shards' tree
// (leaves and root included) rounded where it is computed and sent rounded: BF16 SR, half the
// bytes; MXFP8 (E4M3 with SR or nearest-even, E5M2 with SR), about a quarter.
enum class exchange_format { fp32, bf16_sr, e4m3_sr, e4m3_rtn, e5m2_sr };

inline const char* exchange_format_name(exchange_format f) noexcept
{
    switch (f) {
    case exchange_format::bf16_sr: return "bf16 SR";
    case exchange_format::e4m3_sr: return "e4m3 SR (32-value blocks)";
    case exchange_format::e4m3_rtn: return "e4m3 nearest-even (32-value blocks)";
    case exchange_format::e5m2_sr: return "e5m2 SR (32-value blocks)";
    case exchange_format::fp32: break;
    }
    return "fp32";
}

// The programs' --exchange values (tiny_gpt, batch_vs_precision): the format a word names, or
// nullopt for a word that names none.
inline constexpr const char* exchange_format_words = "fp32, bf16, e4m3, e4m3-rtn or e5m2";
inline std::optional<exchange_format> exchange_format_of(std::string_view word) noexcept
{
    if (word == "fp32") return exchange_format::fp32;
    if (word == "bf16") return exchange_format::bf16_sr;
    if (word == "e4m3") return exchange_format::e4m3_sr;
    if (word == "e4m3-rtn") return exchange_format::e4m3_rtn;
    if (word == "e5m2") return exchange_format::e5m2_sr;
    return std::nullopt;
}

// f(codec) with the codec of format f (plain_codec<float> for fp32), its words from words: the
// one place a format picks its codec.
template <class F>
decltype(auto) with_exchange_codec(exchange_format format, stream words, F&& f)
{
    switch (format) {
    case exchange_format::bf16_sr: return f(bf16_sr_codec(words));
    case exchange_format::e4m3_sr: return f(e4m3_block_sr_codec(words));
    case exchange_format::e4m3_rtn: return f(e4m3_block_rtn_codec(words));
    case exchange_format::e5m2_sr: return f(e5m2_block_sr_codec(words));
    case exchange_format::fp32: break;
    }
    return f(plain_codec<float>{});
}

// The bytes all processes send per sum of n values in format f (train/shard_exchange.hpp).
inline std::size_t exchange_bytes(exchange_format f, std::size_t shards, std::size_t processes, std::size_t n)
{
    return with_exchange_codec(f, stream{}, [&](const auto& codec) {
        return shard_exchange_bytes<std::remove_cvref_t<decltype(codec)>>(shards, processes, n);
    });
}

}  // namespace fewbits::train
