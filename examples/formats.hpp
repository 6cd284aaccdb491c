// The named formats of the experiment programs' grids, and the quantizers and weight storages
// they build from a name. Declared here and compiled once in formats.cpp: building a quantizer
// or a storage for every format instantiates the library's kernels for 14 formats on every
// instruction set, which took about a minute of compilation in each program that included it.
// Example code, not library API.
#pragma once

#include <string>
#include <vector>

#include <fewbits/nn/parameter.hpp>
#include <fewbits/nn/quantizer.hpp>
#include <fewbits/policy.hpp>

namespace experiment {

// The formats the grids name: fp32, every name of fewbits' format registry
// (fewbits/format_names.hpp), and int8.
const std::vector<std::string>& format_names();

// Significand bits p (mantissa bits + 1) of a named format; 24 for fp32, 8 for int8 (nominal);
// a block-scaled format's element bits (7 for mxint8).
int significand_bits(const std::string& format);

// The block-scaled formats a backward pass can take (docs/block_formats.md): mxfp8_e4m3,
// mxfp8_e5m2, mxfp6_e3m2, mxfp6_e2m3, mxfp4, mxint8, nvfp4. A name may end in +rhtN (N a power
// of two in 16..256): the quantizer then wraps its rounding in a random Hadamard transform.
const std::vector<std::string>& block_format_names();
// Whether name is one of those, with or without +rhtN (throws for a malformed +rht suffix).
bool is_block_format(const std::string& name);

// A quantizer for activations and gradients: per-tensor power-of-two scaling for every format
// narrower than bf16 (their range cannot hold a gradient unscaled), none for bf16 and fp16.
// Block-scaled names: MX with OCP's floor scale rule, NVFP4 with Transformer Engine's chain,
// elements saturating; under SR, MX elements are pre-scaled by 3/4 (Tseng et al. 2025: no
// element clips, so SR stays unbiased).
// The policy's mode and random_bits apply to the elements.
fewbits::nn::quantizer make_quantizer(const std::string& format, const fewbits::policy& p);

// Weight storage in the named format (fp32 or a registry name; int8 is refused: it needs a scale).
fewbits::nn::weight_storage make_storage(const std::string& format);

// "SR" -> stochastic with 32 random bits, "SR<r>" (r in 1..32, e.g. SR8) -> stochastic with r
// random bits, "RTN" and the FP32 rows' "-" -> nearest-even; anything else throws
// std::invalid_argument naming it.
fewbits::policy parse_rounding(const std::string& rounding);

}  // namespace experiment
