// Gradient accumulation over micro-batches (a batch bigger than what fits in memory): each
// parameter's gradient of a micro-batch is added, with a weight, to a sum kept per parameter,
// in FP32 or in BF16 with stochastic rounding, until the step's update reads it.
//
//   fp32     sum = fma(weight, g, sum) per value, in the order of the calls: 4 bytes per parameter.
//   bf16_sr  -sum is kept as bfloat16 and updated by the fused sgd_update kernel,
//            -sum = SR(fma(-weight, g, -sum)) (updates.hpp): 2 bytes per parameter, unbiased
//            (E[sum] is the exact sum, up to the float rounding of the fma), with the random
//            words of the stream the caller gives each call.
// The micro-batch gradients are means over their rows, so K micro-batches of equal size with
// weight 1/K give the mean over the whole batch. What differs from one pass over the whole
// batch: every layer sums its rows per micro-batch and the micro-batch means are added, so an
// FP32 sum matches the one-pass gradient to a few float roundings, not bit for bit; per-tensor
// scaled quantizers (FP8 with power-of-two scaling) pick their scale per micro-batch. The
// per-row rounding streams are those of the whole batch (pass_context::first_row).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/types.hpp"
#include "fewbits/updates.hpp"

namespace fewbits::train {

enum class accumulator_format { fp32, bf16_sr };

inline const char* accumulator_format_name(accumulator_format f) noexcept
{
    return f == accumulator_format::bf16_sr ? "bf16 SR" : "fp32";
}

class gradient_accumulator {
public:
    explicit gradient_accumulator(accumulator_format f = accumulator_format::fp32) : format_(f) {}

    accumulator_format format() const noexcept { return format_; }

    // sum(p) += weight * p.grad(); s gives the random words of bf16_sr (ignored for fp32).
    void add(const nn::parameter& p, float weight, const stream& s)
    {
        if (!p.has_grad())
            raise_invalid_argument("gradient_accumulator::add: parameter '" + p.name() + "' holds no gradient");
        sum& a = sums_[&p];
        const std::span<const float> g = p.grad().values();
        if (format_ == accumulator_format::fp32) {
            if (a.f32.size() != g.size()) a.f32.assign(g.size(), 0.0f);
            nn::fma_scalar(weight, g, a.f32, a.f32);
        } else {
            if (a.bf16.size() != g.size()) a.bf16.assign(g.size(), bfloat16(0.0f));
            sgd_update<bfloat16>(a.bf16, g, weight, policy{rounding::stochastic}, s);
        }
    }

    // Writes sum(p) into p.grad() and starts p's next sum at zero (keeping its memory).
    void take(nn::parameter& p)
    {
        auto it = sums_.find(&p);
        if (it == sums_.end())
            raise_invalid_argument("gradient_accumulator::take: nothing was added for parameter '" + p.name() + "'");
        sum& a = it->second;
        std::span<float> g = p.grad().values();
        if (format_ == accumulator_format::fp32) {
            std::copy(a.f32.begin(), a.f32.end(), g.begin());
            std::fill(a.f32.begin(), a.f32.end(), 0.0f);
        } else {
            for (std::size_t i = 0; i < g.size(); ++i) g[i] = -static_cast<float>(a.bf16[i]);
            std::fill(a.bf16.begin(), a.bf16.end(), bfloat16(0.0f));
        }
    }

    // Sets every sum to zero (a step abandoned half-way).
    void clear()
    {
        for (auto& [p, a] : sums_) {
            std::fill(a.f32.begin(), a.f32.end(), 0.0f);
            std::fill(a.bf16.begin(), a.bf16.end(), bfloat16(0.0f));
        }
    }

    // Bytes of the sums held.
    std::size_t bytes() const noexcept
    {
        std::size_t n = 0;
        for (const auto& [p, a] : sums_) n += a.f32.capacity() * sizeof(float) + a.bf16.capacity() * sizeof(bfloat16);
        return n;
    }

private:
    struct sum {
        std::vector<float> f32;      // fp32: the sum
        std::vector<bfloat16> bf16;  // bf16_sr: minus the sum
    };
    accumulator_format format_;
    std::unordered_map<const nn::parameter*, sum> sums_;
};

}  // namespace fewbits::train
