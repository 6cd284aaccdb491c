// The multi-layer perceptron and its training loop: linear layers with ReLU between them,
// a loss, SGD steps over seeded mini-batches, evaluation.
//
// A model carries its rounding seed and its step counter, so that every rounding of a
// training run is named by (seed, step, layer, tensor, sample) and the run is reproducible
// bit for bit, with any number of threads. A non-finite loss stops training with
// training_error naming the step, before that step changes any weight.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/sgd/data.hpp"
#include "fewbits/sgd/linear.hpp"
#include "fewbits/sgd/loss.hpp"

namespace fewbits::sgd {

struct mlp_options {
    std::vector<std::size_t> sizes;                   // {inputs, hidden..., outputs}: at least 2 entries
    loss_kind loss = loss_kind::softmax_cross_entropy;
    weight_storage weights = weight_storage::fp32();  // how every weight and bias is stored
    // One entry for every linear layer, or a single entry used by all of them.
    std::vector<linear_quantization> quantization = {linear_quantization{}};
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
        for (std::size_t l = 0; l < n_linear; ++l)
            layers_.emplace_back(o.sizes[l], o.sizes[l + 1], l, o.weights,
                                 o.quantization[o.quantization.size() == 1 ? 0 : l], o.init_seed);
        relus_.resize(n_linear - 1);
    }

    std::size_t inputs() const noexcept { return layers_.front().inputs(); }
    std::size_t outputs() const noexcept { return layers_.back().outputs(); }
    loss_kind loss() const noexcept { return loss_; }
    std::uint64_t step() const noexcept { return step_; }
    std::uint64_t seed() const noexcept { return seed_; }
    unsigned threads() const noexcept { return threads_; }
    void set_threads(unsigned t)
    {
        if (t == 0) fewbits::raise_invalid_argument("threads must be at least 1, got 0");
        threads_ = t;
    }
    std::vector<linear>& layers() noexcept { return layers_; }
    const std::vector<linear>& layers() const noexcept { return layers_; }

    // The context of the next training step.
    pass_context context() const { return pass_context{seed_, step_, false, threads_, rng_}; }

    const tensor& forward(const tensor& x, const pass_context& ctx)
    {
        require_cols(x, inputs(), "mlp input");
        const tensor* h = &x;
        for (std::size_t l = 0; l < layers_.size(); ++l) {
            h = &layers_[l].forward(*h, ctx);
            if (l + 1 < layers_.size()) h = &relus_[l].forward(*h);
        }
        return *h;
    }

    // Forward, loss, backward: fills every layer's gradients. Returns the batch's loss sum.
    loss_value compute_gradients(const batch& b, const pass_context& ctx)
    {
        const tensor& out = forward(b.x, ctx);
        const loss_value v = loss_of(out, b, grad_);
        const tensor* g = &grad_;
        for (std::size_t l = layers_.size(); l-- > 0;) {
            g = &layers_[l].backward(*g, ctx, l > 0);
            if (l > 0) g = &relus_[l - 1].backward(*g);
        }
        return v;
    }

    // Every gradient (weights then bias, layer by layer) in one vector.
    std::vector<float> flat_gradient() const
    {
        std::vector<float> g;
        for (const auto& layer : layers_) {
            g.insert(g.end(), layer.weight_grad().values().begin(), layer.weight_grad().values().end());
            g.insert(g.end(), layer.bias_grad().values().begin(), layer.bias_grad().values().end());
        }
        return g;
    }
    // Every parameter in the same order.
    std::vector<float> flat_parameters() const
    {
        std::vector<float> p;
        for (const auto& layer : layers_) {
            p.insert(p.end(), layer.weight().values().begin(), layer.weight().values().end());
            p.insert(p.end(), layer.bias().values().begin(), layer.bias().values().end());
        }
        return p;
    }

