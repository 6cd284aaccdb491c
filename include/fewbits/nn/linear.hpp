// The fully connected layer y = x W + b (x: batch x in, W: in x out, b: 1 x out) with its six
// quantizers, and ReLU: the two layers (layer.hpp) of the MLP.
//
// Quantization of one linear layer (each quantizer a format + policy, or none = FP32):
//   forward:  y = Q_fi(x) Q_fw(W) + b
//   backward: dW = (1/b) Q_bi(x)^T Q_gw(dy)   db = (1/b) sum_i Q_gw(dy)_i
//             dx = Q_gi(dy) Q_bw(W)^T
// dy arrives per sample (the loss gradient of each sample, not yet divided by the batch
// size), so small per-sample gradients are rounded before averaging, not after. With
// reuse_forward, backward uses the very tensors forward rounded (Q_fi(x), Q_fw(W): one draw
// for both passes) and Q_bi, Q_bw are not used; otherwise backward rounds x and W afresh.
// Block-scaled quantizers (MX, NVFP4) take their blocks along each product's reduction axis, as
// hardware needs them: Q_fi(x) along in (rows of x), Q_fw(W) along in (down W's columns),
// Q_gi(dy) and Q_bw(W) along out (rows), Q_bi(x) and Q_gw(dy) along the batch (down the
// columns: the rows of every micro-batch a multiple of the block). db sums Q_gw(dy).
//
// Random streams: every rounding of tensor t (a tensor_id) in layer l at step s uses
// derive(derive(derive(derive({seed}, s), l), t), r) for row (sample) r of an activation or
// gradient, and derive(derive(derive({seed}, s), l), t) for a weight (one draw shared by the
// batch). Hence every sample's rounding is independent, and a run is a pure function of the
// seed: thread count and batch splitting never enter. The weight and the bias are parameters
// with keys weight_update and bias_update, updated by an optimizer (optim/).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/gemm.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/quantizer.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/random.hpp"

namespace fewbits::nn {

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

class linear final : public layer {
public:
    // Weights and bias start uniform in [-1/sqrt(in), 1/sqrt(in)] (PyTorch's default), drawn
    // from derive({init_seed}, layer_id).
    linear(std::size_t in, std::size_t out, std::uint64_t layer_id, const weight_storage& storage,
           linear_quantization q, std::uint64_t init_seed)
        : in_(in), out_(out), layer_(layer_id), q_(std::move(q)),
          weight_("weight", layer_id, static_cast<std::uint64_t>(tensor_id::weight_update), in, out, storage),
          bias_("bias", layer_id, static_cast<std::uint64_t>(tensor_id::bias_update), 1, out, storage)
    {
        if (in == 0 || out == 0)
            fewbits::raise_invalid_argument(std::string("linear layer sizes must be positive, got in = ") + std::to_string(in) +
                                              ", out = " + std::to_string(out));
        check_quantization(q_);
        const float bound = 1.0f / std::sqrt(static_cast<float>(in));
        std::vector<float> init(in * out + out);
        std::vector<std::uint32_t> words(init.size());
        fill_random_words(derive(stream{init_seed}, layer_id), words);
        for (std::size_t i = 0; i < init.size(); ++i)
            init[i] = bound * (2.0f * (static_cast<float>(words[i] >> 8) * 0x1p-24f) - 1.0f);
        weight_.assign(std::span<const float>(init).first(in * out));
        bias_.assign(std::span<const float>(init).subspan(in * out));
    }

    std::size_t inputs() const noexcept { return in_; }
    std::size_t outputs() const noexcept { return out_; }
    std::uint64_t id() const noexcept { return layer_; }
    void set_quantization(linear_quantization q)
    {
        check_quantization(q);
        q_ = std::move(q);
    }

    // The current weights (in x out) and bias (1 x out), exactly as stored (decoded copies).
    tensor weight() const { return weight_.value(); }
    tensor bias() const { return bias_.value(); }
    void set_parameters(const tensor& w, const tensor& b)
    {
        require_shape(w, in_, out_, "weight");
        require_shape(b, 1, out_, "bias");
        weight_.assign(w.values());
        bias_.assign(b.values());
    }
    parameter& weight_parameter() noexcept { return weight_; }
    parameter& bias_parameter() noexcept { return bias_; }

