// fewbits' core in one header: formats and value types, every rounding mode including
// stochastic rounding, the random generators, the bulk kernels and the fused optimizer
// updates, INT8, the block-scaled formats (MX, NVFP4) and the Hadamard transform, format names
// and errors. The training library (fewbits::nn, optim, models, data, io, train) is not
// included: it is <fewbits/training.hpp>, which includes this one too.
#pragma once

#include "fewbits/block_formats.hpp"
#include "fewbits/config.hpp"
#include "fewbits/error.hpp"
#include "fewbits/format.hpp"
#include "fewbits/format_names.hpp"
#include "fewbits/hadamard.hpp"
#include "fewbits/int8.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/limits.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"
#include "fewbits/types.hpp"
#include "fewbits/updates.hpp"
