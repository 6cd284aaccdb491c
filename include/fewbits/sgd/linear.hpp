// The fully connected layer y = x W + b (x: batch x in, W: in x out, b: 1 x out) with its six
// quantizers, and ReLU.
//
// Quantization of one linear layer (each quantizer a format + policy, or none = FP32):
//   forward:  y = Q_fi(x) Q_fw(W) + b
//   backward: dW = (1/b) Q_bi(x)^T Q_gw(dy)   db = (1/b) sum_i Q_gw(dy)_i
//             dx = Q_gi(dy) Q_bw(W)^T
// dy arrives per sample (the loss gradient of each sample, not yet divided by the batch
// size), so small per-sample gradients are rounded before averaging, not after. With
// reuse_forward, backward uses the very tensors forward rounded (Q_fi(x), Q_fw(W): one draw
// for both passes) and Q_bi, Q_bw are not used; otherwise backward rounds x and W afresh.
//
// Random streams: every rounding of tensor t in layer l at step s uses
// derive(derive(derive(derive({seed}, s), l), t), r) for row (sample) r of an activation or
// gradient, and derive(derive(derive({seed}, s), l), t) for a weight (one draw shared by the
// batch). Hence every sample's rounding is independent, and a run is a pure function of the
// seed: thread count and batch splitting never enter.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/random.hpp"
#include "fewbits/sgd/gemm.hpp"
#include "fewbits/sgd/parameter.hpp"
#include "fewbits/sgd/quantizer.hpp"
#include "fewbits/sgd/tensor.hpp"

namespace fewbits::sgd {

struct linear_quantization {
    quantizer forward_input;
    quantizer forward_weight;
    quantizer backward_input;          // x for the weight gradient
    quantizer backward_weight;         // W for the input gradient
    quantizer output_grad_for_input;   // dy for the input gradient
    quantizer output_grad_for_weight;  // dy for the weight gradient
    bool reuse_forward = false;        // backward reuses forward's rounded x and W (same draw)

    // Only the backward pass rounded: x, dy (both uses) and W for the input gradient.
    static linear_quantization backward_only(const quantizer& q)
    {
        linear_quantization lq;
        lq.backward_input = lq.backward_weight = lq.output_grad_for_input = lq.output_grad_for_weight = q;
        return lq;
    }
    // Every tensor rounded with q (forward and backward, fresh draws in backward).
    static linear_quantization everywhere(const quantizer& q)
    {
        linear_quantization lq = backward_only(q);
        lq.forward_input = lq.forward_weight = q;
        return lq;
    }
};

// The stream ids of the tensors a layer rounds (see the header comment).
enum class tensor_id : std::uint64_t {
    forward_input = 1,
    forward_weight,
    backward_input,
    backward_weight,
    output_grad_for_input,
    output_grad_for_weight,
    weight_update,
    bias_update,
};

// What one forward/backward pass needs to know besides the data.
struct pass_context {
    std::uint64_t seed = 0;      // the run's rounding seed
    std::uint64_t step = 0;      // the optimizer step (or diagnostic draw) this pass belongs to
    bool exact = false;          // true: every quantizer is skipped (the FP32 reference pass)
    unsigned threads = 1;
    generator rng = generator::counter_hash;

    stream tensor_stream(std::size_t layer, tensor_id t) const
    {
        return derive(derive(derive(stream{seed, 0, rng}, step), layer), static_cast<std::uint64_t>(t));
    }
};

struct sgd_options {
    float lr = 0.01f;
    float momentum = 0.0f;      // 0: plain SGD
    float weight_decay = 0.0f;  // L2: g + weight_decay * w
    policy update{};            // rounding of the update for weights stored in low precision

    void validate() const
    {
        if (!(lr > 0.0f) || !std::isfinite(lr))
            fewbits::raise_invalid_argument(std::string("sgd_options.lr must be positive and finite, got ") + exact_string(lr));
        if (!(momentum >= 0.0f && momentum < 1.0f))
            fewbits::raise_invalid_argument(std::string("sgd_options.momentum must be in [0, 1), got ") + exact_string(momentum));
        if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay))
            fewbits::raise_invalid_argument("sgd_options.weight_decay must be non-negative and finite, got " +
                                              exact_string(weight_decay));
        fewbits::validate(update);
    }
};

