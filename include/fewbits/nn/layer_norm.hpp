// Layer normalisation over each row (PyTorch's nn.LayerNorm over the last dimension, with a
// learned gain gamma and bias beta): the worked example of docs/layers.md for adding a layer
// without touching any other header. Per row x (n features):
//   mean = sum x / n,  var = sum (x - mean)^2 / n (biased, as PyTorch),  r = 1 / sqrt(var + eps)
//   xhat = (x - mean) r,  y = gamma * xhat + beta
// backward, for dy (each sample's own loss gradient, as every layer receives it):
//   dgamma = sum_rows dy * xhat / rows,  dbeta = sum_rows dy / rows   (batch means, like linear)
//   dx = r (dy gamma - mean(dy gamma) - xhat mean(dy gamma xhat))
// Row statistics and the two means of backward are summed in double in order and rounded
// once; rows are independent (shared among threads whole), the parameter gradients are summed
// over rows in order: the bits never depend on the thread count. gamma and beta are parameters
// with keys tensor_key("layer_norm.gamma") and tensor_key("layer_norm.beta"), so any optimizer
// updates them in any storage.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

class layer_norm final : public layer {
public:
    // n features; gamma starts at 1 and beta at 0 (PyTorch's default).
    layer_norm(std::size_t n, std::uint64_t layer_id, const weight_storage& storage = weight_storage::fp32(),
               float eps = 1e-5f)
        : n_(n), eps_(eps), gamma_("gamma", layer_id, tensor_key("layer_norm.gamma"), 1, n, storage),
          beta_("beta", layer_id, tensor_key("layer_norm.beta"), 1, n, storage)
    {
        if (n == 0) fewbits::raise_invalid_argument("layer_norm size must be positive, got 0");
        if (!(eps > 0.0f) || !std::isfinite(eps))
            fewbits::raise_invalid_argument("layer_norm eps must be positive and finite, got " + exact_string(eps));
        gamma_.assign(std::vector<float>(n, 1.0f));
        beta_.assign(std::vector<float>(n, 0.0f));
    }

    parameter& gamma() noexcept { return gamma_; }
    parameter& beta() noexcept { return beta_; }

    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        require_cols(x, n_, "layer_norm input");
        xhat_.resize(x.rows(), n_);
        rstd_.resize(x.rows());
        y_.resize(x.rows(), n_);
        y_.set_groups(x.groups());
        const parameter_values gamma(gamma_), beta(beta_);
        const float* g = gamma.data();
        const float* b = beta.data();
        parallel_for(x.rows(), ctx.threads, 16, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const auto xr = x.row(r);
                double sum = 0.0;
                for (float v : xr) sum += v;
                const double mean = sum / static_cast<double>(n_);
                double sq = 0.0;
                for (float v : xr) sq += (v - mean) * (v - mean);
                const double rstd = 1.0 / std::sqrt(sq / static_cast<double>(n_) + eps_);
                rstd_[r] = static_cast<float>(rstd);
                auto h = xhat_.row(r);
                auto y = y_.row(r);
                for (std::size_t j = 0; j < n_; ++j) h[j] = static_cast<float>((xr[j] - mean) * rstd);
                fma_arrays(std::span<const float>(g, n_), h, std::span<const float>(b, n_), y);
            }
        });
        return y_;
    }

    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        require_shape(dy, xhat_.rows(), n_, "layer_norm output gradient");
        const std::size_t rows = dy.rows();
        const double inv_rows = 1.0 / static_cast<double>(rows);
        tensor& dgamma = gamma_.grad();
        tensor& dbeta = beta_.grad();
        for (std::size_t j = 0; j < n_; ++j) {
            double sg = 0.0, sb = 0.0;
            for (std::size_t r = 0; r < rows; ++r) {
                sg += static_cast<double>(dy(r, j)) * xhat_(r, j);
                sb += dy(r, j);
            }
            dgamma(0, j) = static_cast<float>(sg * inv_rows);
            dbeta(0, j) = static_cast<float>(sb * inv_rows);
        }
        dx_.resize(0, 0);
        if (!need_input_grad) return dx_;
        scratch_pool::shared().reshape(dx_, rows, n_);
        dx_.set_groups(dy.groups());
        const parameter_values gamma(gamma_);
        const float* g = gamma.data();
        parallel_for(rows, ctx.threads, 16, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const auto d = dy.row(r);
                const auto h = xhat_.row(r);
                double mean_dg = 0.0, mean_dgh = 0.0;
                for (std::size_t j = 0; j < n_; ++j) {
                    const double dg = static_cast<double>(d[j]) * g[j];
                    mean_dg += dg;
                    mean_dgh += dg * h[j];
                }
                mean_dg /= static_cast<double>(n_);
                mean_dgh /= static_cast<double>(n_);
                auto out = dx_.row(r);
                for (std::size_t j = 0; j < n_; ++j)
                    out[j] = static_cast<float>(rstd_[r] * (static_cast<double>(d[j]) * g[j] - mean_dg - h[j] * mean_dgh));
            }
        });
        return dx_;
    }

    std::vector<parameter*> parameters() override { return {&gamma_, &beta_}; }
    std::unique_ptr<layer> clone() const override { return std::make_unique<layer_norm>(*this); }
    std::size_t activation_bytes() const override
    {
        return xhat_.bytes() + y_.bytes() + dx_.bytes() + rstd_.capacity() * sizeof(float);
    }
    void release_input_gradient() override { scratch_pool::shared().give(dx_); }


private:
    std::size_t n_;
    float eps_;
    parameter gamma_, beta_;
    tensor xhat_, y_, dx_;
    std::vector<float> rstd_;
};

}  // namespace fewbits::nn
