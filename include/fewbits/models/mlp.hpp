// The multi-layer perceptron: a sequential container (nn/layer.hpp) of linear layers with ReLU
// between them, a loss, and its training step (an optimizer step of SGD, momentum, AdamW or any
// type meeting optim::optimizer on one mini-batch). The epoch loop and evaluation: train/epoch.hpp.
//
// A model carries its rounding seed and its step counter, so that every rounding of a
// training run is named by (seed, step, layer, tensor, sample) and the run is reproducible
// bit for bit, with any number of threads. A non-finite loss stops training with
// training_error naming the step, before that step changes any weight.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fewbits/data/dataset.hpp"
#include "fewbits/error.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/linear.hpp"
#include "fewbits/nn/loss.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/optim/update_in_backward.hpp"

namespace fewbits::models {

struct mlp_options {
    std::vector<std::size_t> sizes;                   // {inputs, hidden..., outputs}: at least 2 entries
    nn::loss_kind loss = nn::loss_kind::softmax_cross_entropy;
    nn::weight_storage weights = nn::weight_storage::fp32();  // how every weight and bias is stored
    // One entry for every linear layer, or a single entry used by all of them.
    std::vector<nn::linear_quantization> quantization = {nn::linear_quantization{}};
    std::uint64_t init_seed = 1;  // initial weights
    std::uint64_t seed = 1;       // rounding
    unsigned threads = 1;
    generator rng = generator::counter_hash;
};

// Thrown when training meets a non-finite loss; step() is the optimizer step that failed.
class training_error : public std::runtime_error {
public:
    training_error(const std::string& what, std::uint64_t step) : std::runtime_error(what), step_(step) {}
    std::uint64_t step() const noexcept { return step_; }

private:
    std::uint64_t step_;
};

// The layers of type L of a container, seen as references (for (linear& l : model.layers())).
// A small view of its own: clang 14 cannot compile libstdc++ 12's <ranges>.
template <class L>
class layer_refs {
public:
    template <class P>
    explicit layer_refs(const std::vector<P*>& pointers) noexcept : first_(pointers.data()), size_(pointers.size())
    {
    }
    class iterator {
    public:
        using pointer_type = std::conditional_t<std::is_const_v<L>, const std::remove_const_t<L>* const*, L* const*>;
        explicit iterator(pointer_type p) noexcept : p_(p) {}
        L& operator*() const noexcept { return **p_; }
        iterator& operator++() noexcept
        {
            ++p_;
            return *this;
        }
        bool operator==(const iterator&) const = default;

    private:
        pointer_type p_;
    };
    iterator begin() const noexcept { return iterator(first_); }
    iterator end() const noexcept { return iterator(first_ + size_); }
    std::size_t size() const noexcept { return size_; }
    L& operator[](std::size_t i) const noexcept { return *first_[i]; }
    L& front() const noexcept { return *first_[0]; }
    L& back() const noexcept { return *first_[size_ - 1]; }

private:
    typename iterator::pointer_type first_;
    std::size_t size_;
};

class mlp {
public:
    explicit mlp(const mlp_options& o) : loss_(o.loss), seed_(o.seed), threads_(o.threads), rng_(o.rng)
    {
        if (o.sizes.size() < 2)
            fewbits::raise_invalid_argument("mlp_options.sizes needs at least 2 entries (inputs, outputs), got " +
                                              std::to_string(o.sizes.size()));
        const std::size_t n_linear = o.sizes.size() - 1;
        if (o.quantization.size() != 1 && o.quantization.size() != n_linear)
            fewbits::raise_invalid_argument(std::string("mlp_options.quantization needs 1 or ") + std::to_string(n_linear) +
                                              " entries, got " + std::to_string(o.quantization.size()));
        if (o.threads == 0) fewbits::raise_invalid_argument("mlp_options.threads must be at least 1, got 0");
        // The linear layers keep the ids 0, 1, ... of the MLP before the layer library, so that
        // its runs keep their bits; ReLU rounds nothing and needs no id.
        for (std::size_t l = 0; l < n_linear; ++l) {
            net_.add(nn::linear(o.sizes[l], o.sizes[l + 1], l, o.weights, o.quantization[o.quantization.size() == 1 ? 0 : l],
                            o.init_seed));
            if (l + 1 < n_linear) net_.add(nn::relu());
        }
        find_linears();
    }
    mlp(const mlp& o)
        : net_(o.net_), loss_(o.loss_), seed_(o.seed_), threads_(o.threads_), rng_(o.rng_), step_(o.step_), grad_(o.grad_)
    {
        find_linears();
    }
    mlp& operator=(const mlp& o)
    {
        if (this != &o) *this = mlp(o);
        return *this;
    }
    mlp(mlp&&) noexcept = default;
    mlp& operator=(mlp&&) noexcept = default;

