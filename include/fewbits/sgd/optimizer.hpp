// The optimizers of the SGD layer: plain SGD and momentum (sgd_options) and AdamW
// (adamw_optimizer), each stepping one parameter at a time in any storage, by calling the
// storage's kernels (sgd_update, sgd_momentum_update, adamw_update): no update arithmetic or
// rounding lives here except SGD's L2 term. An optimizer is any type with validate() (throws
// std::invalid_argument naming the bad member) and step(parameter&, stream): the training loop
// (mlp.hpp) gives each parameter the stream of its layer id and key for the step.
#pragma once

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fewbits/updates.hpp"
#include "fewbits/error.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/sgd/elementwise.hpp"
#include "fewbits/sgd/parameter.hpp"

namespace fewbits::sgd {

template <class O>
concept optimizer = requires(const O& o, parameter& p, const stream& s) {
    o.validate();
    o.step(p, s);
};

struct sgd_options {
    float lr = 0.01f;
    float momentum = 0.0f;      // 0: plain SGD
    float weight_decay = 0.0f;  // L2: g + weight_decay * w
    policy update{};            // rounding of the update for weights stored in low precision

    void validate() const
    {
        if (!(lr > 0.0f) || !std::isfinite(lr))
            fewbits::raise_invalid_argument(std::string("sgd_options.lr must be positive and finite, got ") + exact_string(lr));
        if (!(momentum >= 0.0f && momentum < 1.0f))
            fewbits::raise_invalid_argument(std::string("sgd_options.momentum must be in [0, 1), got ") + exact_string(momentum));
        if (!(weight_decay >= 0.0f) || !std::isfinite(weight_decay))
            fewbits::raise_invalid_argument("sgd_options.weight_decay must be non-negative and finite, got " +
                                              exact_string(weight_decay));
        fewbits::validate(update);
    }

    // One step of w with its gradient: g' = fma(weight_decay, w, g) when weight_decay > 0, then
    // the storage's SGD or momentum update (velocity in float, kept in w.velocity).
    void step(parameter& w, const stream& s) const
    {
        std::span<const float> g = w.grad().values();
        std::vector<float> decayed;
        if (weight_decay > 0.0f) {
            decayed.resize(g.size());
            fma_scalar(weight_decay, w.value().values(), g, decayed);
            g = decayed;
        }
        if (momentum > 0.0f && w.velocity.size() != g.size()) w.velocity.assign(g.size(), 0.0f);
        w.store().update(g, lr, momentum, momentum > 0.0f ? std::span<float>(w.velocity) : std::span<float>(), update, s);
        w.refresh();
    }
};

// torch.optim.AdamW over any parameter storage, moments in float, bfloat16 or float16, every
// stored value (w, m, v) rounded once per step under `update` (see updates.hpp). Each parameter
// counts its own steps (AdamW's t), from 1 at its first update.
struct adamw_optimizer {
    adamw_options options{};
    moment_format moments = moment_format::fp32;
    policy update{};

    void validate() const
    {
        fewbits::validate(options);
        if (static_cast<unsigned>(moments) > static_cast<unsigned>(moment_format::fp16))
            fewbits::raise_invalid_argument("adamw_optimizer.moments must be a moment_format (0..2), got " +
                                            std::to_string(static_cast<unsigned>(moments)));
        fewbits::validate(update);
    }

    void step(parameter& w, const stream& s) const
    {
        if (w.moments.size() != w.size() || w.moments.format() != moments) w.moments = adamw_moments(moments, w.size());
        w.store().adamw(w.grad().values(), w.moments, options, w.moments.steps + 1, update, s);
        ++w.moments.steps;  // only once the update has succeeded
        w.refresh();
    }
};

}  // namespace fewbits::sgd
