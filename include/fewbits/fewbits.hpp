// fewbits' core in one header: formats and value types, every rounding mode including
// stochastic rounding, the random generators, the bulk kernels and the fused optimizer
// updates, INT8, format names and errors. The training library (fewbits::nn, optim, models,
// data, io, train) is not included: it is <fewbits/training.hpp>, which includes this one too.
#pragma once

#include "fewbits/config.hpp"
#include "fewbits/error.hpp"
#include "fewbits/format.hpp"
#include "fewbits/format_names.hpp"
#include "fewbits/int8.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/limits.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"
#include "fewbits/types.hpp"
#include "fewbits/updates.hpp"
