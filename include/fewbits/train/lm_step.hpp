// One training step of the byte-level GPT (models/gpt.hpp) on a batch of token windows
// (data/text_batch.hpp), the loop body of tiny_gpt and of any program that trains the GPT:
// forward and loss, then the backward pass with the updates after it (optionally clipped by
// the global gradient norm) or in it (optim/update_in_backward.hpp: the same bits, one layer's
// gradients held at a time). A non-finite loss throws training_error before any update.
#pragma once

#include <cmath>
#include <string>

#include "fewbits/data/text_batch.hpp"
#include "fewbits/error.hpp"
#include "fewbits/models/gpt.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/optim/clip_grad_norm.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/optim/update_in_backward.hpp"

namespace fewbits::train {

struct lm_step_options {
    optim::update_timing timing = optim::update_timing::after_backward;
    float clip_grad_norm = 0.0f;  // > 0: clip the global gradient norm to it (after_backward only)

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
    }
};

// One optimizer step of model on b with ctx (its step, seed, threads); returns the mean loss.
template <optim::optimizer O>
double lm_train_step(models::gpt& model, const data::token_batch& b, const O& o, const nn::pass_context& ctx,
                     const lm_step_options& s = {})
{
    o.validate();
    s.validate();
    const double loss = model.forward_loss(b.inputs, b.targets, b.sequences, ctx);
    if (!std::isfinite(loss))
        fewbits::raise<models::training_error>("fewbits: non-finite loss (" + exact_string(loss) + ") at step " +
                                                   std::to_string(ctx.step) + "; training stopped before this step's update",
                                               ctx.step);
    const auto params = model.parameters();
    if (s.timing == optim::update_timing::in_backward) {
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

}  // namespace fewbits::train
