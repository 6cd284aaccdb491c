// The fused optimizer updates (updates.hpp: sgd_update, sgd_momentum_update; adamw_update in
// test_updates_adamw.cpp) on
// every instruction set of this process, bit for bit against the contract written element by
// element with std::fma and the scalar core: every length 0..40 and a few past one block (the
// vector loops and their scalar tails), boundary inputs (zeros of both signs, +-1, subnormals,
// the formats' max and beyond, infinities and a NaN where the contract fixes the result), SR
// with 32 and 7 random bits and directed modes. Also the FMA of the SSE2 target, which has no
// FMA instruction (fma_via_double), against std::fma on random and adversarial triples.
#include "updates_common.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fewbits/fewbits.hpp>

using namespace updates_test;

namespace {

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
