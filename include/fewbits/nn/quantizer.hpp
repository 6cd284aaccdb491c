// Quantizers of the training library: "round this float tensor to format T under policy p", or
// nothing (FP32), chosen at run time per tensor of a layer. A quantizer only calls the
// kernels (fake_quantize, quantize_int8/dequantize_int8): no rounding logic lives here.
//
// Per-sample randomness: apply_rows rounds row r (one sample) with the stream
// derive(base, r), so every sample's rounding is independent of every other's and of how
// rows are shared among threads. apply rounds a whole tensor with one stream (a weight:
// one draw shared by the whole batch).
//
// Optional per-tensor power-of-two scaling (scaling::power_of_two) for formats with a
// narrow range (FP8, INT8): x is divided by s = 2^e, rounded, and multiplied back by s. Both
// products are exact, so only the rounding on the format's grid changes a value; e is the
// smallest exponent with max|x| / s <= max_finite / 2 (the half leaves room for stochastic
// rounding up). INT8 always uses it, with max|x| / s <= 127: it needs a scale.
//
// Block-scaled quantizers (quantizer::mx, quantizer::nvfp4; docs/block_formats.md) round in
// blocks of 32 (MX) or 16 (NVFP4) elements that share a scale, so the direction of the blocks
// matters: a GEMM needs them along its reduction axis. apply_rows takes blocks along each row,
// apply_columns down each column (a row-major rows x cols tensor), apply_weight either way for
// a weight; the length along the blocks must be a multiple of the block (else
// std::invalid_argument naming it). NVFP4's tensor scale comes from the largest finite |x| of
// the whole tensor. With a random Hadamard transform (rht_block > 0) the quantizer returns
// T^-1 Q(T x), T the blockwise RHT along the same axis: T is orthogonal, so each operand keeps
// its value on average under SR while the scales see the spread-out block maxima. An MX
// pre_scale (Tseng et al.'s 3/4 under SR) is divided out again after dequantization, so every
// quantizer returns values on its input's scale. For element-wise quantizers the axis does
// not matter: apply_columns is apply_rows and apply_weight is apply.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fewbits/block_formats.hpp"
#include "fewbits/error.hpp"
#include "fewbits/format_names.hpp"
#include "fewbits/hadamard.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/limits.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

enum class scaling { none, power_of_two };

// The direction of a block-scaled quantizer's blocks in a row-major matrix.
enum class block_axis { row, column };

inline const char* rounding_name(rounding m) noexcept
{
    switch (m) {
    case rounding::nearest_even: return "RTN";
    case rounding::nearest_away: return "RNA";
    case rounding::toward_zero: return "RZ";
    case rounding::up: return "RU";
    case rounding::down: return "RD";
    case rounding::odd: return "RO";
    case rounding::stochastic: return "SR";
    }
    return "?";
}

class quantizer {
public:
    // FP32: apply copies.
    quantizer() = default;

    // Rounds to the grid of T (a fewbits::minifloat) under p.
    template <fewbits::low_precision T>
    static quantizer to(policy p = {}, scaling s = scaling::none)
    {
        validate(p);
        quantizer q;
        q.kind_ = kind::minifloat;
        q.policy_ = p;
        q.scaling_ = s;
        q.fake_ = [](std::span<const float> in, std::span<float> out, const policy& pol, const stream& st) {
            fake_quantize<T>(in, out, pol, st);
        };
        q.largest_scaled_ = 0.5f * static_cast<float>(std::numeric_limits<T>::max());
        q.name_ = format_name<T>() + " " + rounding_name(p.mode) +
                  (s == scaling::power_of_two ? " pow2" : "");
        return q;
    }

    // Symmetric INT8 with a per-tensor power-of-two scale (value = 2^e * q, q in [-127, 127]).
    static quantizer int8(policy p = {})
    {
        validate(p);
        quantizer q;
        q.kind_ = kind::int8;
        q.policy_ = p;
        q.scaling_ = scaling::power_of_two;
        q.largest_scaled_ = 127.0f;  // saturation at 127 is the rounding's own business
        q.name_ = std::string("int8 ") + rounding_name(p.mode);
        return q;
    }

