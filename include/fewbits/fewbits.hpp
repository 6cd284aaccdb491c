// fewbits: low-precision formats, every rounding mode including stochastic rounding, and
// the tools to train with fewer bits. Include this one header for everything.
#pragma once

#include "fewbits/config.hpp"
#include "fewbits/format.hpp"
#include "fewbits/int8.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/limits.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"
#include "fewbits/types.hpp"
