// The fused optimizer updates (updates.hpp: sgd_update, sgd_momentum_update, adamw_update) on
// every instruction set of this process, bit for bit against the contract written element by
// element with std::fma and the scalar core: every length 0..40 and a few past one block (the
// vector loops and their scalar tails), boundary inputs (zeros of both signs, +-1, subnormals,
// the formats' max and beyond, infinities and a NaN where the contract fixes the result), SR
// with 32 and 7 random bits and directed modes. Also the FMA of the SSE2 target, which has no
// FMA instruction (fma_via_double), against std::fma on random and adversarial triples.
#include "fewbits_catch.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <fewbits/fewbits.hpp>

using fewbits_test::failure_log;
using fewbits_test::hex;

namespace {

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
std::vector<float> inputs(std::size_t n, prng& r, bool specials)
{
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p-140f, -0x1p-127f, 448.0f, 500.0f, -65504.0f,
                                    1e6f, 0x1p-24f, -0x1p-14f, std::numeric_limits<float>::max(), 3.0f};
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = (specials && i < std::size(special)) ? special[i] : r.logu(-30, 20);
    return x;
}

template <class T>
std::vector<T> as(const std::vector<float>& x)
{
    std::vector<T> out;
    for (float f : x) out.push_back(T(f));
    return out;
}

const std::size_t lengths[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                               21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 35, 40, 511, 512, 513, 1100};

std::vector<fewbits::policy> policies()
{
    using fewbits::overflow;
    using fewbits::rounding;
    return {{rounding::nearest_even, overflow::non_saturating, 32}, {rounding::nearest_even, overflow::saturate, 32},
            {rounding::stochastic, overflow::non_saturating, 32},   {rounding::stochastic, overflow::saturate, 7},
            {rounding::toward_zero, overflow::non_saturating, 32},  {rounding::up, overflow::saturate, 32}};
}

std::string describe(const fewbits::policy& p)
{
    return "mode " + std::to_string(static_cast<int>(p.mode)) + " overflow " +
           std::to_string(static_cast<int>(p.on_overflow)) + " bits " + std::to_string(p.random_bits);
}

template <class T>
void sgd_case(const std::string& arch, std::uint64_t seed, failure_log& log)
{
    prng r{seed};
    for (const fewbits::policy& p : policies()) {
        for (std::size_t n : lengths) {
            const fewbits::stream s{r.next(), r.next() >> 8};
            std::vector<float> w0 = inputs(n, r, true), g = inputs(n, r, false);
            if (n > 20) g[17] = std::numeric_limits<float>::infinity();  // a finite weight minus inf
            if (n > 21) w0[19] = std::numeric_limits<float>::quiet_NaN();  // NaN weight, finite gradient
            std::vector<T> w = as<T>(w0);
            const std::vector<T> before = w;
            const float lr = n % 3 == 1 ? 0.0f : 0.375f;  // lr 0: fma(-0, g, -0) is -0
            fewbits::sgd_update<T>(std::span<T>(w), g, lr, p, s);
            for (std::size_t i = 0; i < n; ++i) {
                const T want = fewbits::convert<T>(std::fma(-lr, g[i], value_of(before[i])), p,
                                                   fewbits::random_word(s.rng, s.seed, s.offset + i));
                if (bits_of(want) != bits_of(w[i])) {
                    log.add(arch + " sgd_update<" + name_of<T>() + "> " + describe(p) + " n " + std::to_string(n) +
                            " index " + std::to_string(i) + ": want " + hex(bits_of(want), 4) + ", got " +
                            hex(bits_of(w[i]), 4) + " (seed " + hex(seed, 16) + ")");
                    break;
                }
            }
        }
    }
}

