// Random initial values: n standard normals from a counter-based stream, the same on every
// platform (Box-Muller over the stream's words; std::normal_distribution is not specified
// across standard libraries). The GPT's initial weights and the synthetic data use them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fewbits/random.hpp"

namespace fewbits::nn {

// A standard normal from two words (Box-Muller).
inline double standard_normal(std::uint32_t w1, std::uint32_t w2) noexcept
{
    const double u1 = (static_cast<double>(w1) + 0.5) * 0x1p-32;  // (0, 1): log is finite
    const double u2 = static_cast<double>(w2) * 0x1p-32;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}
// n standard normals from stream s (words 2i and 2i + 1 make value i).
inline std::vector<float> standard_normals(std::size_t n, stream s)
{
    std::vector<std::uint32_t> words(2 * n);
    fill_random_words(s, words);
    std::vector<float> out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(standard_normal(words[2 * i], words[2 * i + 1]));
    return out;
}

}  // namespace fewbits::nn
