// The one translation unit of the examples that instantiates the library for every named
// format (see formats.hpp).
#include "formats.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fewbits/block_formats.hpp>
#include <fewbits/format_names.hpp>

namespace experiment {

using fewbits::nn::quantizer;
using fewbits::nn::scaling;
using fewbits::nn::weight_storage;

namespace {

// fn(T{}) for the minifloat T named f (a registry name).
template <class F>
auto with_format(const std::string& f, F&& fn)
{
    std::optional<decltype(fn(fewbits::bfloat16{}))> result;
    if (!fewbits::visit_format(f, [&](auto t) { result.emplace(fn(t)); }))
        throw std::invalid_argument("no minifloat named '" + f + "'");
    return std::move(*result);
}

// A block-scaled name split into its base ("mxfp4") and RHT block (0: none); nullopt when the
// base is not a block-scaled format.
std::optional<std::pair<std::string, std::size_t>> split_block_format(const std::string& name)
{
    const auto plus = name.find('+');
    const std::string base = name.substr(0, plus);
    const auto& names = block_format_names();
    if (std::find(names.begin(), names.end(), base) == names.end()) return std::nullopt;
    if (plus == std::string::npos) return std::pair{base, std::size_t{0}};
    const std::string suffix = name.substr(plus + 1);
    std::size_t n = 0;
    const bool digits = suffix.size() > 3 && suffix.size() <= 6 && suffix.starts_with("rht") &&
                        suffix.find_first_not_of("0123456789", 3) == std::string::npos;
    if (digits) n = std::stoul(suffix.substr(3));
    if (!digits || n < 16 || n > 256 || (n & (n - 1)) != 0)
        throw std::invalid_argument("'" + name + "': a block format's suffix must be +rhtN, N a power of two in 16..256");
    return std::pair{base, n};
}

}  // namespace

const std::vector<std::string>& block_format_names()
{
    static const std::vector<std::string> names{"mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3",
                                                "mxfp4",      "mxint8",     "nvfp4"};
    return names;
}

bool is_block_format(const std::string& name) { return split_block_format(name).has_value(); }

const std::vector<std::string>& format_names()
{
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v{"fp32"};
        v.insert(v.end(), fewbits::format_names.begin(), fewbits::format_names.end());
        v.emplace_back("int8");
        return v;
    }();
    return names;
}

int significand_bits(const std::string& format)
{
    if (format == "fp32") return 24;
    if (format == "int8") return 8;
    if (const auto block = split_block_format(format)) {
        const std::string& b = block->first;
        if (b == "mxint8") return 7;
        return significand_bits(b == "mxfp4" || b == "nvfp4" ? "e2m1" : b.substr(b.find('_') + 1));
    }
    return with_format(format, [](auto t) { return decltype(t)::format_type::mantissa_bits + 1; });
}

quantizer make_quantizer(const std::string& format, const fewbits::policy& p)
{
    const fewbits::rounding mode = p.mode;
    if (format == "fp32") return quantizer{};
    if (format == "int8") return quantizer::int8(p);
    if (const auto block = split_block_format(format)) {
        const auto& [base, rht] = *block;
        const fewbits::policy elements{mode, fewbits::overflow::saturate, p.random_bits};
        if (base == "nvfp4") return quantizer::nvfp4({fewbits::nvfp4_scale_rule::transformer_engine, elements, std::nullopt}, rht);
        const fewbits::mx_options o{fewbits::mx_scale_rule::floor, elements,
                                    mode == fewbits::rounding::stochastic ? 0.75f : 1.0f};
        // Each element type spelled out: a visit over the registry would instantiate the MX
        // kernels for all 14 formats.
        if (base == "mxint8") return quantizer::mx<std::int8_t>(o, rht);
        if (base == "mxfp4") return quantizer::mx<fewbits::float4_e2m1fn>(o, rht);
        if (base == "mxfp6_e3m2") return quantizer::mx<fewbits::float6_e3m2fn>(o, rht);
        if (base == "mxfp6_e2m3") return quantizer::mx<fewbits::float6_e2m3fn>(o, rht);
        if (base == "mxfp8_e4m3") return quantizer::mx<fewbits::float8_e4m3fn>(o, rht);
        return quantizer::mx<fewbits::float8_e5m2>(o, rht);
    }
    const scaling s = format == "bf16" || format == "fp16" ? scaling::none : scaling::power_of_two;
    return with_format(format, [&](auto t) { return quantizer::to<decltype(t)>(p, s); });
}

weight_storage make_storage(const std::string& format)
{
    if (format == "fp32") return weight_storage::fp32();
    if (is_block_format(format))
        throw std::invalid_argument("'" + format + "' is a block-scaled format: weights are not stored in it");
    if (format == "int8") throw std::invalid_argument("int8 weight storage is not offered (it needs a scale)");
    return with_format(format, [](auto t) { return weight_storage::stored_as<decltype(t)>(); });
}

fewbits::policy parse_rounding(const std::string& rounding)
{
    if (rounding == "SR") return fewbits::policy{fewbits::rounding::stochastic};
    // "-" is the FP32 rows' rounding: nothing is rounded there, and nearest-even is the no-op default.
    if (rounding == "RTN" || rounding == "-") return fewbits::policy{fewbits::rounding::nearest_even};
    if (rounding.size() >= 3 && rounding.size() <= 4 && rounding.starts_with("SR") && rounding[2] != '0' &&
        std::all_of(rounding.begin() + 2, rounding.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const int bits = std::stoi(rounding.substr(2));
        if (bits <= 32) return fewbits::policy{fewbits::rounding::stochastic, fewbits::overflow::non_saturating, bits};
    }
    throw std::invalid_argument("rounding must be SR, SR<r> with r random bits in 1..32 (e.g. SR8), RTN or - (fp32), got '" +
                                rounding + "'");
}

}  // namespace experiment
