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
#pragma once

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
#include "fewbits/train/gradient_accumulator.hpp"

namespace fewbits::train {

struct lm_step_options {
    optim::update_timing timing = optim::update_timing::after_backward;
    float clip_grad_norm = 0.0f;  // > 0: clip the global gradient norm to it (after_backward only)
    std::size_t accumulate = 1;   // micro-batches per step (they must divide the batch's sequences)

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

}  // namespace detail

// One optimizer step of model on b with ctx (its step, seed, threads); returns the mean loss over
// the whole batch. acc keeps the sums between micro-batches (needed when s.accumulate > 1; a
// caller that keeps one across steps reuses its memory).
template <optim::optimizer O>
double lm_train_step(models::gpt& model, const data::token_batch& b, const O& o, const nn::pass_context& ctx,
                     const lm_step_options& s = {}, gradient_accumulator* acc = nullptr)
{
    o.validate();
    s.validate();
    auto check = [&](double loss) {
        if (std::isfinite(loss)) return;
        if (acc != nullptr) acc->clear();  // no half-summed step carries over
        fewbits::raise<models::training_error>("fewbits: non-finite loss (" + exact_string(loss) + ") at step " +
                                                       std::to_string(ctx.step) +
                                                       "; training stopped before this step's update",
                                                   ctx.step);
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
