// What an optimizer is to the training code: any type with validate() (throws
// std::invalid_argument naming the bad member) and step(parameter&, stream), which updates one
// parameter from its gradient by calling the storage's fused kernels (fewbits/updates.hpp). The
// training step (models/mlp.hpp) gives each parameter the stream of its layer id and key for the
// step. The optimizers: optim/sgd.hpp (SGD, momentum), optim/adamw.hpp (AdamW).
#pragma once

#include "fewbits/nn/parameter.hpp"
#include "fewbits/random.hpp"

namespace fewbits::optim {

template <class O>
concept optimizer = requires(const O& o, nn::parameter& p, const stream& s) {
    o.validate();
    o.step(p, s);
};

}  // namespace fewbits::optim
