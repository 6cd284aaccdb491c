// fewbits::sgd, the mini-batch SGD layer (tensors, GEMM, quantizers, layers, losses, the
// MLP and its training loop, synthetic data, gradient-variance diagnostics), and the core it
// builds on (fewbits.hpp). The Fashion-MNIST loader needs zlib and is not included here:
// include <fewbits/sgd/fashion_mnist.hpp>.
#pragma once

#include "fewbits/fewbits.hpp"
#include "fewbits/sgd/data.hpp"
#include "fewbits/sgd/diagnostics.hpp"
#include "fewbits/sgd/gemm.hpp"
#include "fewbits/sgd/linear.hpp"
#include "fewbits/sgd/loss.hpp"
#include "fewbits/sgd/mlp.hpp"
#include "fewbits/sgd/parallel.hpp"
#include "fewbits/sgd/parameter.hpp"
#include "fewbits/sgd/quantizer.hpp"
#include "fewbits/sgd/tensor.hpp"
