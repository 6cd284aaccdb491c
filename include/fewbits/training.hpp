// The training library in one include, and the core it builds on (fewbits.hpp):
//   nn/      tensors, GEMM, parameters, quantizers, the layer interface and containers, the layers
//            (linear, ReLU, layer norm, attention, GELU, softmax) and the losses;
//   optim/   the optimizer objects (SGD, momentum, AdamW) over the fused updates of updates.hpp;
//   models/  the MLP and the byte-level GPT, each a file built from layers;
//   data/    data sets, seeded mini-batch order, synthetic data, text batches;
//   train/   the MLP's epoch loop and evaluation, the GPT's training step, the gradient-variance
//            diagnostics.
// Not included, because they need more than C++20: the loaders that read gzip files with zlib
// (data/fashion_mnist.hpp, data/text_corpus.hpp, io/lm_state.hpp) and the checkpoints, which
// need POSIX (io/checkpoint.hpp). Include those where you use them.
//
// `using namespace fewbits::training;` brings in the names of nn, optim, models, data and train
// at once (a using-directive is transitive); fewbits::io still needs its own.
#pragma once

#include "fewbits/data/dataset.hpp"
#include "fewbits/data/text_batch.hpp"
#include "fewbits/fewbits.hpp"
#include "fewbits/models/gpt.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/nn/attention.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/gelu.hpp"
#include "fewbits/nn/gemm.hpp"
#include "fewbits/nn/init.hpp"
#include "fewbits/nn/layer.hpp"
#include "fewbits/nn/layer_norm.hpp"
#include "fewbits/nn/linear.hpp"
#include "fewbits/nn/loss.hpp"
#include "fewbits/nn/memory.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/parameter.hpp"
#include "fewbits/nn/quantizer.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/softmax.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/optim/adamw.hpp"
#include "fewbits/optim/clip_grad_norm.hpp"
#include "fewbits/optim/optimizer.hpp"
#include "fewbits/optim/sgd.hpp"
#include "fewbits/optim/update_in_backward.hpp"
#include "fewbits/train/communicator.hpp"
#include "fewbits/train/epoch.hpp"
#include "fewbits/train/exchange_codec.hpp"
#include "fewbits/train/gradient_accumulator.hpp"
#include "fewbits/train/gradient_variance.hpp"
#include "fewbits/train/lm_step.hpp"
#include "fewbits/train/shard_exchange.hpp"
#include "fewbits/train/shard_tree.hpp"
#include "fewbits/train/sharded_step.hpp"

namespace fewbits::training {
using namespace fewbits::nn;
using namespace fewbits::optim;
using namespace fewbits::models;
using namespace fewbits::data;
using namespace fewbits::train;
}  // namespace fewbits::training
