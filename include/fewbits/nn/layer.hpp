// The layer interface of the training library, what one pass gives every layer
// (pass_context: the seed, step and thread count, and the streams of a layer's tensors), and
// the two containers: sequential (layers one after the other) and residual (y = x + f(x)).
//
// A layer has one signature for every kind:
//   forward(x, ctx)                      -> y (kept by the layer until its next forward)
//   backward(dy, ctx, need_input_grad)   -> dx; fills the gradients of its parameters
//   parameters()                         -> its trainable tensors (parameter.hpp), in a fixed order
//   clone()                              -> a deep copy
// dy holds the gradient of every sample's own loss (not divided by the batch size); layers
// average parameter gradients over the rows. A layer may return an empty tensor from backward
// when need_input_grad is false (the first layer of a model).
//
// Streams: the rounding of tensor `key` of layer `layer` at step s uses
// derive(derive(derive({seed}, s), layer), key) (pass_context::tensor_stream), derived once more
// per row (sample, or token of a sequence) for activations and gradients. Layer ids are given to
// layers when they are built (the MLP numbers its linear layers 0, 1, ...); keys are tensor_id
// for the linear layer and tensor_key(name) for everything else (parameter.hpp), so a new layer
// or tensor cannot collide with an existing one.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/random.hpp"

namespace fewbits::nn {

// The stream keys of the linear layer's tensors: the small numbers of the MLP before the layer
// library (its runs keep their bits). New tensors use tensor_key(name).
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

// Receives each parameter once its gradient of a backward pass is complete: no layer still to
// run in that pass reads the parameter or its gradient. An optimizer that updates in the
// backward pass (optim/update_in_backward.hpp) is one; a parameter may be reported more than
// once (by a container and by the container around it), so a sink ignores repeats.
class gradient_sink {
public:
    virtual ~gradient_sink() = default;
    virtual void complete(parameter& p) = 0;

protected:
    gradient_sink() = default;
    gradient_sink(const gradient_sink&) = default;
    gradient_sink& operator=(const gradient_sink&) = default;
};

// What one forward/backward pass needs to know besides the data.
struct pass_context {
    std::uint64_t seed = 0;      // the run's rounding seed
    std::uint64_t step = 0;      // the optimizer step (or diagnostic draw) this pass belongs to
    bool exact = false;          // true: every quantizer is skipped (the FP32 reference pass)
    unsigned threads = 1;
    generator rng = generator::counter_hash;
    gradient_sink* gradients = nullptr;  // told of every complete gradient in backward (or none)
    // The index of this pass's first row in the step's whole batch: a micro-batch of an
    // accumulated step rounds its rows with the streams they have in the whole batch.
    std::size_t first_row = 0;

    stream tensor_stream(std::uint64_t layer, std::uint64_t key) const
    {
        return derive(derive(derive(stream{seed, 0, rng}, step), layer), key);
    }
    stream tensor_stream(std::uint64_t layer, tensor_id t) const
    {
        return tensor_stream(layer, static_cast<std::uint64_t>(t));
    }
    // The stream of a parameter's update at this step.
    stream update_stream(const parameter& p) const { return tensor_stream(p.layer(), p.key()); }
};

class layer {
public:
    virtual ~layer() = default;
    virtual const tensor& forward(const tensor& x, const pass_context& ctx) = 0;
    virtual const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) = 0;
    virtual std::vector<parameter*> parameters() { return {}; }
    virtual std::unique_ptr<layer> clone() const = 0;
    // Bytes of the tensors the layer keeps between calls (saved for backward, its outputs):
    // its activation memory (nn/memory.hpp).
    virtual std::size_t activation_bytes() const { return 0; }
    // Gives back the memory of the input gradient the last backward returned, once the caller
    // has used it (containers call it as soon as the layer before has read it).
    virtual void release_input_gradient() {}

protected:
    layer() = default;
    layer(const layer&) = default;
    layer& operator=(const layer&) = default;
};

// Tells ctx's gradient sink (if any) that the gradients of l's parameters are complete: call it
// once l's backward has returned (it no longer reads its parameters).
inline void report_gradients(layer& l, const pass_context& ctx)
{
    if (ctx.gradients == nullptr) return;
    for (parameter* p : l.parameters()) ctx.gradients->complete(*p);
}

// Layers applied in order; backward runs them in reverse, asking the first one for an input
// gradient only when the caller needs it, and reports each layer's gradients as complete
// (report_gradients) as soon as that layer is done.
class sequential final : public layer {
public:
    sequential() = default;
    sequential(const sequential& o) : layer(o)
    {
        for (const auto& l : o.layers_) layers_.push_back(l->clone());
    }
    sequential& operator=(const sequential& o)
    {
        if (this != &o) *this = sequential(o);
        return *this;
    }
    sequential(sequential&&) noexcept = default;
    sequential& operator=(sequential&&) noexcept = default;