    // MX blocks of 32 elements of E (a minifloat or std::int8_t for MXINT8) with an E8M0 scale
    // under o's scale rule and element policy; with rht_block (a power of two in 16..256) a
    // random Hadamard transform around the rounding.
    template <mx_element E>
    static quantizer mx(const mx_options& o = {}, std::size_t rht_block = 0)
    {
        fewbits::detail::validate_mx_options(o);
        quantizer q = block_scaled_quantizer(kind::mx, rht_block, o.elements);
        q.mx_ = o;
        q.block_round_ = [](std::span<float> data, const quantizer& self, float, const stream& s) {
            mx_fake_quantize<E>(data, data, self.mx_, s);
        };
        q.name_ = mx_name<E>() + q.block_suffix();
        return q;
    }

    // NVFP4: blocks of 16 E2M1 elements with an E4M3 scale under one float tensor scale (from
    // o.tensor_amax when given, else from the tensor); rht_block as for mx.
    static quantizer nvfp4(const nvfp4_options& o = {}, std::size_t rht_block = 0)
    {
        fewbits::detail::validate_nvfp4_options(o);
        quantizer q = block_scaled_quantizer(kind::nvfp4, rht_block, o.elements);
        q.nvfp4_ = o;
        q.block_round_ = [](std::span<float> data, const quantizer& self, float tensor_amax, const stream& s) {
            nvfp4_options options = self.nvfp4_;
            if (!options.tensor_amax) options.tensor_amax = tensor_amax;
            nvfp4_fake_quantize(data, data, options, s);
        };
        q.name_ = "nvfp4" + q.block_suffix();
        return q;
    }

    bool enabled() const noexcept { return kind_ != kind::none; }
    bool block_scaled() const noexcept { return kind_ == kind::mx || kind_ == kind::nvfp4; }
    // Elements per shared scale (32 MX, 16 NVFP4); 1 for element-wise quantizers.
    std::size_t block_size() const noexcept
    {
        return kind_ == kind::mx ? mx_block_size : kind_ == kind::nvfp4 ? nvfp4_block_size : 1;
    }
    std::size_t rht_block() const noexcept { return rht_; }
    // What the length along the blocks must be a multiple of: the block and the RHT block (1
    // for element-wise quantizers).
    std::size_t block_multiple() const noexcept { return std::max(block_size(), rht_); }
    std::string name() const { return enabled() ? name_ : "fp32"; }

    // out = Q(in) with one stream for the whole tensor. out may be in.
    void apply(std::span<const float> in, std::span<float> out, stream s) const
    {
        require_same_size(in.size(), "in", out.size(), "out");
        if (!enabled()) {
            if (out.data() != in.data()) std::copy(in.begin(), in.end(), out.begin());
            return;
        }
        if (block_scaled()) {  // one row: blocks along the array
            check_blocks(in.size(), block_axis::row, 0);
            round_block_rows(in.data(), out.data(), 1, in.size(), [&](std::size_t) { return s; }, derive(s, ~0ull), 1);
            return;
        }
        round(in, out, scale_for(in), s);
    }

    // A weight (rows x cols, row-major) rounded with one stream s, a draw shared by the batch.
    // Element-wise: apply(in, out, s). Block-scaled: blocks along `axis`; line k (row or
    // column k) draws derive(s, k). out may be in.
    void apply_weight(std::span<const float> in, std::span<float> out, std::size_t cols, block_axis axis, stream s) const
    {
        if (!block_scaled()) {
            apply(in, out, s);
            return;
        }
        require_same_size(in.size(), "in", out.size(), "out");
        if (cols == 0 || in.size() % cols != 0)
            raise_invalid_argument("cols (" + std::to_string(cols) + ") must divide in.size() (" + std::to_string(in.size()) + ")");
        check_blocks(axis == block_axis::row ? cols : in.size() / cols, axis, 0);
        round_blocks(in.data(), out.data(), in.size() / cols, cols, axis, s, 1, 0);
    }

