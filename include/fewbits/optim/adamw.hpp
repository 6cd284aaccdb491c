// The AdamW optimizer object (adamw_optimizer): the moments live with each parameter
// (nn/parameter.hpp) and every step calls the fused adamw_update kernel of the parameter's
// storage (fewbits/updates.hpp), so no AdamW arithmetic or rounding lives here.
#pragma once

#include <string>

#include "fewbits/error.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/updates.hpp"

namespace fewbits::optim {

// torch.optim.AdamW over any parameter storage, moments in float, bfloat16 or float16, every
// stored value (w, m, v) rounded once per step under `update` (see updates.hpp). Each parameter
// counts its own steps (AdamW's t), from 1 at its first update.
struct adamw_optimizer {
    adamw_options options{};
    nn::moment_format moments = nn::moment_format::fp32;
    policy update{};

    void validate() const
    {
        fewbits::validate(options);
        if (static_cast<unsigned>(moments) > static_cast<unsigned>(nn::moment_format::fp16))
            fewbits::raise_invalid_argument("adamw_optimizer.moments must be a moment_format (0..2), got " +
                                            std::to_string(static_cast<unsigned>(moments)));
        fewbits::validate(update);
    }

    void step(nn::parameter& w, const stream& s) const
    {
        if (w.moments.size() != w.size() || w.moments.format() != moments) w.moments = nn::adamw_moments(moments, w.size());
        w.store().adamw(w.grad().values(), w.moments, options, w.moments.steps + 1, update, s);
        ++w.moments.steps;  // only once the update has succeeded
    }
};

}  // namespace fewbits::optim
