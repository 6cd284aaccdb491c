// Causal multi-head self-attention (GPT-2's), the part without parameters: the projections
// before (qkv) and after (attn_proj) are linear layers. Input: the rows of `sequences` groups
// (tensor groups), each row a token's q, k and v side by side (3C columns: [0, C) q,
// [C, 2C) k, [2C, 3C) v; head j uses columns j*C/H .. (j+1)*C/H - 1 of each). Output: C
// columns, the heads side by side. Per sequence and head, with hs = C/H:
//   score[t][s] = q_t . k_s / sqrt(hs) for s <= t (the causal mask), att[t] = softmax(score[t])
//   y_t = sum_{s <= t} att[t][s] v_s
// backward, for dy:
//   datt[t][s] = dy_t . v_s,  dscore[t][s] = att[t][s] (datt[t][s] - sum_s' att[t][s'] datt[t][s'])
//   dq_t = sum_s dscore[t][s] k_s / sqrt(hs),  dk_s = sum_t dscore[t][s] q_t / sqrt(hs),
//   dv_s = sum_t att[t][s] dy_t
// The four products of each (sequence, head) pair run on the GEMM (gemm.hpp: a fixed summation
// order), the softmax and its backward sum in double; every pair writes its own rows and
// columns, and pairs are shared among threads whole: the bits never depend on the thread count.
//
// Backward quantization (optional, like the linear layer's): the two products of backward,
// att v and q k^T, get rounded operands: q, k, v, att, dy and dscore of each pair, each with
// its own stream derive(derive(tensor_stream(layer, key), sequence), head), so every
// sequence's rounding is independent.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/gemm.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/quantizer.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

class causal_self_attention final : public layer {
public:
    // channels C split into `heads` heads; backward_quantizer rounds the operands of the two
    // backward products (none: FP32).
    causal_self_attention(std::size_t channels, std::size_t heads, std::uint64_t layer_id,
                          quantizer backward_quantizer = {})
        : c_(channels), h_(heads), layer_(layer_id), q_(std::move(backward_quantizer))
    {
        if (channels == 0 || heads == 0 || channels % heads != 0)
            raise_invalid_argument("attention channels (" + std::to_string(channels) +
                                   ") must be a positive multiple of heads (" + std::to_string(heads) + ")");
    }

    void set_backward_quantizer(quantizer q) { q_ = std::move(q); }