    // out = Q(in), row r rounded with derive(base, r); rows are shared among threads.
    // The power-of-two scale, when used, is one per tensor (the largest |x| of all rows).
    // first_row: the index of in's row 0 in the whole batch (row r draws derive(base, first_row + r)).
    void apply_rows(const tensor& in, tensor& out, stream base, unsigned threads = 1, std::size_t first_row = 0) const
    {
        if (block_scaled()) check_blocks(in.cols(), block_axis::row, first_row);  // before out changes
        if (&out != &in) out.resize(in.rows(), in.cols());
        if (!enabled()) {
            if (&out != &in) std::copy(in.values().begin(), in.values().end(), out.values().begin());
            return;
        }
        if (block_scaled()) {
            round_blocks(in.data(), out.data(), in.rows(), in.cols(), block_axis::row, base, threads, first_row);
            return;
        }
        const float scale = scale_for(in.values());
        parallel_for(in.rows(), threads, 16, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) round(in.row(r), out.row(r), scale, derive(base, first_row + r));
        });
    }

    // out = Q(in) with the blocks down each column (the rows are samples or tokens: the
    // reduction axis of a weight gradient x^T dy). Column c draws derive(base, c) from word
    // first_row on, so that a micro-batch starting at row first_row of the whole batch rounds as
    // the whole batch does; first_row and in.rows() must be multiples of the block (and of the
    // RHT block). Element-wise quantizers: apply_rows.
    void apply_columns(const tensor& in, tensor& out, stream base, unsigned threads = 1, std::size_t first_row = 0) const
    {
        if (!block_scaled()) {
            apply_rows(in, out, base, threads, first_row);
            return;
        }
        check_blocks(in.rows(), block_axis::column, first_row);  // before out changes
        if (&out != &in) out.resize(in.rows(), in.cols());
        round_blocks(in.data(), out.data(), in.rows(), in.cols(), block_axis::column, base, threads, first_row);
    }

    // The scale apply would use for in (1 without scaling): a power of two.
    float scale_for(std::span<const float> in) const noexcept
    {
        if (scaling_ == scaling::none) return 1.0f;
        // A plain comparison (NaN never wins, and NaN passes through the rounding anyway):
        // it vectorises, where std::fmax is a library call per element.
        float amax = 0.0f;
        for (float x : in) {
            const float a = std::fabs(x);
            amax = a > amax ? a : amax;
        }
        if (!(amax > 0.0f) || !std::isfinite(amax)) return 1.0f;  // zeros stay zeros; NaN/inf propagate
        const int e = static_cast<int>(std::ceil(std::log2(static_cast<double>(amax) / largest_scaled_)));
        return std::ldexp(1.0f, std::clamp(e, -126, 127));
    }

