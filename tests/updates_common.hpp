// Helpers shared by test_updates.cpp and test_updates_adamw.cpp (split so that each
// translation unit compiles in well under a minute): the inputs, lengths and policies of the
// fused update tests, and the element contract's storage helpers.
#pragma once

#include "fewbits_catch.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace updates_test {

using fewbits_test::failure_log;
using fewbits_test::hex;


struct prng {
    std::uint64_t s;
    std::uint64_t next()
    {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint32_t u32() { return static_cast<std::uint32_t>(next() >> 32); }
    // Random sign, magnitude log-uniform in 2^lo .. 2^hi.
    float logu(int lo, int hi)
    {
        const double e = lo + (hi - lo) * (static_cast<double>(next() >> 11) * 0x1p-53);
        const float x = static_cast<float>(std::exp2(e));
        return (next() & 1) ? -x : x;
    }
};

template <class F>
void for_each_simd(F&& f)
{
    for (const std::string& arch : fewbits::simd_architectures()) {
        fewbits::set_simd_architecture(arch);
        f(arch);
    }
    fewbits::set_simd_architecture("best");
}

template <class T>
float value_of(T x)
{
    if constexpr (std::is_same_v<T, float>)
        return x;
    else
        return static_cast<float>(x);
}
template <class T>
T stored(float x, fewbits::policy p, std::uint32_t word)
{
    if constexpr (std::is_same_v<T, float>)
        return x;
    else
        return fewbits::convert<T>(x, p, word);
}
template <class T>
std::uint32_t bits_of(T x)
{
    if constexpr (std::is_same_v<T, float>)
        return std::bit_cast<std::uint32_t>(x);
    else
        return x.bits();
}
template <class T>
std::string name_of()
{
    if constexpr (std::is_same_v<T, float>)
        return "float";
    else
        return fewbits::format_name<T>();
}

// Inputs: boundary values at the start (so that they fall in vector lanes and, for short
// lengths, in tails), then random magnitudes over 2^-30..2^20.
inline std::vector<float> inputs(std::size_t n, prng& r, bool specials)
{
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p-140f, -0x1p-127f, 448.0f, 500.0f, -65504.0f,
                                    1e6f, 0x1p-24f, -0x1p-14f, std::numeric_limits<float>::max(), 3.0f};
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = (specials && i < std::size(special)) ? special[i] : r.logu(-30, 20);
    return x;
}

template <class T>
inline std::vector<T> as(const std::vector<float>& x)
{
    std::vector<T> out;
    for (float f : x) out.push_back(T(f));
    return out;
}

inline const std::size_t lengths[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                               21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 35, 40, 511, 512, 513, 1100};

inline std::vector<fewbits::policy> policies()
{
    using fewbits::overflow;
    using fewbits::rounding;
    return {{rounding::nearest_even, overflow::non_saturating, 32}, {rounding::nearest_even, overflow::saturate, 32},
            {rounding::stochastic, overflow::non_saturating, 32},   {rounding::stochastic, overflow::saturate, 7},
            {rounding::toward_zero, overflow::non_saturating, 32},  {rounding::up, overflow::saturate, 32}};
}

inline std::string describe(const fewbits::policy& p)
{
    return "mode " + std::to_string(static_cast<int>(p.mode)) + " overflow " +
           std::to_string(static_cast<int>(p.on_overflow)) + " bits " + std::to_string(p.random_bits);
}

}  // namespace updates_test
