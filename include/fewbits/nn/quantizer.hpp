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
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/format_names.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/limits.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

enum class scaling { none, power_of_two };

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

    bool enabled() const noexcept { return kind_ != kind::none; }
    std::string name() const { return enabled() ? name_ : "fp32"; }

    // out = Q(in) with one stream for the whole tensor. out may be in.
    void apply(std::span<const float> in, std::span<float> out, stream s) const
    {
        require_same_size(in.size(), "in", out.size(), "out");
        if (!enabled()) {
            if (out.data() != in.data()) std::copy(in.begin(), in.end(), out.begin());
            return;
        }
        round(in, out, scale_for(in), s);
    }

    // out = Q(in), row r rounded with derive(base, r); rows are shared among threads.
    // The power-of-two scale, when used, is one per tensor (the largest |x| of all rows).
    // first_row: the index of in's row 0 in the whole batch (row r draws derive(base, first_row + r)).
    void apply_rows(const tensor& in, tensor& out, stream base, unsigned threads = 1, std::size_t first_row = 0) const
    {
        if (&out != &in) out.resize(in.rows(), in.cols());
        if (!enabled()) {
            if (&out != &in) std::copy(in.values().begin(), in.values().end(), out.values().begin());
            return;
        }
        const float scale = scale_for(in.values());
        parallel_for(in.rows(), threads, 16, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) round(in.row(r), out.row(r), scale, derive(base, first_row + r));
        });
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
    enum class kind { none, minifloat, int8 };
    using fake_fn = void (*)(std::span<const float>, std::span<float>, const policy&, const stream&);

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
    std::string name_;
};

}  // namespace fewbits::nn