template <class T, class V>
void momentum_case(const std::string& arch, std::uint64_t seed, failure_log& log)
{
    prng r{seed};
    for (const fewbits::policy& p : policies()) {
        for (std::size_t n : lengths) {
            const fewbits::stream s{r.next(), r.next() >> 8};
            std::vector<float> w0 = inputs(n, r, true), g = inputs(n, r, false), v0 = inputs(n, r, true);
            std::reverse(v0.begin(), v0.end());
            if (n > 20) g[17] = -std::numeric_limits<float>::infinity();
            std::vector<T> w = as<T>(w0);
            std::vector<V> v = as<V>(v0);
            const std::vector<T> w_before = w;
            const std::vector<V> v_before = v;
            const float lr = n % 3 == 1 ? 0.0f : 0.0625f, mu = n % 5 == 2 ? 0.0f : 0.875f;
            fewbits::sgd_momentum_update<T, V>(std::span<T>(w), std::span<V>(v), g, lr, mu, p, s);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t c = s.offset + i;
                const V want_v = stored<V>(std::fma(mu, value_of(v_before[i]), g[i]), p,
                                           fewbits::random_word(s.rng, fewbits::velocity_seed(s), c));
                const T want_w = fewbits::convert<T>(std::fma(-lr, value_of(want_v), value_of(w_before[i])), p,
                                                     fewbits::random_word(s.rng, s.seed, c));
                if (bits_of(want_v) != bits_of(v[i]) || bits_of(want_w) != bits_of(w[i])) {
                    log.add(arch + " sgd_momentum_update<" + name_of<T>() + ", " + name_of<V>() + "> " + describe(p) +
                            " n " + std::to_string(n) + " index " + std::to_string(i) + ": want w " +
                            hex(bits_of(want_w), 4) + " v " + hex(bits_of(want_v), 8) + ", got w " +
                            hex(bits_of(w[i]), 4) + " v " + hex(bits_of(v[i]), 8) + " (seed " + hex(seed, 16) + ")");
                    break;
                }
            }
        }
    }
}

