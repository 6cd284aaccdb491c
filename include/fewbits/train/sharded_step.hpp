// The part of a sharded training step that does not depend on the model (docs/distributed.md):
// the shards' gradients and statistics summed in the fixed tree of train/shard_tree.hpp over
// the processes of a communicator (train/shard_exchange.hpp), the gradient divided by the
// number of shards, clipped if asked, and every parameter updated. lm_step.hpp (the GPT) and
// epoch.hpp (the MLP) say how a shard's gradient is computed; the bits of the step are the same
// for every process count in 1..shards.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/optim/clip_grad_norm.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/random.hpp"
#include "fewbits/train/communicator.hpp"
#include "fewbits/train/exchange_codec.hpp"
#include "fewbits/train/shard_exchange.hpp"
#include "fewbits/train/shard_tree.hpp"

namespace fewbits::train {

// Stops the step before any update when its loss is not finite.
inline void require_finite_loss(double loss, const nn::pass_context& ctx)
{
    if (std::isfinite(loss)) return;
    fewbits::raise<models::training_error>("fewbits: non-finite loss (" + exact_string(loss) + ") at step " +
                                               std::to_string(ctx.step) + "; training stopped before this step's update",
                                           ctx.step);
}

// shard(k, stats) computes shard k's gradient (the mean over its rows) into the parameters'
// grad() and writes its `stats` statistics (stats[0]: its loss); it is called for this process's
// shards only, in increasing k. Returns the statistics summed over the shards in the tree, the
// same on every process. A non-finite loss sum stops every process before any update.
template <optim::optimizer O, class Shard>
std::vector<double> sharded_step(std::span<nn::parameter* const> params, std::size_t shards, exchange_format exchange,
                                 float clip_grad_norm, const O& o, const nn::pass_context& ctx, communicator& comm,
                                 std::size_t stats, Shard&& shard)
{
    const shard_span mine = shard_range(shards, comm.size(), comm.rank());
    std::size_t n = 0;
    for (const nn::parameter* p : params) n += p->size();
    std::vector<double> own_stats(mine.size() * stats);
    auto shard_gradient = [&](std::size_t k, std::span<float> out) {
        shard(k, std::span(own_stats).subspan((k - mine.begin) * stats, stats));
        auto at = out.begin();
        for (nn::parameter* p : params) at = std::copy(p->grad().values().begin(), p->grad().values().end(), at);
    };
    const stream words = ctx.tensor_stream(0, nn::tensor_key("shard_exchange"));
    const std::vector<float> total = with_exchange_codec(exchange, words, [&](const auto& codec) {
        return sum_shards<float>(comm, shards, n, shard_gradient, codec);
    });
    std::vector<double> sums = sum_shards<double>(comm, shards, stats, [&](std::size_t k, std::span<double> out) {
        const auto from = own_stats.begin() + static_cast<std::ptrdiff_t>((k - mine.begin) * stats);
        std::copy(from, from + static_cast<std::ptrdiff_t>(stats), out.begin());
    });
    require_finite_loss(sums[0], ctx);
    std::size_t at = 0;
    for (nn::parameter* p : params) {
        for (float& g : p->grad().values()) g = total[at++] / static_cast<float>(shards);
    }
    if (clip_grad_norm > 0.0f) (void)optim::clip_grad_norm(params, clip_grad_norm);
    for (nn::parameter* p : params) o.step(*p, ctx.update_stream(*p));
    return sums;
}

}  // namespace fewbits::train
