// GELU with the tanh approximation (GPT-2's), element by element:
//   gelu(u) = 0.5 u (1 + tanh(k (u + 0.044715 u^3))),  k = sqrt(2 / pi)
//   gelu'(u) = 0.5 (1 + t) + 0.5 u (1 - t^2) k (1 + 3 * 0.044715 u^2),  t = tanh(k (u + 0.044715 u^3))
// Computed in float, tanh as 1 - 2 / (1 + exp(2z)) (one expf, a few times cheaper than tanh,
// exact to a few float ulps of t); rows are shared among threads whole, so the bits never
// depend on the thread count. No parameters. Backward recomputes t from the saved input (the
// same float operations, so the same bits) instead of keeping it: a GELU after a C -> 4C
// layer would otherwise keep 4C floats per token more than its input.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>

#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

class gelu final : public layer {
public:
    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        x_ = x;
        y_.resize(x.rows(), x.cols());
        y_.set_groups(x.groups());
        parallel_for(x.rows(), ctx.threads, 64, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin * x.cols(); i < end * x.cols(); ++i) {
                const float u = x.data()[i];
                const float t = tanh_term(u);
                y_.data()[i] = 0.5f * u * (1.0f + t);
            }
        });
        return y_;
    }

    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        require_shape(dy, x_.rows(), x_.cols(), "gelu output gradient");
        dx_.resize(0, 0);
        if (!need_input_grad) return dx_;
        scratch_pool::shared().reshape(dx_, dy.rows(), dy.cols());
        dx_.set_groups(dy.groups());
        parallel_for(dy.rows(), ctx.threads, 64, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin * dy.cols(); i < end * dy.cols(); ++i) {
                const float u = x_.data()[i];
                const float t = tanh_term(u);
                const float d = 0.5f * (1.0f + t) + 0.5f * u * (1.0f - t * t) * k * (1.0f + 3.0f * c * u * u);
                dx_.data()[i] = d * dy.data()[i];
            }
        });
        return dx_;
    }

    std::unique_ptr<layer> clone() const override { return std::make_unique<gelu>(*this); }
    std::size_t activation_bytes() const override
    {
        return x_.bytes() + y_.bytes() + dx_.bytes();
    }
    void release_input_gradient() override { scratch_pool::shared().give(dx_); }


private:
    static constexpr float k = 0.79788456080286535588f;  // sqrt(2 / pi)
    static constexpr float c = 0.044715f;
    // exp overflows to inf for large z (t = 1) and underflows to 0 for very negative z (t = -1).
    static float tanh_of(float z) noexcept { return 1.0f - 2.0f / (1.0f + std::exp(2.0f * z)); }
    // t of input u: one function for forward and backward, so both compute it alike.
    static float tanh_term(float u) noexcept { return tanh_of(k * (u + c * u * u * u)); }
    tensor x_, y_, dx_;
};

}  // namespace fewbits::nn
