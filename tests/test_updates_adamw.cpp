// adamw_update's fused pass on every instruction set of this process, bit for bit against the
// element contract (tests/updates_common.hpp has the inputs, lengths and policies): every
// weight and moment storage. Split from test_updates.cpp to keep each file's compile time short.
#include "updates_common.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <fewbits/fewbits.hpp>

using namespace updates_test;

namespace {

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

