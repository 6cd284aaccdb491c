// One training step of the byte-level GPT (models/gpt.hpp) on a batch of token windows
// (data/text_batch.hpp), the loop body of tiny_gpt and of any program that trains the GPT:
// forward and loss, then the backward pass with the updates after it (optionally clipped by
// the global gradient norm) or in it (optim/update_in_backward.hpp: the same bits, one layer's
// gradients held at a time). A non-finite loss throws training_error before any update.
//
// With accumulate = K > 1 the batch is cut into K micro-batches of equal numbers of sequences,
// run one after the other (activations of one micro-batch at a time); each parameter's
// micro-batch gradient is added to a gradient_accumulator (train/gradient_accumulator.hpp) with
// weight 1/K as soon as it is complete and its memory given back, and the update of the step
// reads the sum (in the backward pass of the last micro-batch, or after it). Every micro-batch
// rounds its rows with the streams they have in the whole batch (pass_context::first_row).
//
// With shards = S > 1 the batch is cut into S shards of equal numbers of sequences, shared by
// the processes of a communicator (train/communicator.hpp; one process without one): each
// shard's gradient is computed as if the shard were a batch of its own (its rows rounded with
// their streams in the whole batch), and the S gradients and losses are added in the fixed
// tree of train/shard_tree.hpp (exchanged by train/shard_exchange.hpp) and divided by S, so
// every process count in 1..S gives the same bits (docs/distributed.md). Every process then
// takes the same update (clipping included) on its own copy of the model and optimizer state.
// Shards are the unit of the step: they do not combine with accumulate (which cuts the batch
// too, in another order) nor with updates in the backward pass (a gradient is complete only
// after the exchange). exchange sends the shards' gradients rounded (exchange_format,
// train/exchange_codec.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "fewbits/data/text_batch.hpp"
#include "fewbits/error.hpp"
#include "fewbits/models/gpt.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/optim/clip_grad_norm.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/optim/update_in_backward.hpp"
#include "fewbits/random.hpp"
#include "fewbits/train/communicator.hpp"
#include "fewbits/train/exchange_codec.hpp"
#include "fewbits/train/gradient_accumulator.hpp"
#include "fewbits/train/shard_exchange.hpp"
#include "fewbits/train/sharded_step.hpp"

namespace fewbits::train {

struct lm_step_options {
    optim::update_timing timing = optim::update_timing::after_backward;
    float clip_grad_norm = 0.0f;  // > 0: clip the global gradient norm to it (after_backward only)
    std::size_t accumulate = 1;   // micro-batches per step (they must divide the batch's sequences)
    std::size_t shards = 1;       // S: gradients per step combined in a fixed tree (divide the sequences)
    exchange_format exchange = exchange_format::fp32;  // the shards' gradients as they travel (shards > 1)