    const tensor& forward(const tensor& qkv, const pass_context& ctx) override
    {
        require_cols(qkv, 3 * c_, "attention input (q, k, v)");
        if (qkv.groups() == 0) raise_invalid_argument("attention input needs its rows grouped by sequence");
        qkv_ = qkv;
        const std::size_t groups = qkv.groups(), n = qkv.group_rows(), hs = c_ / h_;
        att_.assign(groups * h_ * n * n, 0.0f);
        y_.resize(qkv.rows(), c_);
        y_.set_groups(groups);
        const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
        parallel_for(groups * h_, ctx.threads, 1, [&](std::size_t begin, std::size_t end) {
            std::vector<double> e(n);
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t g = pair / h_, h = pair % h_;
                const float* base = qkv.row(g * n).data() + h * hs;  // q of token 0; k at +C, v at +2C
                float* att = att_.data() + pair * n * n;
                // scores = q k^T (the whole square; the mask drops the upper triangle below).
                gemm(n, n, hs, base, 3 * c_, transpose::no, base + c_, 3 * c_, transpose::yes, att, n, false, 1);
                for (std::size_t t = 0; t < n; ++t) {
                    float* row = att + t * n;
                    double max = -std::numeric_limits<double>::infinity();
                    for (std::size_t s = 0; s <= t; ++s) max = std::max(max, static_cast<double>(row[s]) * scale);
                    double sum = 0.0;
                    for (std::size_t s = 0; s <= t; ++s) sum += (e[s] = std::exp(static_cast<double>(row[s]) * scale - max));
                    for (std::size_t s = 0; s <= t; ++s) row[s] = static_cast<float>(e[s] / sum);
                    std::fill(row + t + 1, row + n, 0.0f);
                }
                // y = att v, into this head's columns.
                gemm(n, hs, n, att, n, transpose::no, base + 2 * c_, 3 * c_, transpose::no, y_.row(g * n).data() + h * hs,
                     c_, false, 1);
            }
        });
        return y_;
    }

    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        require_shape(dy, qkv_.rows(), c_, "attention output gradient");
        dqkv_.resize(0, 0);
        if (!need_input_grad) return dqkv_;
        const std::size_t groups = qkv_.groups(), n = qkv_.group_rows(), hs = c_ / h_;
        scratch_pool::shared().reshape(dqkv_, qkv_.rows(), 3 * c_);
        dqkv_.set_groups(groups);
        const double scale = 1.0 / std::sqrt(static_cast<double>(hs));
        const bool rounded = !ctx.exact && q_.enabled();
        parallel_for(groups * h_, ctx.threads, 1, [&](std::size_t begin, std::size_t end) {
            // This pair's operands, contiguous (rows of hs or n values), rounded when asked.
            std::vector<float> q(n * hs), k(n * hs), v(n * hs), d(n * hs), att(n * n), dscore(n * n);
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t g = pair / h_, h = pair % h_;
                for (std::size_t t = 0; t < n; ++t)
                    for (std::size_t j = 0; j < hs; ++j) {
                        q[t * hs + j] = qkv_(g * n + t, h * hs + j);
                        k[t * hs + j] = qkv_(g * n + t, c_ + h * hs + j);
                        v[t * hs + j] = qkv_(g * n + t, 2 * c_ + h * hs + j);
                        d[t * hs + j] = dy(g * n + t, h * hs + j);
                    }
                std::copy_n(att_.data() + pair * n * n, n * n, att.data());
                if (rounded) {
                    round(v, "attention.v", ctx, g, h);
                    round(att, "attention.att", ctx, g, h);
                    round(d, "attention.dy", ctx, g, h);
                }
                float* dq = dqkv_.row(g * n).data() + h * hs;  // dk at +C, dv at +2C
                gemm(n, hs, n, att.data(), n, transpose::yes, d.data(), hs, transpose::no, dq + 2 * c_, 3 * c_, false, 1);
                // datt = dy v^T, then dscore = att (datt - rowdot) / sqrt(hs) in place (0 above the diagonal).
                gemm(n, n, hs, d.data(), hs, transpose::no, v.data(), hs, transpose::yes, dscore.data(), n, false, 1);
                for (std::size_t t = 0; t < n; ++t) {
                    float* row = dscore.data() + t * n;
                    const float* a = att.data() + t * n;
                    double rowdot = 0.0;
                    for (std::size_t s = 0; s <= t; ++s) rowdot += static_cast<double>(a[s]) * row[s];
                    for (std::size_t s = 0; s <= t; ++s)
                        row[s] = static_cast<float>(a[s] * (row[s] - rowdot) * scale);
                    std::fill(row + t + 1, row + n, 0.0f);
                }
                if (rounded) {
                    round(q, "attention.q", ctx, g, h);
                    round(k, "attention.k", ctx, g, h);
                    round(dscore, "attention.dscore", ctx, g, h);
                }
                gemm(n, hs, n, dscore.data(), n, transpose::no, k.data(), hs, transpose::no, dq, 3 * c_, false, 1);
                gemm(n, hs, n, dscore.data(), n, transpose::yes, q.data(), hs, transpose::no, dq + c_, 3 * c_, false, 1);
            }
        });
        return dqkv_;
    }

    std::unique_ptr<layer> clone() const override { return std::make_unique<causal_self_attention>(*this); }
    std::size_t activation_bytes() const override
    {
        return qkv_.bytes() + y_.bytes() + dqkv_.bytes() + att_.capacity() * sizeof(float);
    }
    void release_input_gradient() override { scratch_pool::shared().give(dqkv_); }


private:
    void round(std::vector<float>& values, const char* name, const pass_context& ctx, std::size_t g, std::size_t h) const
    {
        // g counted in the whole batch (pass_context::first_row), so micro-batches draw as it does.
        const std::size_t first_group = ctx.first_row / std::max<std::size_t>(1, qkv_.group_rows());
        q_.apply(values, values, derive(derive(ctx.tensor_stream(layer_, tensor_key(name)), first_group + g), h));
    }

    std::size_t c_, h_;
    std::uint64_t layer_;
    quantizer q_;
    tensor qkv_, y_, dqkv_;
    std::vector<float> att_;  // per (sequence, head): n x n attention weights
};

}  // namespace fewbits::nn