class linear {
public:
    // Weights and bias start uniform in [-1/sqrt(in), 1/sqrt(in)] (PyTorch's default), drawn
    // from derive({init_seed}, layer).
    linear(std::size_t in, std::size_t out, std::size_t layer, const weight_storage& storage,
           linear_quantization q, std::uint64_t init_seed)
        : in_(in), out_(out), layer_(layer), q_(std::move(q)), weight_(storage.make(in * out)),
          bias_(storage.make(out)), w_(in, out), b_(1, out), dw_(in, out), db_(1, out)
    {
        if (in == 0 || out == 0)
            fewbits::raise_invalid_argument(std::string("linear layer sizes must be positive, got in = ") + std::to_string(in) +
                                              ", out = " + std::to_string(out));
        const float bound = 1.0f / std::sqrt(static_cast<float>(in));
        std::vector<float> init(in * out + out);
        std::vector<std::uint32_t> words(init.size());
        fill_random_words(derive(stream{init_seed}, layer), words);
        for (std::size_t i = 0; i < init.size(); ++i)
            init[i] = bound * (2.0f * (static_cast<float>(words[i] >> 8) * 0x1p-24f) - 1.0f);
        weight_->assign(std::span<const float>(init).first(in * out));
        bias_->assign(std::span<const float>(init).subspan(in * out));
        refresh();
    }

    linear(const linear& o)
        : in_(o.in_), out_(o.out_), layer_(o.layer_), q_(o.q_), weight_(o.weight_->clone()), bias_(o.bias_->clone()),
          w_(o.w_), b_(o.b_), dw_(o.dw_), db_(o.db_), vw_(o.vw_), vb_(o.vb_)
    {
    }
    linear& operator=(const linear& o)
    {
        if (this != &o) *this = linear(o);
        return *this;
    }
    linear(linear&&) noexcept = default;
    linear& operator=(linear&&) noexcept = default;

    std::size_t inputs() const noexcept { return in_; }
    std::size_t outputs() const noexcept { return out_; }
    void set_quantization(linear_quantization q) { q_ = std::move(q); }

    // The current weights (in x out) and bias (1 x out), exactly as stored.
    const tensor& weight() const noexcept { return w_; }
    const tensor& bias() const noexcept { return b_; }
    void set_parameters(const tensor& w, const tensor& b)
    {
        require_shape(w, in_, out_, "weight");
        require_shape(b, 1, out_, "bias");
        weight_->assign(w.values());
        bias_->assign(b.values());
        refresh();
    }

    // Gradients of the last backward pass: mean over the batch.
    const tensor& weight_grad() const noexcept { return dw_; }
    const tensor& bias_grad() const noexcept { return db_; }

    // y = Q_fi(x) Q_fw(W) + b. Keeps x (and the rounded tensors) for backward.
    const tensor& forward(const tensor& x, const pass_context& ctx)
    {
        require_cols(x, in_, "linear input");
        x_ = x;
        const bool q = !ctx.exact;
        const tensor* xf = &x_;
        if (q && q_.forward_input.enabled()) {
            q_.forward_input.apply_rows(x_, xq_, ctx.tensor_stream(layer_, tensor_id::forward_input), ctx.threads);
            xf = &xq_;
        }
        const tensor* wf = &w_;
        if (q && q_.forward_weight.enabled()) {
            wq_.resize(in_, out_);
            q_.forward_weight.apply(w_.values(), wq_.values(), ctx.tensor_stream(layer_, tensor_id::forward_weight));
            wf = &wq_;
        }
        forward_x_rounded_ = xf == &xq_;
        forward_w_rounded_ = wf == &wq_;
        const std::size_t batch = x.rows();
        y_.resize(batch, out_);
        for (std::size_t r = 0; r < batch; ++r) std::copy(b_.values().begin(), b_.values().end(), y_.row(r).begin());
        gemm(batch, out_, in_, xf->data(), in_, transpose::no, wf->data(), out_, y_.data(), out_, true, ctx.threads);
        return y_;
    }

