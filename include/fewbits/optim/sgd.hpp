// Plain SGD and SGD with momentum (sgd_options), stepping one parameter at a time in any
// storage by calling the storage's fused kernels (sgd_update, sgd_momentum_update in
// fewbits/updates.hpp): no update arithmetic or rounding lives here except the L2 term.
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"

namespace fewbits::optim {

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
    void step(nn::parameter& w, const stream& s) const
    {
        std::span<const float> g = w.grad().values();
        std::vector<float> decayed;
        if (weight_decay > 0.0f) {
            decayed.resize(g.size());
            nn::fma_scalar(weight_decay, nn::parameter_values(w).values(), g, decayed);
            g = decayed;
        }
        if (momentum > 0.0f && w.velocity.size() != g.size()) w.velocity.assign(g.size(), 0.0f);
        w.store().update(g, lr, momentum, momentum > 0.0f ? std::span<float>(w.velocity) : std::span<float>(), update, s);
    }
};

}  // namespace fewbits::optim
