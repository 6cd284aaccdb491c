// sgd_momentum_update: the velocity update v = fma(mu, v, g) stored in float (exactly) or in
// a low-precision format (rounded with its own stream), then w = Q(fma(-lr, v, w)), checked
// element by element against the scalar core, whole and chunked, with its argument errors.
#include "fewbits_catch.hpp"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace {

template <class W, class V>
std::size_t momentum_mismatches(int n, fewbits::policy p, fewbits::stream s)
{
    std::vector<W> w(n);
    std::vector<V> v(n);
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) {
        w[i] = W(std::sin(1.0f * i) * 4.0f);
        if constexpr (std::is_same_v<V, float>)
            v[i] = std::cos(1.0f * i);
        else
            v[i] = V(std::cos(1.0f * i));
        g[i] = std::sin(0.37f * i) * 0.25f;
    }
    const std::vector<W> w0 = w;
    const std::vector<V> v0 = v;
    const float lr = 0.125f, mu = 0.9f;
    fewbits::sgd_momentum_update<W, V>(w, v, g, lr, mu, p, s);
    std::size_t bad = 0;
    for (int i = 0; i < n; ++i) {
        const std::uint64_t counter = s.offset + static_cast<std::uint64_t>(i);
        float stored_v;
        if constexpr (std::is_same_v<V, float>) {
            stored_v = std::fma(mu, v0[i], g[i]);
            bad += std::bit_cast<std::uint32_t>(stored_v) != std::bit_cast<std::uint32_t>(v[i]);
        } else {
            const V expect_v = fewbits::convert<V>(std::fma(mu, static_cast<float>(v0[i]), g[i]), p,
                                                   fewbits::random_word(s.rng, fewbits::velocity_seed(s), counter));
            bad += expect_v.bits() != v[i].bits();
            stored_v = static_cast<float>(expect_v);
        }
        const W expect_w = fewbits::convert<W>(std::fma(-lr, stored_v, static_cast<float>(w0[i])), p,
                                               fewbits::random_word(s.rng, s.seed, counter));
        bad += expect_w.bits() != w[i].bits();
    }
    return bad;
}

}  // namespace

TEST_CASE("momentum update matches the scalar core for float and low-precision velocities", "[kernels][momentum]")
{
    for (int n : {0, 1, 7, 16, 33, 70, 513, 2000}) {
        for (auto mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic, fewbits::rounding::toward_zero}) {
            for (auto rng : {fewbits::generator::counter_hash, fewbits::generator::philox}) {
                const fewbits::policy p{mode, fewbits::overflow::saturate, 16};
                const fewbits::stream s{0xABCDEFull + static_cast<std::uint64_t>(n), ~std::uint64_t{0} - 100, rng};
                INFO("n " << n << " mode " << static_cast<int>(mode) << " rng " << static_cast<int>(rng));
                CHECK(momentum_mismatches<fewbits::bfloat16, float>(n, p, s) == 0);
                CHECK(momentum_mismatches<fewbits::bfloat16, fewbits::float8_e5m2>(n, p, s) == 0);
                CHECK(momentum_mismatches<fewbits::float8_e4m3fn, fewbits::bfloat16>(n, p, s) == 0);
            }
        }
    }
}

TEST_CASE("chunked momentum updates equal one whole update", "[kernels][momentum]")
{
    const int n = 3000;
    const fewbits::policy p{fewbits::rounding::stochastic};
    const fewbits::stream s{99, 12345};
    std::vector<fewbits::bfloat16> w(n), w_chunked;
    std::vector<fewbits::float8_e5m2> v(n), v_chunked;
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) {
        w[i] = fewbits::bfloat16(std::sin(0.1f * i));
        v[i] = fewbits::float8_e5m2(std::cos(0.2f * i));
        g[i] = std::sin(0.3f * i);
    }
    w_chunked = w;
    v_chunked = v;
    fewbits::sgd_momentum_update<fewbits::bfloat16, fewbits::float8_e5m2>(w, v, g, 0.01f, 0.5f, p, s);
    const int cuts[] = {0, 1, 17, 600, 1100, 2999, n};
    for (int c = 0; c + 1 < 7; ++c) {
        const auto a = static_cast<std::size_t>(cuts[c]), len = static_cast<std::size_t>(cuts[c + 1] - cuts[c]);
        fewbits::sgd_momentum_update<fewbits::bfloat16, fewbits::float8_e5m2>(
            std::span(w_chunked).subspan(a, len), std::span(v_chunked).subspan(a, len),
            std::span<const float>(g).subspan(a, len), 0.01f, 0.5f, p, fewbits::stream{s.seed, s.offset + a});
    }
    std::size_t bad = 0;
    for (int i = 0; i < n; ++i) bad += w[i].bits() != w_chunked[i].bits() || v[i].bits() != v_chunked[i].bits();
    CHECK(bad == 0);
}

TEST_CASE("momentum update rejects bad arguments before writing", "[kernels][momentum][args]")
{
    std::vector<fewbits::bfloat16> w(4, fewbits::bfloat16(1.0f));
    std::vector<float> v(4, 0.5f), g(4, 1.0f), short_g(3, 1.0f);
    auto message = [](auto&& f) {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no exception");
    };
    using fewbits::sgd_momentum_update;
    using B = fewbits::bfloat16;
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, short_g, 0.1f, 0.9f); }).find("g.size()") != std::string::npos);
    CHECK(message([&] { sgd_momentum_update<B, float>(w, std::span(v).first(2), g, 0.1f, 0.9f); }).find("velocity") !=
          std::string::npos);
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, NAN, 0.9f); }).find("lr") != std::string::npos);
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, 0.1f, 1.5f); }).find("momentum") != std::string::npos);
    // One range with sgd_options: momentum 1 would never forget a gradient.
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, 0.1f, 1.0f); }) ==
          "fewbits: momentum must be in [0, 1), got 1");
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, -1e-10f, 0.9f); }) == "no exception");
    w.assign(4, B(1.0f));
    v.assign(4, 0.5f);
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, INFINITY, 0.9f); }) == "fewbits: lr must be finite, got inf");
    CHECK(message([&] { sgd_momentum_update<B, float>(w, v, g, 0.1f, -0.1f); }).find("momentum") != std::string::npos);
    CHECK(message([&] {
              sgd_momentum_update<B, float>(w, v, g, 0.1f, 0.9f, {fewbits::rounding::stochastic, {}, 0});
          }).find("random_bits") != std::string::npos);
    for (int i = 0; i < 4; ++i) {
        CHECK(w[i].bits() == B(1.0f).bits());
        CHECK(v[i] == 0.5f);
    }
}
