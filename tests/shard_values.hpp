// The shard "gradients" of the shard-sum tests (test_shards.cpp, mpi_sum_order.cpp): shard k's
// values from the random words of derive({7}, k), with magnitudes from 2^-8 to 2^22 so that the
// order of the additions shows in the bits of a float sum.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <fewbits/random.hpp>

namespace fewbits_test {

inline void shard_values(std::size_t k, std::span<float> out)
{
    std::vector<std::uint32_t> w(out.size());
    fewbits::fill_random_words(fewbits::derive(fewbits::stream{7}, k), w);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = std::ldexp(static_cast<float>(w[i] & 0xffffu) - 32768.0f, static_cast<int>(w[i] >> 28) - 8);
}

}  // namespace fewbits_test
