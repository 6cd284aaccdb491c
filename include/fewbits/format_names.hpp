// Short names of formats, for command lines, CSV files and messages: one registry that the
// training library, the examples and users' programs share, so that a name means the same format
// everywhere.
//
//   bf16 bfloat16          fp16 float16           e5m2 float8_e5m2     e4m3 float8_e4m3fn
//   e4m3fnuz float8_e4m3fnuz   e5m2fnuz float8_e5m2fnuz
//   e3m2 float6_e3m2fn     e2m3 float6_e2m3fn     e2m1 float4_e2m1fn
//   e5m1 e4m2 e4m1 e5m0 e4m0   narrower minifloats with the fn encoding (like E4M3: no
//                              infinity, one NaN pattern; fn is the only encoding that allows
//                              0 mantissa bits), for experiments below 8 bits
//
// format_name<T>() gives T's registry name; a format outside the registry gets
// "e<E>m<M>" and its encoding ("e3m4fn", "e5m7", "e4m2fnuz", "e3m1finite").
// visit_format(name, f) calls f(T{}) with the value type of that name.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "fewbits/format.hpp"
#include "fewbits/types.hpp"

namespace fewbits {

// Minifloats of the fn encoding (finite + one NaN pattern) with E exponent and M mantissa bits.
template <int E, int M>
using fn_minifloat = minifloat<format<E, M, encoding::fn>>;

namespace detail {

template <class T>
struct named {
    using type = T;
    std::string_view name;
};

inline constexpr auto format_registry =
    std::tuple{named<bfloat16>{"bf16"},           named<float16>{"fp16"},
               named<float8_e5m2>{"e5m2"},        named<float8_e4m3fn>{"e4m3"},
               named<float8_e4m3fnuz>{"e4m3fnuz"}, named<float8_e5m2fnuz>{"e5m2fnuz"},
               named<float6_e3m2fn>{"e3m2"},      named<float6_e2m3fn>{"e2m3"},
               named<float4_e2m1fn>{"e2m1"},      named<fn_minifloat<5, 1>>{"e5m1"},
               named<fn_minifloat<4, 2>>{"e4m2"}, named<fn_minifloat<4, 1>>{"e4m1"},
               named<fn_minifloat<5, 0>>{"e5m0"}, named<fn_minifloat<4, 0>>{"e4m0"}};

constexpr const char* encoding_suffix(encoding e) noexcept
{
    switch (e) {
    case encoding::ieee: return "";
    case encoding::fn: return "fn";
    case encoding::fnuz: return "fnuz";
    case encoding::finite: return "finite";
    }
    return "?";
}

}  // namespace detail

// Every name of the registry, in the order of the table above.
inline constexpr auto format_names = std::apply(
    [](auto... entry) { return std::array<std::string_view, sizeof...(entry)>{entry.name...}; },
    detail::format_registry);

namespace detail {
// found = entry.name when the entry names T (if constexpr, not a ternary in a fold: cppcheck
// 2.10 cannot parse the latter).
template <class T, class Entry>
void take_name_if_named(std::string& found, const Entry& entry)
{
    if constexpr (std::is_same_v<typename Entry::type, T>) found = entry.name;
}
}  // namespace detail

template <class T>
std::string format_name()
{
    std::string found;
    std::apply([&](auto... entry) { (detail::take_name_if_named<T>(found, entry), ...); }, detail::format_registry);
    if (!found.empty()) return found;
    using F = typename T::format_type;
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) about "e" + std::to_string(..).
    std::string s = "e";
    s += std::to_string(F::exponent_bits);
    s += 'm';
    s += std::to_string(F::mantissa_bits);
    s += detail::encoding_suffix(F::family);
    return s;
}

// Calls f(T{}) for the value type T named `name` and returns true, or returns false (f not
// called) when the registry has no such name.
template <class F>
bool visit_format(std::string_view name, F&& f)
{
    bool found = false;
    std::apply(
        [&](auto... entry) {
            auto visit_one = [&](const auto& e) {
                if (!found && e.name == name) {
                    f(typename std::remove_cvref_t<decltype(e)>::type{});
                    found = true;
                }
            };
            (visit_one(entry), ...);
        },
        detail::format_registry);
    return found;
}

}  // namespace fewbits
