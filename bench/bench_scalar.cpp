// Throughput of the scalar conversion fewbits::convert<T>(x, policy, word) in a plain loop
// over 16 Ki floats, for FP8 E4M3/E5M2, FP16 and BF16, in round-to-nearest-even and
// stochastic mode, against a memcpy of the same array as the memory-speed ceiling.
// Bytes processed count the float input only, so every row compares with BM_memcpy.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace {

constexpr std::size_t n_elems = 16 * 1024;

// Our own generator rather than <random> distributions, whose output is not specified
// across standard libraries: the inputs must be the same everywhere.
struct xorshift32 {
    std::uint32_t state;
    std::uint32_t operator()()
    {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    }
};

// Log-uniform magnitudes 2^-16..2^16 with random signs: every target sees normals, and
// the FP8 formats also see subnormals, underflow to zero and overflow.
const std::vector<float>& inputs()
{
    static const std::vector<float> xs = [] {
        xorshift32 rng{0x2545F491u};
        std::vector<float> v(n_elems);
        for (float& x : v) {
            const std::uint32_t r = rng();
            const float u = static_cast<float>(r >> 8) * 0x1p-24f;  // [0, 1)
            x = std::exp2(-16.0f + 32.0f * u);
            if (r & 1u) x = -x;
        }
        return v;
    }();
    return xs;
}

const std::vector<std::uint32_t>& random_words()
{
    static const std::vector<std::uint32_t> ws = [] {
        xorshift32 rng{0x9E3779B9u};
        std::vector<std::uint32_t> v(n_elems);
        for (std::uint32_t& w : v) w = rng();
        return v;
    }();
    return ws;
}

template <class Bits>
std::uint64_t checksum(const std::vector<Bits>& v)
{
    std::uint64_t h = 0xcbf29ce484222325u;  // FNV-1a over the encodings
    for (const Bits b : v) h = (h ^ static_cast<std::uint64_t>(b)) * 0x100000001b3u;
    return h;
}

template <class T, fewbits::rounding Mode>
void convert_loop(benchmark::State& state)
{
    using bits_type = std::remove_cvref_t<decltype(std::declval<const T&>().bits())>;
    const std::vector<float>& x = inputs();
    const std::vector<std::uint32_t>& w = random_words();
    const fewbits::policy p{Mode};
    std::vector<bits_type> out(n_elems);

    const auto run = [&] {
        for (std::size_t i = 0; i < n_elems; ++i) out[i] = fewbits::convert<T>(x[i], p, w[i]).bits();
    };

    // The same inputs and words must give the same encodings on every pass; checking the
    // last pass against a first one also keeps the loop from being optimised away.
    run();
    const std::uint64_t expected = checksum(out);

    for (auto _ : state) {
        run();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }

    if (checksum(out) != expected) state.SkipWithError("output checksum differs from the first pass");
    const auto items = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n_elems);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * static_cast<std::int64_t>(sizeof(float)));
}

void BM_memcpy(benchmark::State& state)
{
    const std::vector<float>& x = inputs();
    std::vector<float> out(n_elems);
    for (auto _ : state) {
        std::memcpy(out.data(), x.data(), n_elems * sizeof(float));
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (std::memcmp(out.data(), x.data(), n_elems * sizeof(float)) != 0)
        state.SkipWithError("memcpy output differs from its input");
    const auto items = static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n_elems);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * static_cast<std::int64_t>(sizeof(float)));
}

#define FEWBITS_BENCH_CONVERT(name, type, mode)                                   \
    void name(benchmark::State& state) { convert_loop<type, mode>(state); } \
    BENCHMARK(name)

FEWBITS_BENCH_CONVERT(BM_e4m3_nearest_even, fewbits::float8_e4m3fn, fewbits::rounding::nearest_even);
FEWBITS_BENCH_CONVERT(BM_e4m3_stochastic, fewbits::float8_e4m3fn, fewbits::rounding::stochastic);
FEWBITS_BENCH_CONVERT(BM_e5m2_nearest_even, fewbits::float8_e5m2, fewbits::rounding::nearest_even);
FEWBITS_BENCH_CONVERT(BM_e5m2_stochastic, fewbits::float8_e5m2, fewbits::rounding::stochastic);
FEWBITS_BENCH_CONVERT(BM_fp16_nearest_even, fewbits::float16, fewbits::rounding::nearest_even);
FEWBITS_BENCH_CONVERT(BM_fp16_stochastic, fewbits::float16, fewbits::rounding::stochastic);
FEWBITS_BENCH_CONVERT(BM_bf16_nearest_even, fewbits::bfloat16, fewbits::rounding::nearest_even);
FEWBITS_BENCH_CONVERT(BM_bf16_stochastic, fewbits::bfloat16, fewbits::rounding::stochastic);
BENCHMARK(BM_memcpy);

}  // namespace