private:
    enum class kind { none, minifloat, int8, mx, nvfp4 };
    using fake_fn = void (*)(std::span<const float>, std::span<float>, const policy&, const stream&);
    // Rounds data (a line of whole blocks) in place; tensor_amax: NVFP4's, over the whole tensor.
    using block_fn = void (*)(std::span<float> data, const quantizer& self, float tensor_amax, const stream& s);

    static quantizer block_scaled_quantizer(kind k, std::size_t rht_block, const policy& elements)
    {
        if (rht_block != 0 && (rht_block < 16 || rht_block > 256 || !std::has_single_bit(rht_block)))
            raise_invalid_argument("rht_block must be 0 (no transform) or a power of two in 16..256, got " +
                                   std::to_string(rht_block));
        quantizer q;
        q.kind_ = k;
        q.rht_ = rht_block;
        q.policy_ = elements;
        return q;
    }

    // OCP's names: mxfp8_e4m3, mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4, mxint8; mx_<name> else.
    template <mx_element E>
    static std::string mx_name()
    {
        if constexpr (std::is_same_v<E, std::int8_t>) {
            return "mxint8";
        } else {
            const std::string f = format_name<E>();
            if (f == "e2m1") return "mxfp4";
            if (f == "e3m2" || f == "e2m3") return "mxfp6_" + f;
            if (f == "e4m3" || f == "e5m2") return "mxfp8_" + f;
            return "mx_" + f;
        }
    }

    std::string block_suffix() const
    {
        return std::string(" ") + rounding_name(policy_.mode) + (rht_ > 0 ? " rht" + std::to_string(rht_) : "");
    }

    // std::invalid_argument unless `length` (along the blocks) is a multiple of the block and of
    // the RHT block, and (down the columns) first_row is too.
    void check_blocks(std::size_t length, block_axis axis, std::size_t first_row) const
    {
        const std::size_t line = block_multiple();
        if (length % line != 0)
            raise_invalid_argument(name_ + ": the length along the blocks (" + std::to_string(length) +
                                   ") must be a multiple of " + std::to_string(line));
        if (axis == block_axis::column && first_row % line != 0)
            raise_invalid_argument(name_ + ": first_row (" + std::to_string(first_row) + ") must be a multiple of " +
                                   std::to_string(line) + " for blocks down the columns");
    }

    // in (rows x cols) rounded into out in blocks along `axis` (the caller has run check_blocks).
    // Rows: row r draws derive(base, first_row + r); columns: column c draws derive(base, c)
    // advanced by first_row. The RHT's signs come from derive(base, ~0) (by position along the
    // blocks).
    void round_blocks(const float* in, float* out, std::size_t rows, std::size_t cols, block_axis axis, stream base,
                      unsigned threads, std::size_t first_row) const
    {
        const stream signs = derive(base, ~0ull);
        if (axis == block_axis::row) {
            round_block_rows(in, out, rows, cols, [&](std::size_t r) { return derive(base, first_row + r); }, signs,
                             threads);
            return;
        }
        // Down the columns = along the rows of the transpose.
        std::vector<float> t(rows * cols);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) t[c * rows + r] = in[r * cols + c];
        const stream column_signs{signs.seed, signs.offset + first_row, signs.rng};
        round_block_rows(t.data(), t.data(), cols, rows,
                         [&](std::size_t c) {
                             const stream s = derive(base, c);
                             return stream{s.seed, s.offset + first_row, s.rng};
                         },
                         column_signs, threads);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t c = 0; c < cols; ++c) out[r * cols + c] = t[c * rows + r];
    }

    // Rounds `lines` contiguous lines of `length` floats, line k with row_stream(k): transform,
    // tensor amax (NVFP4), blocks, pre-scale divided out, inverse transform. out may be in.
    template <class RowStream>
    void round_block_rows(const float* in, float* out, std::size_t lines, std::size_t length, RowStream row_stream,
                          stream signs, unsigned threads) const
    {
        if (lines == 0 || length == 0) return;  // nothing to round (the transform needs a length)
        const std::span<float> all(out, lines * length);
        if (out != in) std::copy(in, in + lines * length, out);
        if (rht_ > 0) random_hadamard_transform(all, length, rht_, signs);
        const float amax = kind_ == kind::nvfp4 ? fewbits::detail::finite_amax(all) : 0.0f;
        // Tseng et al.'s pre-scale is divided out (one float rounding per element).
        const float pre_scale = kind_ == kind::mx ? mx_.pre_scale : 1.0f;
        parallel_for(lines, threads, 4, [&](std::size_t begin, std::size_t end) {
            for (std::size_t k = begin; k < end; ++k) {
                const std::span<float> l = all.subspan(k * length, length);
                block_round_(l, *this, amax, row_stream(k));
                if (pre_scale != 1.0f)
                    for (float& x : l) x /= pre_scale;
            }
        });
        if (rht_ > 0) inverse_random_hadamard_transform(all, length, rht_, signs);
    }

    void round(std::span<const float> in, std::span<float> out, float scale, const stream& s) const
    {
        if (kind_ == kind::int8) {
            // Small pieces keep the INT8 codes on the stack; the stream offset follows the piece.
            std::int8_t codes[256];
            for (std::size_t start = 0; start < in.size(); start += 256) {
                const std::size_t n = std::min<std::size_t>(256, in.size() - start);
                quantize_int8(in.subspan(start, n), std::span<std::int8_t>(codes, n), scale, policy_,
                              stream{s.seed, s.offset + start, s.rng});
                dequantize_int8(std::span<const std::int8_t>(codes, n), out.subspan(start, n), scale);
            }
            return;
        }
        if (scale == 1.0f) {
            fake_(in, out, policy_, s);
            return;
        }
        const float inverse = 1.0f / scale;  // exact: scale is a power of two
        for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] * inverse;
        fake_(out, out, policy_, s);
        for (float& x : out) x *= scale;
    }

    kind kind_ = kind::none;
    policy policy_{};
    scaling scaling_ = scaling::none;
    float largest_scaled_ = 0.0f;  // the largest |x| / scale that scale_for aims at
    fake_fn fake_ = nullptr;
    block_fn block_round_ = nullptr;
    std::size_t rht_ = 0;    // RHT block, 0: none
    mx_options mx_{};
    nvfp4_options nvfp4_{};
    std::string name_;
};

}  // namespace fewbits::nn
