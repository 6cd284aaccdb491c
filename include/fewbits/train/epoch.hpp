// The MLP's training loop over a data set: one epoch of seeded mini-batches (every sample once,
// in an order that depends only on the sampling seed and the epoch), and evaluation in FP32.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "fewbits/data/dataset.hpp"
#include "fewbits/error.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/loss.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/optim/update_in_backward.hpp"
#include "fewbits/train/communicator.hpp"
#include "fewbits/train/exchange_codec.hpp"
#include "fewbits/train/sharded_step.hpp"

namespace fewbits::train {

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
// of batch_size (the last one smaller when batch_size does not divide n); timing: the updates
// after each backward pass or in it (mlp::train_step; the same bits).
template <optim::optimizer O>
epoch_result train_epoch(models::mlp& model, const data::dataset& data, const O& o, std::size_t batch_size,
                         std::uint64_t sampling_seed, std::uint64_t epoch,
                         optim::update_timing timing = optim::update_timing::after_backward)
{
    o.validate();
    data.validate();
    require_batch_size(batch_size, data.size());
    if (data.is_classification() != (model.loss() == nn::loss_kind::softmax_cross_entropy))
        fewbits::raise_invalid_argument(std::string("the model's loss (") +
                                          (model.loss() == nn::loss_kind::softmax_cross_entropy ? "cross-entropy" : "squared error") +
                                          ") does not fit the data set (" +
                                          (data.is_classification() ? "labels" : "regression targets") + ")");
    const auto order = data::epoch_order(data.size(), sampling_seed, epoch);
    data::batch b;
    epoch_result r;
    double loss_sum = 0.0;
    std::size_t correct = 0;
    for (std::size_t start = 0; start < order.size(); start += batch_size) {
        const std::size_t len = std::min(batch_size, order.size() - start);
        data::gather(data, std::span<const std::size_t>(order).subspan(start, len), b);
        const nn::loss_value v = model.train_step(b, o, timing);
        loss_sum += v.sum;
        correct += v.correct;
        ++r.steps;
    }
    r.mean_loss = loss_sum / static_cast<double>(data.size());
    r.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
    return r;
}

// One optimizer step of model on b with its batch cut into shards of equal numbers of samples,
// shared by the processes of comm (train/sharded_step.hpp, docs/distributed.md): each shard's
// gradient is computed as if the shard were a batch of its own, its samples rounded with their
// streams in the whole batch; the same bits for every process count in 1..shards. Returns the
// loss summed over the batch and the correct arg-maxes, as train_step does.
template <optim::optimizer O>
nn::loss_value mlp_sharded_step(models::mlp& model, const data::batch& b, const O& o, std::size_t shards,
                                exchange_format exchange, communicator& comm)
{
    o.validate();
    const std::size_t rows = b.x.rows();
    if (shards == 0 || rows % shards != 0)
        fewbits::raise_invalid_argument("mlp_sharded_step: shards (" + std::to_string(shards) +
                                        ") must divide the batch's samples (" + std::to_string(rows) + ")");
    const std::size_t per = rows / shards;
    const nn::pass_context ctx = model.context();
    data::batch part;
    auto shard = [&](std::size_t k, std::span<double> stats) {
        std::vector<std::size_t> idx(per);
        std::iota(idx.begin(), idx.end(), k * per);
        nn::gather_rows(b.x, idx, part.x);
        if (b.labels.empty())
            nn::gather_rows(b.targets, idx, part.targets);
        else
            part.labels.assign(b.labels.begin() + static_cast<std::ptrdiff_t>(k * per),
                               b.labels.begin() + static_cast<std::ptrdiff_t>((k + 1) * per));
        nn::pass_context at = ctx;
        at.first_row = k * per;
        const nn::loss_value v = model.compute_gradients(part, at);
        stats[0] = v.sum;
        stats[1] = static_cast<double>(v.correct);
    };
    const auto params = model.parameters();
    const std::vector<double> sums = sharded_step(params, shards, exchange, 0.0f, o, ctx, comm, 2, shard);
    model.count_step();
    return {sums[0], static_cast<std::size_t>(sums[1])};
}

struct evaluation {
    double mean_loss = 0.0;
    double accuracy = 0.0;  // classification only
};

// Loss and accuracy of the model on data, in FP32 (no quantizer), batch by batch in order.
inline evaluation evaluate(models::mlp& model, const data::dataset& data, std::size_t batch_size = 256)
{
    data.validate();
    require_batch_size(std::min(batch_size, data.size()), data.size());
    nn::pass_context ctx = model.context();
    ctx.exact = true;
    data::batch b;
    nn::tensor grad;
    std::vector<std::size_t> idx;
    double loss_sum = 0.0;
    std::size_t correct = 0;
    for (std::size_t start = 0; start < data.size(); start += batch_size) {
        const std::size_t len = std::min(batch_size, data.size() - start);
        idx.resize(len);
        std::iota(idx.begin(), idx.end(), start);
        data::gather(data, idx, b);
        const nn::loss_value v = model.loss_of(model.forward(b.x, ctx), b, grad);
        loss_sum += v.sum;
        correct += v.correct;
    }
    return {loss_sum / static_cast<double>(data.size()),
            static_cast<double>(correct) / static_cast<double>(data.size())};
}

}  // namespace fewbits::train
