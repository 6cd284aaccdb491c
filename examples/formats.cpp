// The one translation unit of the examples that instantiates the library for every named
// format (see formats.hpp).
#include "formats.hpp"

#include <optional>
#include <stdexcept>
#include <utility>

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

}  // namespace

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
    return with_format(format, [](auto t) { return decltype(t)::format_type::mantissa_bits + 1; });
}

quantizer make_quantizer(const std::string& format, fewbits::rounding mode)
{
    const fewbits::policy p{mode};
    if (format == "fp32") return quantizer{};
    if (format == "int8") return quantizer::int8(p);
    const scaling s = format == "bf16" || format == "fp16" ? scaling::none : scaling::power_of_two;
    return with_format(format, [&](auto t) { return quantizer::to<decltype(t)>(p, s); });
}

weight_storage make_storage(const std::string& format)
{
    if (format == "fp32") return weight_storage::fp32();
    if (format == "int8") throw std::invalid_argument("int8 weight storage is not offered (it needs a scale)");
    return with_format(format, [](auto t) { return weight_storage::stored_as<decltype(t)>(); });
}

fewbits::rounding parse_rounding(const std::string& rounding)
{
    if (rounding == "SR") return fewbits::rounding::stochastic;
    // "-" is the FP32 rows' rounding: nothing is rounded there, and nearest-even is the no-op default.
    if (rounding == "RTN" || rounding == "-") return fewbits::rounding::nearest_even;
    throw std::invalid_argument("rounding must be SR, RTN or - (fp32), got '" + rounding + "'");
}

}  // namespace experiment
