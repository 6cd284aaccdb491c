// Clipping by the global gradient norm (torch.nn.utils.clip_grad_norm_): when the Euclidean
// norm of all gradients together exceeds max_norm, every gradient is scaled by
// max_norm / (norm + 1e-6). It needs every gradient of the step before the first update, so it
// works only with updates after the backward pass (update_timing::after_backward), never with
// the optimizer in the backward pass.
#pragma once

#include <cmath>
#include <span>
#include <string>

#include "fewbits/error.hpp"
#include "fewbits/nn/parameter.hpp"

namespace fewbits::optim {

// The norm of every gradient of params together (summed in double, in order). Every parameter
// must hold its gradient (std::invalid_argument naming the first that does not).
inline double global_grad_norm(std::span<nn::parameter* const> params)
{
    double sum = 0.0;
    for (const nn::parameter* p : params) {
        if (!p->has_grad())
            fewbits::raise_invalid_argument("global_grad_norm needs every gradient, but parameter '" + p->name() +
                                            "' holds none (were its gradients already used by an update?)");
        for (float g : p->grad().values()) sum += static_cast<double>(g) * g;
    }
    return std::sqrt(sum);
}

// Scales every gradient so that their global norm is at most max_norm (> 0, finite); returns the
// norm before clipping.
inline double clip_grad_norm(std::span<nn::parameter* const> params, float max_norm)
{
    if (!(max_norm > 0.0f) || !std::isfinite(max_norm))
        fewbits::raise_invalid_argument("clip_grad_norm max_norm must be positive and finite, got " + exact_string(max_norm));
    const double norm = global_grad_norm(params);
    if (norm > max_norm) {
        const float scale = static_cast<float>(max_norm / (norm + 1e-6));
        for (nn::parameter* p : params)
            for (float& g : p->grad().values()) g *= scale;
    }
    return norm;
}

}  // namespace fewbits::optim
