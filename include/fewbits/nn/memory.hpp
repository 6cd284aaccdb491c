// What a model holds in memory, by category, counted from the objects themselves (allocated
// capacity, not element counts): the parameters' storage, the optimizer state kept with them
// (momentum velocity, AdamW moments), the gradients they hold now, the activations the layers
// keep (saved for backward, and their outputs), and the idle scratch tensors of the shared
// pool (nn/scratch.hpp). Programs print it next to the process's peak resident memory.
#pragma once

#include <cstddef>
#include <span>

#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/scratch.hpp"

namespace fewbits::nn {

struct memory_usage {
    std::size_t parameters = 0;       // storage (fp32: 4 bytes a value, bf16: 2, FP8: 1)
    std::size_t optimizer_state = 0;  // velocity, AdamW moments
    std::size_t gradients = 0;        // gradients held now
    std::size_t activations = 0;      // what the layers keep from their last passes
    std::size_t buffers = 0;          // idle scratch tensors

    std::size_t total() const noexcept { return parameters + optimizer_state + gradients + activations + buffers; }
};

// The parameter, optimizer and gradient bytes of params, and the idle bytes of the shared pool;
// activations are the model's to add (its activation_bytes()).
inline memory_usage parameter_memory(std::span<parameter* const> params)
{
    memory_usage m;
    for (const parameter* p : params) {
        m.parameters += p->size() * p->store().bytes_per_value();
        m.optimizer_state += p->velocity.capacity() * sizeof(float) + p->moments.bytes();
        m.gradients += p->grad().capacity() * sizeof(float);
    }
    m.buffers = scratch_pool::shared().bytes_held();
    return m;
}

}  // namespace fewbits::nn