    // Gradients of the last backward pass: mean over the batch.
    const tensor& weight_grad() const noexcept { return weight_.grad(); }
    const tensor& bias_grad() const noexcept { return bias_.grad(); }

    // y = Q_fi(x) Q_fw(W) + b. Keeps x (and Q_fi(x) when backward reuses it) for backward.
    // y has x's groups.
    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        require_cols(x, in_, "linear input");
        x_ = x;
        const bool q = !ctx.exact;
        forward_x_rounded_ = q && q_.forward_input.enabled();
        forward_w_rounded_ = q && q_.forward_weight.enabled();
        // Q_fi(x) lives until backward only when backward reuses it.
        scratch_tensor xq_scratch;
        const tensor* xf = &x_;
        if (forward_x_rounded_) {
            tensor& xq = q_.reuse_forward ? xq_ : xq_scratch.take(x.rows(), in_);
            q_.forward_input.apply_rows(x_, xq, ctx.tensor_stream(layer_, tensor_id::forward_input), ctx.threads,
                                        ctx.first_row);
            xf = &xq;
        }
        const parameter_values w(weight_);
        scratch_tensor wq;
        const float* wf = forward_w_rounded_ ? rounded_forward_weight(w, wq, ctx) : w.data();
        const std::size_t batch = x.rows();
        y_.resize(batch, out_);
        y_.set_groups(x.groups());
        {
            const parameter_values b(bias_);
            for (std::size_t r = 0; r < batch; ++r) std::copy(b.values().begin(), b.values().end(), y_.row(r).begin());
        }
        gemm(batch, out_, in_, xf->data(), in_, transpose::no, wf, out_, y_.data(), out_, true, ctx.threads);
        return y_;
    }

    // Gradients for dy (batch x out, per sample): fills weight_grad and bias_grad (batch
    // means) and returns dx (batch x in) when need_input_grad, else an empty tensor. The
    // rounded copies of x, W and dy live only for this call (scratch tensors); dx is computed
    // first, so that the copies of W are given back before the weight gradient is taken.
    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        require_shape(dy, x_.rows(), out_, "linear output gradient");
        dx_.resize(0, 0);
        if (need_input_grad) input_gradient(dy, ctx);
        parameter_gradients(dy, ctx);
        return dx_;
    }

    std::vector<parameter*> parameters() override { return {&weight_, &bias_}; }
    std::unique_ptr<layer> clone() const override { return std::make_unique<linear>(*this); }
    std::size_t activation_bytes() const override { return x_.bytes() + xq_.bytes() + y_.bytes() + dx_.bytes(); }
    void release_input_gradient() override { scratch_pool::shared().give(dx_); }