    // Gradients for dy (batch x out, per sample): fills weight_grad and bias_grad (batch
    // means) and returns dx (batch x in) when need_input_grad, else an empty tensor.
    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad)
    {
        require_shape(dy, x_.rows(), out_, "linear output gradient");
        const bool q = !ctx.exact;
        const std::size_t batch = dy.rows();
        const float inv_batch = 1.0f / static_cast<float>(batch);

        // Weight and bias gradients.
        const tensor* xb = &x_;
        if (q && q_.reuse_forward) {
            xb = forward_x_rounded_ ? &xq_ : &x_;
        } else if (q && q_.backward_input.enabled()) {
            q_.backward_input.apply_rows(x_, xbq_, ctx.tensor_stream(layer_, tensor_id::backward_input), ctx.threads);
            xb = &xbq_;
        }
        const tensor* dyw = &dy;
        if (q && q_.output_grad_for_weight.enabled()) {
            q_.output_grad_for_weight.apply_rows(dy, dywq_, ctx.tensor_stream(layer_, tensor_id::output_grad_for_weight),
                                                 ctx.threads);
            dyw = &dywq_;
        }
        gemm(in_, out_, batch, xb->data(), in_, transpose::yes, dyw->data(), out_, dw_.data(), out_, false, ctx.threads);
        for (float& g : dw_.values()) g *= inv_batch;
        for (std::size_t j = 0; j < out_; ++j) {
            float s = 0.0f;
            for (std::size_t r = 0; r < batch; ++r) s += (*dyw)(r, j);
            db_(0, j) = s * inv_batch;
        }

        dx_.resize(0, 0);
        if (!need_input_grad) return dx_;
        const tensor* dyi = &dy;
        if (q && q_.output_grad_for_input.enabled()) {
            q_.output_grad_for_input.apply_rows(dy, dyiq_, ctx.tensor_stream(layer_, tensor_id::output_grad_for_input),
                                                ctx.threads);
            dyi = &dyiq_;
        }
        const tensor* wb = &w_;
        if (q && q_.reuse_forward) {
            wb = forward_w_rounded_ ? &wq_ : &w_;
        } else if (q && q_.backward_weight.enabled()) {
            wbq_.resize(in_, out_);
            q_.backward_weight.apply(w_.values(), wbq_.values(), ctx.tensor_stream(layer_, tensor_id::backward_weight));
            wb = &wbq_;
        }
        // dx = dy W^T: W^T (out x in) is copied so that the product runs along contiguous rows.
        wt_.resize(out_, in_);
        for (std::size_t i = 0; i < in_; ++i)
            for (std::size_t j = 0; j < out_; ++j) wt_(j, i) = (*wb)(i, j);
        dx_.resize(batch, in_);
        gemm(batch, in_, out_, dyi->data(), out_, transpose::no, wt_.data(), in_, dx_.data(), in_, false, ctx.threads);
        return dx_;
    }

    // One SGD step with the gradients of the last backward pass (options already validated).
    void update(const sgd_options& o, const pass_context& ctx)
    {
        step_parameter(*weight_, w_, dw_, vw_, o, ctx.tensor_stream(layer_, tensor_id::weight_update));
        step_parameter(*bias_, b_, db_, vb_, o, ctx.tensor_stream(layer_, tensor_id::bias_update));
        refresh();
    }

private:
    void refresh()
    {
        weight_->read(w_.values());
        bias_->read(b_.values());
    }

    static void step_parameter(parameter_store& store, const tensor& current, const tensor& grad,
                               std::vector<float>& velocity, const sgd_options& o, const stream& s)
    {
        std::span<const float> g = grad.values();
        std::vector<float> decayed;
        if (o.weight_decay > 0.0f) {
            decayed.resize(g.size());
            for (std::size_t i = 0; i < g.size(); ++i) decayed[i] = std::fma(o.weight_decay, current.data()[i], g[i]);
            g = decayed;
        }
        if (o.momentum > 0.0f && velocity.size() != g.size()) velocity.assign(g.size(), 0.0f);
        store.update(g, o.lr, o.momentum, o.momentum > 0.0f ? std::span<float>(velocity) : std::span<float>(), o.update,
                     s);
    }

    std::size_t in_, out_, layer_;
    linear_quantization q_;
    std::unique_ptr<parameter_store> weight_, bias_;
    tensor w_, b_;    // decoded values of the stores
    tensor dw_, db_;  // gradients of the last backward pass
    std::vector<float> vw_, vb_;  // momentum velocities (allocated on first use)
    // Per-pass buffers.
    tensor x_, xq_, wq_, y_, xbq_, dywq_, dyiq_, wbq_, wt_, dx_;
    bool forward_x_rounded_ = false;  // whether forward used xq_ (else x_)
    bool forward_w_rounded_ = false;  // whether forward used wq_ (else w_)
};

class relu {
public:
    const tensor& forward(const tensor& x)
    {
        y_ = x;
        for (float& v : y_.values()) v = v > 0.0f ? v : 0.0f;
        return y_;
    }
    // dx = dy where the forward output was positive, 0 elsewhere.
    const tensor& backward(const tensor& dy)
    {
        require_shape(dy, y_.rows(), y_.cols(), "relu output gradient");
        dx_ = dy;
        for (std::size_t i = 0; i < dx_.size(); ++i)
            if (!(y_.data()[i] > 0.0f)) dx_.data()[i] = 0.0f;
        return dx_;
    }

private:
    tensor y_, dx_;
};

}  // namespace fewbits::sgd
