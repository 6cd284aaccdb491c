// fewbits::sgd, the mini-batch training layer (tensors, GEMM, quantizers, parameters, the layer
// interface and containers, linear, ReLU, softmax, layer norm, losses, optimizers (SGD,
// momentum, AdamW), the MLP and its training loop, synthetic data, gradient-variance
// diagnostics), and the core it
// builds on (fewbits.hpp). The Fashion-MNIST loader needs zlib and is not included here:
// include <fewbits/sgd/fashion_mnist.hpp>.
#pragma once

#include "fewbits/fewbits.hpp"
#include "fewbits/sgd/data.hpp"
#include "fewbits/sgd/attention.hpp"
#include "fewbits/sgd/diagnostics.hpp"
#include "fewbits/sgd/gelu.hpp"
#include "fewbits/sgd/gemm.hpp"
#include "fewbits/sgd/gpt.hpp"
#include "fewbits/sgd/layer.hpp"
#include "fewbits/sgd/layer_norm.hpp"
#include "fewbits/sgd/linear.hpp"
#include "fewbits/sgd/loss.hpp"
#include "fewbits/sgd/mlp.hpp"
#include "fewbits/sgd/optimizer.hpp"
#include "fewbits/sgd/parallel.hpp"
#include "fewbits/sgd/parameter.hpp"
#include "fewbits/sgd/quantizer.hpp"
#include "fewbits/sgd/softmax.hpp"
#include "fewbits/sgd/tensor.hpp"
#include "fewbits/sgd/text_batch.hpp"