private:
    // Forward's blocks run along in, the weight gradient's along the batch: a block-scaled
    // forward rounding cannot stand in for backward's.
    static void check_quantization(const linear_quantization& q)
    {
        if (q.reuse_forward && (q.forward_input.block_scaled() || q.forward_weight.block_scaled()))
            fewbits::raise_invalid_argument("linear_quantization: reuse_forward with a block-scaled forward quantizer (" +
                                            (q.forward_input.block_scaled() ? q.forward_input : q.forward_weight).name() +
                                            "): its blocks run along the forward product's reduction axis, not the "
                                            "backward's; leave reuse_forward false");
    }

    // dx = Q_gi(dy) Q_bw(W)^T into dx_.
    void input_gradient(const tensor& dy, const pass_context& ctx)
    {
        const bool q = !ctx.exact;
        const std::size_t batch = dy.rows();
        scratch_tensor dyiq;
        const tensor* dyi = rounded(q_.output_grad_for_input, dy, dyiq, tensor_id::output_grad_for_input, ctx);
        parameter_values w(weight_);
        const float* wb = w.data();
        scratch_tensor wbq;
        if (q && q_.reuse_forward) {
            // The draw forward made: the same stream on the same weights gives the same bits.
            if (forward_w_rounded_) wb = rounded_forward_weight(w, wbq, ctx);
        } else if (q && q_.backward_weight.enabled()) {
            // Rounded in place when W was decoded into a scratch copy anyway.
            std::span<float> rounded = w.decoded().empty() ? wbq.take(in_, out_).values() : w.decoded();
            q_.backward_weight.apply_weight(w.values(), rounded, out_, block_axis::row,
                                            ctx.tensor_stream(layer_, tensor_id::backward_weight));
            wb = rounded.data();
        }
        // dx = dy W^T (gemm copies W^T so that the product runs along contiguous rows).
        scratch_pool::shared().reshape(dx_, batch, in_);
        dx_.set_groups(dy.groups());
        gemm(batch, in_, out_, dyi->data(), out_, transpose::no, wb, out_, transpose::yes, dx_.data(), in_, false,
             ctx.threads);
    }

    // dW = (1/b) Q_bi(x)^T Q_gw(dy), db = (1/b) sum_i Q_gw(dy)_i into the parameters' gradients.
    void parameter_gradients(const tensor& dy, const pass_context& ctx)
    {
        const bool q = !ctx.exact;
        const std::size_t batch = dy.rows();
        const float inv_batch = 1.0f / static_cast<float>(batch);
        scratch_tensor xbq, dywq;
        const tensor* xb = q && q_.reuse_forward
                               ? (forward_x_rounded_ ? &xq_ : &x_)
                               : rounded(q_.backward_input, x_, xbq, tensor_id::backward_input, ctx, block_axis::column);
        const tensor* dyw =
            rounded(q_.output_grad_for_weight, dy, dywq, tensor_id::output_grad_for_weight, ctx, block_axis::column);
        tensor& dw = weight_.grad();
        tensor& db = bias_.grad();
        gemm(in_, out_, batch, xb->data(), in_, transpose::yes, dyw->data(), out_, dw.data(), out_, false, ctx.threads);
        for (float& g : dw.values()) g *= inv_batch;
        for (std::size_t j = 0; j < out_; ++j) {
            float s = 0.0f;
            for (std::size_t r = 0; r < batch; ++r) s += (*dyw)(r, j);
            db(0, j) = s * inv_batch;
        }
    }

    // in rounded with quantizer qz and tensor t's streams into a scratch tensor, or in itself
    // when qz rounds nothing (or the pass is exact). Blocks (block-scaled qz) run along each
    // row, or with block_axis::column down the columns (along the batch).
    const tensor* rounded(const quantizer& qz, const tensor& in, scratch_tensor& scratch, tensor_id t,
                          const pass_context& ctx, block_axis axis = block_axis::row) const
    {
        if (ctx.exact || !qz.enabled()) return &in;
        tensor& out = scratch.take(in.rows(), in.cols());
        const stream s = ctx.tensor_stream(layer_, t);
        if (axis == block_axis::row) qz.apply_rows(in, out, s, ctx.threads, ctx.first_row);
        else qz.apply_columns(in, out, s, ctx.threads, ctx.first_row);
        return &out;
    }

    // Q_fw(W) into a scratch tensor, with forward's stream.
    const float* rounded_forward_weight(const parameter_values& w, scratch_tensor& scratch, const pass_context& ctx) const
    {
        tensor& out = scratch.take(in_, out_);
        q_.forward_weight.apply_weight(w.values(), out.values(), out_, block_axis::column,
                                       ctx.tensor_stream(layer_, tensor_id::forward_weight));
        return out.data();
    }

    std::size_t in_, out_;
    std::uint64_t layer_;
    linear_quantization q_;
    parameter weight_, bias_;
    // Kept from forward to backward: x, Q_fi(x) (only when backward reuses it), y; dx of backward.
    tensor x_, xq_, y_, dx_;
    bool forward_x_rounded_ = false;  // whether forward rounded x (Q_fi)
    bool forward_w_rounded_ = false;  // whether forward rounded W (Q_fw)
};

// max(x, 0), elementwise; dx = dy where the forward output was positive, 0 elsewhere.
class relu final : public layer {
public:
    const tensor& forward(const tensor& x, const pass_context&) override
    {
        y_ = x;
        for (float& v : y_.values()) v = v > 0.0f ? v : 0.0f;
        return y_;
    }
    const tensor& backward(const tensor& dy, const pass_context&, bool) override
    {
        require_shape(dy, y_.rows(), y_.cols(), "relu output gradient");
        dx_ = dy;
        for (std::size_t i = 0; i < dx_.size(); ++i)
            if (!(y_.data()[i] > 0.0f)) dx_.data()[i] = 0.0f;
        return dx_;
    }
    std::unique_ptr<layer> clone() const override { return std::make_unique<relu>(*this); }
    std::size_t activation_bytes() const override { return y_.bytes() + dx_.bytes(); }

private:
    tensor y_, dx_;
};

}  // namespace fewbits::nn