    std::size_t inputs() const noexcept { return linears_.front()->inputs(); }
    std::size_t outputs() const noexcept { return linears_.back()->outputs(); }
    nn::loss_kind loss() const noexcept { return loss_; }
    std::uint64_t step() const noexcept { return step_; }
    // The model's counters for a checkpoint (io/checkpoint.hpp): its step as "mlp.step". Restoring
    // them continues a run at that step, so that the next step draws the roundings it would have.
    std::map<std::string, std::uint64_t> counters() const { return {{"mlp.step", step_}}; }
    void set_counters(const std::map<std::string, std::uint64_t>& c) { step_ = c.at("mlp.step"); }
    std::uint64_t seed() const noexcept { return seed_; }
    unsigned threads() const noexcept { return threads_; }
    void set_threads(unsigned t)
    {
        if (t == 0) fewbits::raise_invalid_argument("threads must be at least 1, got 0");
        threads_ = t;
    }
    // The linear layers, in order, as a range of linear& (indexable, with size, front, back).
    layer_refs<nn::linear> layers() noexcept { return layer_refs<nn::linear>(linears_); }
    layer_refs<const nn::linear> layers() const noexcept { return layer_refs<const nn::linear>(linears_); }
    // The whole network: linear, relu, linear, ..., linear.
    nn::sequential& network() noexcept { return net_; }
    std::vector<nn::parameter*> parameters() { return net_.parameters(); }

    // The context of the next training step.
    nn::pass_context context() const { return nn::pass_context{seed_, step_, false, threads_, rng_}; }

    const nn::tensor& forward(const nn::tensor& x, const nn::pass_context& ctx)
    {
        nn::require_cols(x, inputs(), "mlp input");
        return net_.forward(x, ctx);
    }

    // Forward, loss, backward: fills every layer's gradients. Returns the batch's loss sum.
    nn::loss_value compute_gradients(const data::batch& b, const nn::pass_context& ctx)
    {
        const nn::tensor& out = forward(b.x, ctx);
        const nn::loss_value v = loss_of(out, b, grad_);
        net_.backward(grad_, ctx, false);
        return v;
    }

    // Every gradient (weights then bias, layer by layer) in one vector.
    std::vector<float> flat_gradient() const
    {
        std::vector<float> g;
        for (const nn::linear* layer : linears_) {
            g.insert(g.end(), layer->weight_grad().values().begin(), layer->weight_grad().values().end());
            g.insert(g.end(), layer->bias_grad().values().begin(), layer->bias_grad().values().end());
        }
        return g;
    }
    // Every parameter in the same order.
    std::vector<float> flat_parameters() const
    {
        std::vector<float> p;
        for (const nn::linear* layer : linears_) {
            const nn::tensor w = layer->weight(), b = layer->bias();
            p.insert(p.end(), w.values().begin(), w.values().end());
            p.insert(p.end(), b.values().begin(), b.values().end());
        }
        return p;
    }

    // One optimizer step on batch b, the updates after the backward pass or in it (the same
    // bits; in_backward holds one layer's gradients at a time). Throws training_error (nothing
    // updated) on a non-finite loss.
    template <optim::optimizer O>
    nn::loss_value train_step(const data::batch& b, const O& o,
                              optim::update_timing timing = optim::update_timing::after_backward)
    {
        o.validate();
        nn::pass_context ctx = context();
        const nn::tensor& out = forward(b.x, ctx);
        const nn::loss_value v = loss_of(out, b, grad_);
        if (!std::isfinite(v.sum))
            fewbits::raise<training_error>(std::string("fewbits: non-finite loss (") + exact_string(v.sum) +
                                                       ") at step " + std::to_string(step_) +
                                                       "; training stopped before this step's update",
                                                   step_);
        if (timing == optim::update_timing::in_backward) {
            optim::update_in_backward<O> sink(o, ctx);
            ctx.gradients = &sink;
            net_.backward(grad_, ctx, false);
            sink.finish(net_.parameters());
        } else {
            net_.backward(grad_, ctx, false);
            for (nn::parameter* p : net_.parameters()) o.step(*p, ctx.update_stream(*p));
        }
        ++step_;
        return v;
    }

    // Counts a step whose update was taken outside train_step (train/epoch.hpp's sharded step),
    // so that the next step draws its own roundings.
    void count_step() noexcept { ++step_; }

    nn::loss_value loss_of(const nn::tensor& out, const data::batch& b, nn::tensor& grad) const
    {
        return loss_ == nn::loss_kind::softmax_cross_entropy ? nn::softmax_cross_entropy(out, b.labels, grad)
                                                         : nn::squared_error(out, b.targets, grad);
    }

private:
    void find_linears()
    {
        linears_.clear();
        for (std::size_t i = 0; i < net_.size(); ++i)
            if (auto* l = dynamic_cast<nn::linear*>(&net_[i])) linears_.push_back(l);
    }

    nn::sequential net_;
    std::vector<nn::linear*> linears_;  // the linear layers of net_
    nn::loss_kind loss_;
    std::uint64_t seed_;
    unsigned threads_;
    generator rng_;
    std::uint64_t step_ = 0;
    nn::tensor grad_;
};

}  // namespace fewbits::models
