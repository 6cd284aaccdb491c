// The optimizer in the backward pass: update_in_backward is a gradient sink (nn/layer.hpp) that
// steps each parameter with the optimizer as soon as its gradient is complete and gives the
// gradient's memory back to the scratch pool (nn/scratch.hpp), so a training step never holds
// the gradients of the whole model, only those of the layer being differentiated.
//
// Same bits as updating after the backward pass: a layer reports its parameters only once its
// backward has stopped reading them, no earlier layer reads them, and every update has its own
// stream (pass_context::update_stream) and its own state, so the order of the updates changes
// nothing. What it rules out: anything that needs every gradient before the first update, such
// as clipping by the global gradient norm; training loops refuse that combination.
#pragma once

#include <span>
#include <unordered_set>

#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/optim/optimizer.hpp"

namespace fewbits::optim {

// When a training step updates its parameters.
enum class update_timing {
    after_backward,  // every gradient is computed, then every parameter is updated (the default)
    in_backward,     // each parameter as soon as its gradient is complete (update_in_backward)
};

inline const char* update_timing_name(update_timing t) noexcept
{
    return t == update_timing::in_backward ? "in backward" : "after backward";
}

template <optimizer O>
class update_in_backward final : public nn::gradient_sink {
public:
    // Updates with o under the streams of ctx (its step, seed and generator).
    update_in_backward(const O& o, const nn::pass_context& ctx) : o_(o), ctx_(ctx) { ctx_.gradients = nullptr; }

    void complete(nn::parameter& p) override
    {
        if (!done_.insert(&p).second) return;
        o_.step(p, ctx_.update_stream(p));
        p.release_grad();
    }
    // Updates the parameters of params that no layer reported (a model's own parameters, such
    // as embeddings, whose gradients are complete only at the end of its backward pass).
    void finish(std::span<nn::parameter* const> params)
    {
        for (nn::parameter* p : params) complete(*p);
    }
    std::size_t updated() const noexcept { return done_.size(); }

private:
    const O& o_;
    nn::pass_context ctx_;
    std::unordered_set<const nn::parameter*> done_;
};

}  // namespace fewbits::optim