    // One SGD step on batch b. Throws training_error (nothing updated) on a non-finite loss.
    loss_value train_step(const batch& b, const sgd_options& o)
    {
        o.validate();
        const pass_context ctx = context();
        const loss_value v = compute_gradients(b, ctx);
        if (!std::isfinite(v.sum))
            fewbits::raise<training_error>(std::string("fewbits: non-finite loss (") + exact_string(v.sum) +
                                                       ") at step " + std::to_string(step_) +
                                                       "; training stopped before this step's update",
                                                   step_);
        for (auto& layer : layers_) layer.update(o, ctx);
        ++step_;
        return v;
    }

    loss_value loss_of(const tensor& out, const batch& b, tensor& grad) const
    {
        return loss_ == loss_kind::softmax_cross_entropy ? softmax_cross_entropy(out, b.labels, grad)
                                                         : squared_error(out, b.targets, grad);
    }

private:
    std::vector<linear> layers_;
    std::vector<relu> relus_;
    loss_kind loss_;
    std::uint64_t seed_;
    unsigned threads_;
    generator rng_;
    std::uint64_t step_ = 0;
    tensor grad_;
};

inline void require_batch_size(std::size_t batch_size, std::size_t n)
{
    if (batch_size == 0 || batch_size > n)
        fewbits::raise_invalid_argument(std::string("batch_size must be in 1..") + std::to_string(n) + " (the data set size), got " +
                                          std::to_string(batch_size));
}

struct epoch_result {
    double mean_loss = 0.0;  // mean over the samples of the epoch, each seen once
    double accuracy = 0.0;   // classification only: fraction of correct arg-max during training
    std::size_t steps = 0;
};

// One epoch: every sample once, in the order epoch_order(n, sampling_seed, epoch), in batches
// of batch_size (the last one smaller when batch_size does not divide n).
inline epoch_result train_epoch(mlp& model, const dataset& data, const sgd_options& o, std::size_t batch_size,
                                std::uint64_t sampling_seed, std::uint64_t epoch)
{
    o.validate();
    data.validate();
    require_batch_size(batch_size, data.size());
    if (data.is_classification() != (model.loss() == loss_kind::softmax_cross_entropy))
        fewbits::raise_invalid_argument(std::string("the model's loss (") +
                                          (model.loss() == loss_kind::softmax_cross_entropy ? "cross-entropy" : "squared error") +
                                          ") does not fit the data set (" +
                                          (data.is_classification() ? "labels" : "regression targets") + ")");
    const auto order = epoch_order(data.size(), sampling_seed, epoch);
    batch b;
    epoch_result r;
    double loss_sum = 0.0;
    std::size_t correct = 0;
    for (std::size_t start = 0; start < order.size(); start += batch_size) {
        const std::size_t len = std::min(batch_size, order.size() - start);
        gather(data, std::span<const std::size_t>(order).subspan(start, len), b);
        const loss_value v = model.train_step(b, o);
        loss_sum += v.sum;
        correct += v.correct;
        ++r.steps;
    }
    r.mean_loss = loss_sum / static_cast<double>(data.size());
    r.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
    return r;
}

struct evaluation {
    double mean_loss = 0.0;
    double accuracy = 0.0;  // classification only
};

// Loss and accuracy of the model on data, in FP32 (no quantizer), batch by batch in order.
inline evaluation evaluate(mlp& model, const dataset& data, std::size_t batch_size = 256)
{
    data.validate();
    require_batch_size(std::min(batch_size, data.size()), data.size());
    pass_context ctx = model.context();
    ctx.exact = true;
    batch b;
    tensor grad;
    std::vector<std::size_t> idx;
    double loss_sum = 0.0;
    std::size_t correct = 0;
    for (std::size_t start = 0; start < data.size(); start += batch_size) {
        const std::size_t len = std::min(batch_size, data.size() - start);
        idx.resize(len);
        std::iota(idx.begin(), idx.end(), start);
        gather(data, idx, b);
        const loss_value v = model.loss_of(model.forward(b.x, ctx), b, grad);
        loss_sum += v.sum;
        correct += v.correct;
    }
    return {loss_sum / static_cast<double>(data.size()),
            static_cast<double>(correct) / static_cast<double>(data.size())};
}

}  // namespace fewbits::sgd