    void validate() const
    {
        if (clip_grad_norm != 0.0f && (!(clip_grad_norm > 0.0f) || !std::isfinite(clip_grad_norm)))
            fewbits::raise_invalid_argument("lm_step_options.clip_grad_norm must be 0 (off) or positive and finite, got " +
                                            exact_string(clip_grad_norm));
        if (clip_grad_norm > 0.0f && timing == optim::update_timing::in_backward)
            fewbits::raise_invalid_argument(
                "lm_step_options: clip_grad_norm (" + exact_string(clip_grad_norm) +
                ") needs every gradient before the first update, which updates in the backward pass never have; "
                "use timing = after_backward to clip");
        if (accumulate == 0) fewbits::raise_invalid_argument("lm_step_options.accumulate must be at least 1, got 0");
        if (shards == 0) fewbits::raise_invalid_argument("lm_step_options.shards must be at least 1, got 0");
        if (shards > 1 && accumulate > 1)
            fewbits::raise_invalid_argument("lm_step_options: shards (" + std::to_string(shards) + ") and accumulate (" +
                                            std::to_string(accumulate) +
                                            ") both cut the batch; use shards alone (each shard is computed on its own)");
        if (exchange != exchange_format::fp32 && shards < 2)
            fewbits::raise_invalid_argument(std::string("lm_step_options.exchange = ") + exchange_format_name(exchange) +
                                            " rounds the shards' gradients, which needs shards > 1, got shards = " +
                                            std::to_string(shards));
        if (shards > 1 && timing == optim::update_timing::in_backward)
            fewbits::raise_invalid_argument("lm_step_options: shards (" + std::to_string(shards) +
                                            ") complete a gradient only after every shard's is added, which updates in "
                                            "the backward pass cannot wait for; use timing = after_backward");
    }
};

namespace detail {

// Folds each complete gradient of micro-batch k into the accumulator; in the last micro-batch it
// then puts the sum back into the parameter's gradient and, when updating in the backward pass,
// steps the optimizer at once.
template <optim::optimizer O>
class accumulating_sink final : public nn::gradient_sink {
public:
    accumulating_sink(gradient_accumulator& acc, const O& o, const nn::pass_context& ctx, std::size_t k,
                      std::size_t count, bool update_now)
        : acc_(acc), o_(o), ctx_(ctx), k_(k), weight_(1.0f / static_cast<float>(count)), last_(k + 1 == count),
          update_now_(update_now)
    {
        ctx_.gradients = nullptr;
    }
    void complete(nn::parameter& p) override
    {
        if (!done_.insert(&p).second) return;
        acc_.add(p, weight_, derive(derive(ctx_.update_stream(p), nn::tensor_key("gradient_accumulator")), k_));
        if (!last_) {
            p.release_grad();
            return;
        }
        acc_.take(p);
        if (update_now_) {
            o_.step(p, ctx_.update_stream(p));
            p.release_grad();
        }
    }
    void finish(std::span<nn::parameter* const> params)
    {
        for (nn::parameter* p : params) complete(*p);
    }

private:
    gradient_accumulator& acc_;
    const O& o_;
    nn::pass_context ctx_;
    std::size_t k_;
    float weight_;
    bool last_, update_now_;
    std::unordered_set<const nn::parameter*> done_;
};

// The step with s.shards shards shared by the processes of comm (see the top of this file):
// each process computes its shards, and train/sharded_step.hpp sums the shards' gradients and
// losses in the fixed tree on every process; each one then takes the update. A non-finite loss
// stops every process at the same point, after the exchange.
template <optim::optimizer O>
double lm_sharded_step(models::gpt& model, const data::token_batch& b, const O& o, const nn::pass_context& ctx,
                       const lm_step_options& s, communicator& comm)
{
    const std::size_t shards = s.shards;
    if (b.sequences % shards != 0)
        fewbits::raise_invalid_argument("lm_step_options.shards (" + std::to_string(shards) +
                                        ") must divide the batch's sequences (" + std::to_string(b.sequences) + ")");
    const auto params = model.parameters();
    const std::size_t per = b.sequences / shards, tokens = per * (b.inputs.size() / b.sequences);
    auto shard_loss = [&](std::size_t k, std::span<double> loss) {
        nn::pass_context shard = ctx;
        shard.first_row = k * tokens;
        loss[0] = model.forward_loss(std::span(b.inputs).subspan(k * tokens, tokens),
                                     std::span(b.targets).subspan(k * tokens, tokens), per, shard);
        model.backward(shard);
    };
    return sharded_step(params, shards, s.exchange, s.clip_grad_norm, o, ctx, comm, 1, shard_loss)[0] /
           static_cast<double>(shards);
}

}  // namespace detail

// One optimizer step of model on b with ctx (its step, seed, threads); returns the mean loss over
// the whole batch. acc keeps the sums between micro-batches (needed when s.accumulate > 1; a
// caller that keeps one across steps reuses its memory). comm: the processes that share the
// shards of s.shards > 1 (nullptr: this process alone); every process must call the step with
// the same model state, batch and options.
template <optim::optimizer O>
double lm_train_step(models::gpt& model, const data::token_batch& b, const O& o, const nn::pass_context& ctx,
                     const lm_step_options& s = {}, gradient_accumulator* acc = nullptr, communicator* comm = nullptr)
{
    o.validate();
    s.validate();
    if (s.shards > 1 || (comm != nullptr && comm->size() > 1)) {
        single_process alone;
        return detail::lm_sharded_step(model, b, o, ctx, s, comm != nullptr ? *comm : alone);
    }
    auto check = [&](double loss) {
        if (std::isfinite(loss)) return;
        if (acc != nullptr) acc->clear();  // no half-summed step carries over
        require_finite_loss(loss, ctx);
    };
    const auto params = model.parameters();
    const bool now = s.timing == optim::update_timing::in_backward;
    if (s.accumulate == 1) {
        const double loss = model.forward_loss(b.inputs, b.targets, b.sequences, ctx);
        check(loss);
        if (now) {
            optim::update_in_backward<O> sink(o, ctx);
            nn::pass_context with_sink = ctx;
            with_sink.gradients = &sink;
            model.backward(with_sink);
            sink.finish(params);
            return loss;
        }
        model.backward(ctx);
        if (s.clip_grad_norm > 0.0f) (void)optim::clip_grad_norm(params, s.clip_grad_norm);
        for (nn::parameter* p : params) o.step(*p, ctx.update_stream(*p));
        return loss;
    }
    if (b.sequences % s.accumulate != 0)
        fewbits::raise_invalid_argument("lm_step_options.accumulate (" + std::to_string(s.accumulate) +
                                        ") must divide the batch's sequences (" + std::to_string(b.sequences) + ")");
    if (acc == nullptr)
        fewbits::raise_invalid_argument("lm_train_step: accumulate = " + std::to_string(s.accumulate) +
                                        " needs a gradient_accumulator, got nullptr");
    const std::size_t per = b.sequences / s.accumulate, tokens = per * (b.inputs.size() / b.sequences);
    double loss = 0.0;
    for (std::size_t k = 0; k < s.accumulate; ++k) {
        nn::pass_context micro = ctx;
        micro.first_row = k * tokens;
        const std::span<const std::int32_t> in = std::span(b.inputs).subspan(k * tokens, tokens);
        const std::span<const std::int32_t> tg = std::span(b.targets).subspan(k * tokens, tokens);
        const double l = model.forward_loss(in, tg, per, micro);
        check(l);
        loss += l;
        detail::accumulating_sink<O> sink(*acc, o, micro, k, s.accumulate, now);
        micro.gradients = &sink;
        model.backward(micro);
        sink.finish(params);
    }
    loss /= static_cast<double>(s.accumulate);
    if (now) return loss;
    if (s.clip_grad_norm > 0.0f) (void)optim::clip_grad_norm(params, s.clip_grad_norm);
    for (nn::parameter* p : params) o.step(*p, ctx.update_stream(*p));
    return loss;
}

}  // namespace fewbits::train
