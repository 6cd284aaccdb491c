// Throughput of the fused AdamW update (fewbits::adamw_update) against a plain float AdamW
// loop measured in the same run, at 16 Ki (in cache) and 64 Mi (memory-bound) elements:
//   float_loop           w, m, v in float: the textbook loop, which the compiler vectorises
//                        (the target is built with -fno-math-errno: otherwise std::sqrt's
//                        errno keeps the loop scalar and the baseline 4x slower)
//   fused W/S mode       adamw_update<W, S> for (float, float), (bf16, float), (bf16, bf16),
//                        (e4m3, bf16), under RTN and SR
// bytes_per_second counts the bytes each variant must move per element: g read, w, m and v
// read and written in their storage formats (float loop: 28 bytes; bf16 + bf16: 16).
// Each benchmark first checks one step of its variant against the float loop's arithmetic
// (within the storage's rounding) and reports an error instead of a number when it is off.
//
//   bench_adamw [Google Benchmark flags]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace {

constexpr std::size_t Ki = 1024, Mi = Ki * Ki;

float input(std::size_t i, float scale)
{
    // A cheap deterministic spread of values (no libm in the set-up of 64 Mi elements).
    const std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u;
    return scale * (static_cast<float>(h >> 8) * 0x1p-23f - 1.0f);
}

template <class T>
T make(float x)
{
    if constexpr (std::is_same_v<T, float>)
        return x;
    else
        return T(x);
}

template <class T>
float value_of(T x)
{
    if constexpr (std::is_same_v<T, float>)
        return x;
    else
        return static_cast<float>(x);
}

// The plain float AdamW step (PyTorch's formulas, no fma, no rounding to storage).
void float_adamw(float* w, float* m, float* v, const float* g, std::size_t n, const fewbits::adamw_options& o,
                 std::uint64_t t)
{
    const float decay = 1.0f - o.lr * o.weight_decay;
    const float step_size = o.lr / (1.0f - std::pow(o.beta1, static_cast<float>(t)));
    const float root_bc2 = std::sqrt(1.0f - std::pow(o.beta2, static_cast<float>(t)));
    const float b1 = o.beta1, b2 = o.beta2, c1 = 1.0f - b1, c2 = 1.0f - b2, eps = o.eps;
    for (std::size_t i = 0; i < n; ++i) {
        m[i] = b1 * m[i] + c1 * g[i];
        v[i] = b2 * v[i] + c2 * g[i] * g[i];
        w[i] = w[i] * decay - step_size * m[i] / (std::sqrt(v[i]) / root_bc2 + eps);
    }
}

void BM_float_loop(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<float> w(n), m(n), v(n), g(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = input(i, 1.0f);
        m[i] = input(i + 1, 0.01f);
        v[i] = 1e-4f;
        g[i] = input(i + 2, 0.1f);
    }
    const fewbits::adamw_options o;
    std::uint64_t t = 1;
    for (auto _ : state) {
        float_adamw(w.data(), m.data(), v.data(), g.data(), n, o, t++);
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(w.data());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * 28));
}

// One step of the fused kernel on a few elements against float_adamw on their decoded
// values: the weights may differ by the storage's grid step (and the fma), nothing more.
template <class W, class S>
bool agrees_with_float_loop(fewbits::rounding mode)
{
    const std::size_t n = 1000;
    std::vector<W> w(n);
    std::vector<S> m(n), v(n);
    std::vector<float> wf(n), mf(n), vf(n), g(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = make<W>(input(i, 1.0f));
        m[i] = make<S>(input(i + 1, 0.01f));
        v[i] = make<S>(1e-4f);
        g[i] = input(i + 2, 0.1f);
        wf[i] = value_of(w[i]);
        mf[i] = value_of(m[i]);
        vf[i] = value_of(v[i]);
    }
    const fewbits::adamw_options o;
    fewbits::adamw_update<W, S>(w, m, v, g, o, 3, {mode}, {5});
    float_adamw(wf.data(), mf.data(), vf.data(), g.data(), n, o, 3);
    for (std::size_t i = 0; i < n; ++i) {
        // One grid step of W at wf (relative 2^-3 for e4m3, 2^-8 for bf16, and e4m3's
        // subnormal step 2^-9 near zero) plus the moments' rounding effect on a step of lr.
        const float tolerance =
            std::is_same_v<W, float> ? std::fabs(wf[i]) * 1e-6f + 1e-7f : std::fabs(wf[i]) * 0.125f + 4e-3f;
        if (!(std::fabs(value_of(w[i]) - wf[i]) <= tolerance)) return false;
    }
    return true;
}

template <class W, class S>
void BM_fused(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    // sr: 0 nearest-even, 1 SR with 32 bits (counter_hash), 2 SR with 16 bits (counter_hash_packed:
    // one word per two elements)
    const auto mode = state.range(1) ? fewbits::rounding::stochastic : fewbits::rounding::nearest_even;
    const fewbits::policy p{mode, fewbits::overflow::non_saturating, state.range(1) == 2 ? 16 : 32};
    const fewbits::generator rng =
        state.range(1) == 2 ? fewbits::generator::counter_hash_packed : fewbits::generator::counter_hash;
    if (!agrees_with_float_loop<W, S>(mode)) {
        state.SkipWithError("adamw_update disagrees with the float loop");
        return;
    }
    std::vector<W> w(n);
    std::vector<S> m(n), v(n);
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = make<W>(input(i, 1.0f));
        m[i] = make<S>(input(i + 1, 0.01f));
        v[i] = make<S>(1e-4f);
        g[i] = input(i + 2, 0.1f);
    }
    const fewbits::adamw_options o;
    std::uint64_t t = 1;
    for (auto _ : state) {
        fewbits::adamw_update<W, S>(w, m, v, g, o, t, p, {t, 0, rng});
        ++t;
        benchmark::ClobberMemory();
    }
    benchmark::DoNotOptimize(w.data());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * (4 + 2 * (sizeof(W) + 2 * sizeof(S)))));
}

void sizes(benchmark::internal::Benchmark* b)
{
    b->ArgNames({"n", "sr"});
    for (std::int64_t n : {std::int64_t(16 * Ki), std::int64_t(64 * Mi)})
        for (std::int64_t sr : {0, 1, 2}) b->Args({n, sr});
}

}  // namespace

BENCHMARK(BM_float_loop)->ArgName("n")->Arg(16 * Ki)->Arg(64 * Mi);
BENCHMARK_TEMPLATE(BM_fused, float, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fused, fewbits::bfloat16, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fused, fewbits::bfloat16, fewbits::bfloat16)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_fused, fewbits::float8_e4m3fn, fewbits::bfloat16)->Apply(sizes);

BENCHMARK_MAIN();