    // Appends l and returns it.
    template <class L>
        requires std::derived_from<L, layer>
    L& add(L l)
    {
        auto owned = std::make_unique<L>(std::move(l));
        L& ref = *owned;
        layers_.push_back(std::move(owned));
        return ref;
    }
    layer& add(std::unique_ptr<layer> l)
    {
        if (!l) fewbits::raise_invalid_argument("sequential::add needs a layer, got nullptr");
        layers_.push_back(std::move(l));
        return *layers_.back();
    }

    std::size_t size() const noexcept { return layers_.size(); }
    layer& operator[](std::size_t i) noexcept { return *layers_[i]; }
    const layer& operator[](std::size_t i) const noexcept { return *layers_[i]; }

    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        const tensor* h = &x;
        for (auto& l : layers_) h = &l->forward(*h, ctx);
        return *h;
    }
    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        const tensor* g = &dy;
        for (std::size_t i = layers_.size(); i-- > 0;) {
            g = &layers_[i]->backward(*g, ctx, i > 0 || need_input_grad);
            report_gradients(*layers_[i], ctx);
            if (i + 1 < layers_.size()) layers_[i + 1]->release_input_gradient();  // read by layer i
        }
        return *g;
    }
    std::vector<parameter*> parameters() override
    {
        std::vector<parameter*> all;
        for (auto& l : layers_) {
            const auto p = l->parameters();
            all.insert(all.end(), p.begin(), p.end());
        }
        return all;
    }
    std::unique_ptr<layer> clone() const override { return std::make_unique<sequential>(*this); }
    std::size_t activation_bytes() const override
    {
        std::size_t n = 0;
        for (const auto& l : layers_) n += l->activation_bytes();
        return n;
    }
    void release_input_gradient() override
    {
        if (!layers_.empty()) layers_.front()->release_input_gradient();
    }

private:
    std::vector<std::unique_ptr<layer>> layers_;
};

// y = x + f(x) for an inner layer f whose output has the shape of its input;
// dx = dy + (the input gradient of f for dy).
class residual final : public layer {
public:
    explicit residual(std::unique_ptr<layer> inner) : inner_(std::move(inner))
    {
        if (!inner_) fewbits::raise_invalid_argument("residual needs an inner layer, got nullptr");
    }
    template <class L>
        requires std::derived_from<L, layer>
    explicit residual(L inner) : inner_(std::make_unique<L>(std::move(inner)))
    {
    }
    residual(const residual& o) : layer(o), inner_(o.inner_->clone()), y_(o.y_), dx_(o.dx_) {}
    residual& operator=(const residual& o)
    {
        if (this != &o) *this = residual(o);
        return *this;
    }
    residual(residual&&) noexcept = default;
    residual& operator=(residual&&) noexcept = default;

    layer& inner() noexcept { return *inner_; }

    const tensor& forward(const tensor& x, const pass_context& ctx) override
    {
        const tensor& f = inner_->forward(x, ctx);
        require_shape(f, x.rows(), x.cols(), "residual inner output");
        y_ = x;
        for (std::size_t i = 0; i < y_.size(); ++i) y_.data()[i] += f.data()[i];
        return y_;
    }
    const tensor& backward(const tensor& dy, const pass_context& ctx, bool need_input_grad) override
    {
        const tensor& df = inner_->backward(dy, ctx, need_input_grad);
        dx_.resize(0, 0);
        if (!need_input_grad) return dx_;
        require_shape(df, dy.rows(), dy.cols(), "residual inner input gradient");
        scratch_pool::shared().reshape(dx_, dy.rows(), dy.cols());
        dx_.set_groups(dy.groups());
        for (std::size_t i = 0; i < dx_.size(); ++i) dx_.data()[i] = dy.data()[i] + df.data()[i];
        inner_->release_input_gradient();
        return dx_;
    }
    std::vector<parameter*> parameters() override { return inner_->parameters(); }
    std::unique_ptr<layer> clone() const override { return std::make_unique<residual>(*this); }
    std::size_t activation_bytes() const override { return inner_->activation_bytes() + y_.bytes() + dx_.bytes(); }
    void release_input_gradient() override { scratch_pool::shared().give(dx_); }

private:
    std::unique_ptr<layer> inner_;
    tensor y_, dx_;
};

}  // namespace fewbits::nn
