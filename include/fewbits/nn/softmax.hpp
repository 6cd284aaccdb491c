// Softmax over each row (the last dimension) as an operation of its own, its backward, and
// the softmax layer. The cross-entropy loss (loss.hpp) computes its probabilities with the
// same row function, so they are the same bits.
//   forward:  y_j = exp(x_j - max x) / sum_k exp(x_k - max x), the exponentials and the sum in
//             double (in order k = 0, 1, ...), each y_j rounded once to float;
//   backward: dx_j = y_j (dy_j - sum_k dy_k y_k), the sum in double in order, dx_j rounded once.
// Rows are independent and shared among threads whole: the bits never depend on the thread
// count. A row of -inf gives NaN (0 / 0), as in PyTorch.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <span>

#include "fewbits/error.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

struct softmax_row_result {
    float max = 0.0f;   // the largest input (index `argmax`, the first one on ties)
    double sum = 0.0;   // sum_k exp(x_k - max)
    std::size_t argmax = 0;
};

// y = softmax(x) for one row (y may be x).
inline softmax_row_result softmax_row(std::span<const float> x, std::span<float> y)
{
    softmax_row_result r;
    if (x.empty()) return r;
    r.max = x[0];
    for (std::size_t j = 1; j < x.size(); ++j)
        if (x[j] > r.max) r.max = x[j], r.argmax = j;
    for (std::size_t j = 0; j < x.size(); ++j) r.sum += std::exp(static_cast<double>(x[j]) - r.max);
    for (std::size_t j = 0; j < x.size(); ++j)
        y[j] = static_cast<float>(std::exp(static_cast<double>(x[j]) - r.max) / r.sum);
    return r;
}

// y = softmax of every row of x (y resized, x's groups kept).
inline void softmax_rows(const tensor& x, tensor& y, unsigned threads = 1)
{
    y.resize(x.rows(), x.cols());
    y.set_groups(x.groups());
    parallel_for(x.rows(), threads, 64, [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) softmax_row(x.row(r), y.row(r));
    });
}

// dx = the input gradient of softmax for output y and output gradient dy (dx resized).
inline void softmax_rows_backward(const tensor& y, const tensor& dy, tensor& dx, unsigned threads = 1)
{
    require_shape(dy, y.rows(), y.cols(), "softmax output gradient");
    dx.resize(y.rows(), y.cols());
    dx.set_groups(y.groups());
    parallel_for(y.rows(), threads, 64, [&](std::size_t begin, std::size_t end) {
        for (std::size_t r = begin; r < end; ++r) {
            const auto yr = y.row(r);
            const auto gr = dy.row(r);
            double dot = 0.0;
            for (std::size_t j = 0; j < yr.size(); ++j) dot += static_cast<double>(gr[j]) * yr[j];
            auto out = dx.row(r);
            for (std::size_t j = 0; j < yr.size(); ++j)
                out[j] = static_cast<float>(static_cast<double>(yr[j]) * (static_cast<double>(gr[j]) - dot));
        }
    });
}

// The softmax of every row as a layer (no parameters).
class softmax final : public layer {
public:
    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        softmax_rows(x, y_, ctx.threads);
        return y_;
    }
    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        dx_.resize(0, 0);
        if (need_input_grad) softmax_rows_backward(y_, dy, dx_, ctx.threads);
        return dx_;
    }
    std::unique_ptr<layer> clone() const override { return std::make_unique<softmax>(*this); }

private:
    tensor y_, dx_;
};

}  // namespace fewbits::nn