template <class W, class S>
void adamw_case(const std::string& arch, std::uint64_t seed, failure_log& log)
{
    prng r{seed};
    const fewbits::adamw_options o{1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f};
    for (const fewbits::policy& p : policies()) {
        for (std::size_t n : lengths) {
            const fewbits::stream s{r.next(), r.next() >> 8};
            std::vector<float> w0 = inputs(n, r, true), g = inputs(n, r, false), m0 = inputs(n, r, false),
                               v0 = inputs(n, r, true);
            for (float& x : v0) x = std::fabs(x) * 1e-3f;  // a second moment: never negative
            std::vector<W> w = as<W>(w0);
            std::vector<S> m = as<S>(m0), v = as<S>(v0);
            const std::vector<W> w_before = w;
            const std::vector<S> m_before = m, v_before = v;
            const std::uint64_t t = 3;
            fewbits::adamw_update<W, S>(std::span<W>(w), std::span<S>(m), std::span<S>(v), g, o, t, p, s);
            const double lr = o.lr, b1 = o.beta1, b2 = o.beta2;
            const auto decay = static_cast<float>(1.0 - lr * static_cast<double>(o.weight_decay));
            const auto c1 = static_cast<float>(1.0 - b1), c2 = static_cast<float>(1.0 - b2);
            const auto step_size = static_cast<float>(lr / (1.0 - std::pow(b1, 3.0)));
            const auto root_bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(b2, 3.0)));
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint64_t c = s.offset + i;
                const S want_m = stored<S>(std::fma(o.beta1, value_of(m_before[i]), c1 * g[i]), p,
                                           fewbits::random_word(s.rng, fewbits::adamw_m_seed(s), c));
                const S want_v = stored<S>(std::fma(c2 * g[i], g[i], o.beta2 * value_of(v_before[i])), p,
                                           fewbits::random_word(s.rng, fewbits::adamw_v_seed(s), c));
                const float den = std::sqrt(value_of(want_v)) / root_bc2 + o.eps;
                const W want_w = stored<W>(std::fma(-step_size, value_of(want_m) / den, value_of(w_before[i]) * decay),
                                           p, fewbits::random_word(s.rng, s.seed, c));
                if (bits_of(want_m) != bits_of(m[i]) || bits_of(want_v) != bits_of(v[i]) ||
                    bits_of(want_w) != bits_of(w[i])) {
                    log.add(arch + " adamw_update<" + name_of<W>() + ", " + name_of<S>() + "> " + describe(p) + " n " +
                            std::to_string(n) + " index " + std::to_string(i) + ": want w " + hex(bits_of(want_w), 8) +
                            " m " + hex(bits_of(want_m), 8) + " v " + hex(bits_of(want_v), 8) + ", got w " +
                            hex(bits_of(w[i]), 8) + " m " + hex(bits_of(m[i]), 8) + " v " + hex(bits_of(v[i]), 8) +
                            " (seed " + hex(seed, 16) + ")");
                    break;
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("fused sgd_update equals convert(fma(-lr, g, w)) on every instruction set, every length and tail",
          "[updates]")
{
    for_each_simd([](const std::string& arch) {
        failure_log log;
        sgd_case<fewbits::bfloat16>(arch, 0x5E1, log);
        sgd_case<fewbits::float16>(arch, 0x5E2, log);
        sgd_case<fewbits::float8_e4m3fn>(arch, 0x5E3, log);
        sgd_case<fewbits::float8_e5m2>(arch, 0x5E4, log);
        INFO(arch);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("fused sgd_momentum_update equals the element contract on every instruction set, float and low-precision "
          "velocities",
          "[updates][momentum]")
{
    for_each_simd([](const std::string& arch) {
        failure_log log;
        momentum_case<fewbits::bfloat16, float>(arch, 0x3A1, log);
        momentum_case<fewbits::bfloat16, fewbits::bfloat16>(arch, 0x3A2, log);
        momentum_case<fewbits::float16, fewbits::float8_e5m2>(arch, 0x3A3, log);
        momentum_case<fewbits::float8_e4m3fn, fewbits::bfloat16>(arch, 0x3A4, log);
        INFO(arch);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("fused adamw_update equals the element contract on every instruction set, every weight and moment storage",
          "[updates][adamw]")
{
    for_each_simd([](const std::string& arch) {
        failure_log log;
        adamw_case<float, float>(arch, 0xAD1, log);
        adamw_case<fewbits::bfloat16, float>(arch, 0xAD2, log);
        adamw_case<fewbits::bfloat16, fewbits::bfloat16>(arch, 0xAD3, log);
        adamw_case<fewbits::float16, fewbits::float16>(arch, 0xAD4, log);
        adamw_case<fewbits::float8_e4m3fn, fewbits::bfloat16>(arch, 0xAD5, log);
        adamw_case<float, fewbits::float16>(arch, 0xAD6, log);
        INFO(arch);
        FEWBITS_CHECK_CLEAN(log);
    });
}

#if FEWBITS_DISPATCH
namespace {
std::uint32_t sse2_fma_bits(float a, float b, float c)
{
    using F = fewbits::detail::f32_lanes<4>;
    const F r = fewbits::detail::fma_via_double<4>(F{a, a, a, a}, F{b, b, b, b}, F{c, c, c, c});
    return std::bit_cast<std::uint32_t>(r[0]);
}
}  // namespace

TEST_CASE("the SSE2 fused multiply-add (double sum rounded to odd) equals std::fma", "[updates][fma]")
{
    prng r{0xF3A};
    failure_log log;
    auto check = [&](float a, float b, float c) {
        const std::uint32_t want = std::bit_cast<std::uint32_t>(std::fma(a, b, c));
        const std::uint32_t got = sse2_fma_bits(a, b, c);
        if (want != got)
            log.add("fma(" + fewbits_test::show(a) + ", " + fewbits_test::show(b) + ", " + fewbits_test::show(c) +
                    "): want " + hex(want, 8) + ", got " + hex(got, 8));
    };
    const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p-149f, -0x1p-126f, std::numeric_limits<float>::max(),
                              std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                              0x1.000002p0f, 0x1.fffffep-1f, 3.0f};
    for (float a : specials)
        for (float b : specials)
            for (float c : specials)
                if (!(std::isnan(a) || std::isnan(b) || std::isnan(c))) check(a, b, c);
    for (int k = 0; k < 1 << 20; ++k) {
        const float a = r.logu(-80, 80), b = r.logu(-80, 80);
        switch (k & 3) {
        case 0: check(a, b, r.logu(-160, 160)); break;
        // c next to -a*b: massive cancellation, where a double-rounded sum would go wrong.
        case 1: check(a, b, -static_cast<float>(static_cast<double>(a) * b)); break;
        // c a float near a*b's rounding boundary: the product's low bits decide ties.
        case 2: {
            const float ab = static_cast<float>(static_cast<double>(a) * b);
            check(a, b, std::nextafter(ab, 0.0f) * 0x1p-25f);
            break;
        }
        // results in float's subnormal range.
        default: check(r.logu(-75, -60), r.logu(-75, -60), r.logu(-149, -126)); break;
        }
    }
    // Products whose float neighbours tie: a * b = (1 + 2^-23 k) * ... with c = half an ulp.
    for (int k = 0; k < 1 << 16; ++k) {
        const float a = 1.0f + static_cast<float>(r.u32() >> 9) * 0x1p-23f, b = 1.0f + 0x1p-12f;
        for (float c : {0x1p-24f, -0x1p-24f, 0x1p-25f, 0x1p-48f, -0x1p-48f, 0x1p-70f}) check(a, b, c);
    }
    FEWBITS_CHECK_CLEAN(log);
}
#endif
