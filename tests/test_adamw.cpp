// adamw_update: bit for bit against a scalar reference built from fewbits::convert (every
// weight and moment storage, SR and RTN, odd lengths, chunked = whole), W = S = float
// against PyTorch's formulas computed in double over a few hundred steps, unbiasedness of
// the stochastically rounded weight and moments, stagnation of small updates and of weight
// decay under round-to-nearest (and not under SR), the argument errors, and PyTorch's own
// float32 AdamW steps (tests/data/adamw_reference.txt, from scripts/adamw_reference.py).
#include "fewbits_catch.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace {

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
std::string name_of()
{
    if constexpr (std::is_same_v<T, float>)
        return "float";
    else
        return fewbits::format_name<T>();
}

template <class T>
std::uint32_t bits_of(T x)
{
    if constexpr (std::is_same_v<T, float>)
        return std::bit_cast<std::uint32_t>(x);
    else
        return x.bits();
}

// The contract of updates.hpp written element by element with the scalar core.
template <class W, class S>
void reference_step(std::vector<W>& w, std::vector<S>& m, std::vector<S>& v, const std::vector<float>& g,
                    const fewbits::adamw_options& o, std::uint64_t t, fewbits::policy p, fewbits::stream s)
{
    const double lr = o.lr, wd = o.weight_decay, b1 = o.beta1, b2 = o.beta2;
    const auto decay = static_cast<float>(1.0 - lr * wd);
    const auto c1 = static_cast<float>(1.0 - b1), c2 = static_cast<float>(1.0 - b2);
    const auto step_size = static_cast<float>(lr / (1.0 - std::pow(b1, static_cast<double>(t))));
    const auto root_bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(b2, static_cast<double>(t))));
    for (std::size_t i = 0; i < w.size(); ++i) {
        const std::uint64_t c = s.offset + i;
        m[i] = stored<S>(std::fma(o.beta1, value_of(m[i]), c1 * g[i]), p,
                         fewbits::random_word(s.rng, fewbits::adamw_m_seed(s), c));
        v[i] = stored<S>(std::fma(c2 * g[i], g[i], o.beta2 * value_of(v[i])), p,
                         fewbits::random_word(s.rng, fewbits::adamw_v_seed(s), c));
        const float denominator = std::sqrt(value_of(v[i])) / root_bc2 + o.eps;
        w[i] = stored<W>(std::fma(-step_size, value_of(m[i]) / denominator, value_of(w[i]) * decay), p,
                         fewbits::random_word(s.rng, s.seed, c));
    }
}

float input(std::size_t i, float scale, float phase)
{
    // Boundary values first, then smooth ones of varied magnitude.
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-6f, -3e-7f, 2.5f, -4.0f};
    if (i < 8) return special[i] * scale;
    return scale * std::sin(0.731f * static_cast<float>(i) + phase) * std::exp2(static_cast<float>(i % 13) - 8.0f);
}

template <class T>
T make(float x)
{
    if constexpr (std::is_same_v<T, float>)
        return x;
    else
        return T(x);
}

// An optimizer state of n elements: boundary values first, then varied magnitudes (v >= 0).
template <class W, class S>
void starting_state(std::size_t n, std::vector<W>& w, std::vector<S>& m, std::vector<S>& v)
{
    w.resize(n);
    m.resize(n);
    v.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = make<W>(input(i, 2.0f, 0.0f));
        m[i] = make<S>(input(i, 0.1f, 1.0f));
        v[i] = make<S>(std::fabs(input(i, 0.01f, 2.0f)));
    }
}

// Three steps of the kernel against three steps of the reference; counts differing values.
template <class W, class S>
std::size_t adamw_mismatches(std::size_t n, fewbits::policy p, fewbits::stream s)
{
    std::vector<W> w;
    std::vector<S> m, v;
    std::vector<float> g(n);
    starting_state(n, w, m, v);
    std::vector<W> rw = w;
    std::vector<S> rm = m, rv = v;
    fewbits::adamw_options o;
    o.lr = 0.01f;
    o.weight_decay = 0.1f;
    std::size_t bad = 0;
    for (std::uint64_t t = 1; t <= 3; ++t) {
        for (std::size_t i = 0; i < n; ++i) g[i] = input(i + t, 1.0f, static_cast<float>(t));
        const fewbits::stream st{s.seed + t, s.offset, s.rng};
        fewbits::adamw_update<W, S>(w, m, v, g, o, t, p, st);
        reference_step<W, S>(rw, rm, rv, g, o, t, p, st);
        for (std::size_t i = 0; i < n; ++i)
            bad += (bits_of(w[i]) != bits_of(rw[i])) + (bits_of(m[i]) != bits_of(rm[i])) +
                   (bits_of(v[i]) != bits_of(rv[i]));
    }
    return bad;
}

template <class W, class S>
void check_against_reference()
{
    for (std::size_t n : {0u, 1u, 7u, 33u, 511u, 513u, 1100u}) {
        for (auto mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic}) {
            for (auto rng : {fewbits::generator::counter_hash, fewbits::generator::philox}) {
                for (int bits : {32, 7}) {
                    if (mode != fewbits::rounding::stochastic && bits != 32) continue;
                    const fewbits::policy p{mode, fewbits::overflow::saturate, bits};
                    const fewbits::stream s{0x5EEDull + n, ~std::uint64_t{0} - 300, rng};
                    INFO("W " << name_of<W>() << " S " << name_of<S>() << " n " << n
                              << " mode " << static_cast<int>(mode) << " rng " << static_cast<int>(rng)
                              << " random_bits " << bits << " seed " << s.seed);
                    CHECK(adamw_mismatches<W, S>(n, p, s) == 0);
                }
            }
        }
    }
}

template <class W>
void check_every_moment_storage()
{
    check_against_reference<W, float>();
    check_against_reference<W, fewbits::bfloat16>();
    check_against_reference<W, fewbits::float16>();
}

std::string message_of(auto&& f)
{
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no exception";
}

// Mean and standard error of the mean of the values (as double).
template <class T>
std::pair<double, double> mean_and_sem(const std::vector<T>& x)
{
    double sum = 0.0, sq = 0.0;
    for (const T& e : x) sum += value_of(e);
    const double mean = sum / static_cast<double>(x.size());
    for (const T& e : x) sq += (value_of(e) - mean) * (value_of(e) - mean);
    return {mean, std::sqrt(sq / static_cast<double>(x.size() - 1) / static_cast<double>(x.size()))};
}

}  // namespace

TEST_CASE("adamw_update matches the scalar reference for float weights", "[adamw]")
{
    check_every_moment_storage<float>();
}
TEST_CASE("adamw_update matches the scalar reference for bfloat16 weights", "[adamw]")
{
    check_every_moment_storage<fewbits::bfloat16>();
}
TEST_CASE("adamw_update matches the scalar reference for float16 weights", "[adamw]")
{
    check_every_moment_storage<fewbits::float16>();
}
TEST_CASE("adamw_update matches the scalar reference for e4m3 weights", "[adamw]")
{
    check_every_moment_storage<fewbits::float8_e4m3fn>();
}

TEST_CASE("chunked adamw updates equal one whole update", "[adamw]")
{
    using B = fewbits::bfloat16;
    const std::size_t n = 3000;
    const fewbits::policy p{fewbits::rounding::stochastic};
    const fewbits::stream s{77, 1u << 20};
    std::vector<fewbits::float8_e4m3fn> w(n);
    std::vector<B> m(n), v(n);
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) {
        w[i] = fewbits::float8_e4m3fn(input(i, 3.0f, 0.0f));
        m[i] = B(input(i, 0.1f, 1.0f));
        v[i] = B(std::fabs(input(i, 0.01f, 2.0f)));
        g[i] = input(i, 1.0f, 3.0f);
    }
    auto wc = w;
    auto mc = m, vc = v;
    const fewbits::adamw_options o;
    fewbits::adamw_update<fewbits::float8_e4m3fn, B>(w, m, v, g, o, 5, p, s);
    const std::size_t cuts[] = {0, 1, 17, 600, 1100, 2999, n};
    for (int c = 0; c + 1 < 7; ++c) {
        const std::size_t a = cuts[c], len = cuts[c + 1] - cuts[c];
        fewbits::adamw_update<fewbits::float8_e4m3fn, B>(std::span(wc).subspan(a, len), std::span(mc).subspan(a, len),
                                                         std::span(vc).subspan(a, len),
                                                         std::span<const float>(g).subspan(a, len), o, 5, p,
                                                         fewbits::stream{s.seed, s.offset + a});
    }
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
        bad += w[i].bits() != wc[i].bits() || m[i].bits() != mc[i].bits() || v[i].bits() != vc[i].bits();
    CHECK(bad == 0);
}

TEST_CASE("adamw_update with float storage follows PyTorch's AdamW over 300 steps", "[adamw]")
{
    // torch.optim.AdamW (amsgrad off, maximize off) written in double, with one float
    // constant as PyTorch has it: param.mul_(1 - lr * wd) multiplies a float tensor by the
    // scalar rounded to float (with the exact double factor the two drift apart by its
    // rounding error, 3e-8 of w per step: 9e-6 after 300 steps, an artefact of the
    // reference). Otherwise the float kernel differs only by float rounding: at most an ulp
    // or two of w per step (the decay product and the fma), and a relative 1e-7 of the step.
    // An error in the formula (a bias correction, the decay, eps outside the root) moves w by
    // a sizeable part of lr = 0.01 within a step.
    const std::size_t n = 257;
    fewbits::adamw_options o;
    o.lr = 0.01f;
    o.beta1 = 0.8f;
    o.beta2 = 0.99f;
    o.eps = 1e-6f;
    o.weight_decay = 0.05f;
    std::vector<float> w(n), m(n, 0.0f), v(n, 0.0f), g(n);
    std::vector<double> wd(n), md(n, 0.0), vd(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) wd[i] = w[i] = input(i, 1.5f, 0.5f);
    const double lr = o.lr, b1 = o.beta1, b2 = o.beta2, eps = o.eps;
    const double decay_factor = static_cast<float>(1.0 - lr * static_cast<double>(o.weight_decay));
    double worst_w = 0.0, worst_m = 0.0, worst_v = 0.0;
    for (std::uint64_t t = 1; t <= 300; ++t) {
        for (std::size_t i = 0; i < n; ++i)
            g[i] = std::sin(0.05f * static_cast<float>(i * t) + 0.3f) * (i % 5 == 0 ? 1e-3f : 0.5f);
        fewbits::adamw_update<float, float>(w, m, v, g, o, t);
        const double bc1 = 1.0 - std::pow(b1, static_cast<double>(t));
        const double bc2 = 1.0 - std::pow(b2, static_cast<double>(t));
        for (std::size_t i = 0; i < n; ++i) {
            wd[i] *= decay_factor;
            md[i] = b1 * md[i] + (1.0 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1.0 - b2) * static_cast<double>(g[i]) * g[i];
            wd[i] -= lr / bc1 * md[i] / (std::sqrt(vd[i]) / std::sqrt(bc2) + eps);
            worst_w = std::max(worst_w, std::fabs(w[i] - wd[i]) / std::max(1.0, std::fabs(wd[i])));
            worst_m = std::max(worst_m, std::fabs(m[i] - md[i]));
            worst_v = std::max(worst_v, std::fabs(v[i] - vd[i]) / vd[i]);
        }
    }
    INFO("worst w error " << worst_w << " m error " << worst_m << " v relative error " << worst_v);
    CHECK(worst_w < 1e-5);
    CHECK(worst_m < 1e-6);  // |g| <= 0.5: m's float rounding is a few 1e-8
    CHECK(worst_v < 1e-5);
}

TEST_CASE("stochastically rounded adamw weights are unbiased", "[adamw][stats]")
{
    // One step from the same state for N elements: each element's rounding uses its own word,
    // so the stored weights are N independent draws whose mean must be the float update.
    const std::size_t N = 1u << 18;
    fewbits::adamw_options o;
    o.lr = 0.013f;
    o.weight_decay = 0.3f;
    const float w0 = 1.375f, m0 = 0.021f, v0 = 0.0013f, g0 = -0.27f;
    std::vector<float> exact_w(1, w0), exact_m(1, m0), exact_v(1, v0);
    fewbits::adamw_update<float, float>(exact_w, exact_m, exact_v, std::vector<float>(1, g0), o, 3);
    const std::vector<float> g(N, g0);
    auto check = [&](auto w_type) {
        using W = decltype(w_type);
        std::vector<W> w(N, W(w0));
        REQUIRE(static_cast<float>(W(w0)) == w0);  // the start is on the grid of both formats
        std::vector<float> m(N, m0), v(N, v0);
        fewbits::adamw_update<W, float>(w, m, v, g, o, 3, {fewbits::rounding::stochastic}, {4242});
        const auto [mean, sem] = mean_and_sem(w);
        INFO(fewbits::format_name<W>() << " mean " << mean << " exact " << exact_w[0] << " sem " << sem);
        CHECK(sem > 0.0);  // exact_w lies between two grid points: the test can see a bias
        CHECK(std::fabs(mean - exact_w[0]) <= 5.0 * sem);
    };
    check(fewbits::bfloat16{});
    check(fewbits::float8_e4m3fn{});
}

TEST_CASE("stochastically rounded bfloat16 adamw moments are unbiased", "[adamw][stats]")
{
    using B = fewbits::bfloat16;
    const std::size_t N = 1u << 18;
    const fewbits::adamw_options o;
    const float m0 = 0.0213f, v0 = 0.00137f, g0 = -0.271f;
    std::vector<float> exact_w(1, 1.0f), exact_m(1, m0), exact_v(1, v0);
    // The exact moments are those of a float update from the same (bfloat16-representable) state.
    exact_m[0] = static_cast<float>(B(m0));
    exact_v[0] = static_cast<float>(B(v0));
    fewbits::adamw_update<float, float>(exact_w, exact_m, exact_v, std::vector<float>(1, g0), o, 2);
    std::vector<float> w(N, 1.0f);
    std::vector<B> m(N, B(m0)), v(N, B(v0));
    fewbits::adamw_update<float, B>(w, m, v, std::vector<float>(N, g0), o, 2, {fewbits::rounding::stochastic}, {99});
    const auto [m_mean, m_sem] = mean_and_sem(m);
    const auto [v_mean, v_sem] = mean_and_sem(v);
    INFO("m mean " << m_mean << " exact " << exact_m[0] << " sem " << m_sem);
    INFO("v mean " << v_mean << " exact " << exact_v[0] << " sem " << v_sem);
    CHECK(m_sem > 0.0);
    CHECK(v_sem > 0.0);
    CHECK(std::fabs(m_mean - exact_m[0]) <= 5.0 * m_sem);
    CHECK(std::fabs(v_mean - exact_v[0]) <= 5.0 * v_sem);
}

TEST_CASE("small adamw steps stagnate on bfloat16 weights under RTN and not under SR", "[adamw][stats]")
{
    // At step 1 AdamW moves every weight by about lr (m / sqrt(v) = sign(g) after the bias
    // corrections). With w = 1 and lr = 1e-3, below half of bfloat16's step under 1 (2^-9),
    // round-to-nearest gives back 1 at every step; stochastic rounding moves the weights,
    // by lr per step on average.
    using B = fewbits::bfloat16;
    const std::size_t N = 1u << 16;
    fewbits::adamw_options o;
    o.lr = 1e-3f;
    o.weight_decay = 0.0f;
    const std::vector<float> g(N, 0.5f);
    for (auto mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic}) {
        std::vector<B> w(N, B(1.0f));
        std::vector<float> m(N, 0.0f), v(N, 0.0f);
        for (std::uint64_t t = 1; t <= 10; ++t)
            fewbits::adamw_update<B, float>(w, m, v, g, o, t, {mode}, {t});
        const auto [mean, sem] = mean_and_sem(w);
        INFO("mode " << static_cast<int>(mode) << " mean " << mean << " sem " << sem);
        if (mode == fewbits::rounding::nearest_even) {
            CHECK(mean == 1.0);
        } else {
            // Every step is 1e-3 (g constant: m / sqrt(v) stays 1 after the corrections) up to
            // eps's relative 1e-8 and the float rounding: 10 steps give 1 - 0.01.
            CHECK(std::fabs(mean - (1.0 - 10 * 1e-3)) <= 5.0 * sem + 1e-6);
        }
    }
}

TEST_CASE("weight decay below half a bfloat16 step: RTN applies nothing, SR applies it in expectation",
          "[adamw][stats]")
{
    using B = fewbits::bfloat16;
    const std::size_t N = 1u << 20;
    fewbits::adamw_options o;
    o.lr = 1e-3f;
    o.weight_decay = 1e-2f;  // lr * wd = 1e-5 of w per step, half a step under 1 is 2^-9
    const std::vector<float> g(N, 0.0f);  // no gradient: decay is the whole update
    std::vector<B> rtn(N, B(1.0f)), sr(N, B(1.0f));
    std::vector<float> m(N, 0.0f), v(N, 0.0f);
    for (std::uint64_t t = 1; t <= 5; ++t) fewbits::adamw_update<B, float>(rtn, m, v, g, o, t);
    CHECK(mean_and_sem(rtn).first == 1.0);
    fewbits::adamw_update<B, float>(sr, m, v, g, o, 1, {fewbits::rounding::stochastic}, {7});
    const auto [mean, sem] = mean_and_sem(sr);
    const double expected = static_cast<double>(static_cast<float>(1.0 - 1e-3 * static_cast<double>(1e-2f)));
    INFO("SR mean " << mean << " expected " << expected << " sem " << sem);
    CHECK(std::fabs(mean - expected) <= 5.0 * sem);
    CHECK(1.0 - mean > 10.0 * sem);  // the decay is visible, not lost in the noise
}

TEST_CASE("adamw_update rejects bad arguments before writing", "[adamw][args]")
{
    using B = fewbits::bfloat16;
    std::vector<B> w(4, B(1.0f));
    std::vector<B> m(4, B(0.5f)), v(4, B(0.25f)), short_m(3, B(0.5f));
    std::vector<float> g(4, 1.0f), short_g(2, 1.0f);
    const fewbits::adamw_options good;
    auto with = [&](auto change) {
        fewbits::adamw_options o = good;
        change(o);
        return message_of([&] { fewbits::adamw_update<B, B>(w, m, v, g, o, 1); });
    };
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, short_m, v, g, good, 1); }) ==
          "fewbits: m.size() (3) must equal w.size() (4)");
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, m, short_m, g, good, 1); }) ==
          "fewbits: v.size() (3) must equal w.size() (4)");
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, m, v, short_g, good, 1); }) ==
          "fewbits: g.size() (2) must equal w.size() (4)");
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, m, v, g, good, 0); }) ==
          "fewbits: step must be at least 1 (the first update is step 1), got 0");
    CHECK(message_of([&] {
              fewbits::adamw_update<B, B>(w, m, v, g, good, 1, {fewbits::rounding::stochastic, {}, 33});
          }).find("random_bits") != std::string::npos);
    CHECK(with([](auto& o) { o.lr = -1e-10f; }) == "fewbits: adamw_options.lr must be finite and non-negative, got -1e-10");
    CHECK(with([](auto& o) { o.lr = NAN; }) == "fewbits: adamw_options.lr must be finite and non-negative, got nan");
    CHECK(with([](auto& o) { o.lr = INFINITY; }) == "fewbits: adamw_options.lr must be finite and non-negative, got inf");
    CHECK(with([](auto& o) { o.beta1 = 1.0f; }) == "fewbits: adamw_options.beta1 must be in [0, 1), got 1");
    CHECK(with([](auto& o) { o.beta1 = NAN; }) == "fewbits: adamw_options.beta1 must be in [0, 1), got nan");
    CHECK(with([](auto& o) { o.beta2 = -0.5f; }) == "fewbits: adamw_options.beta2 must be in [0, 1), got -0.5");
    CHECK(with([](auto& o) { o.eps = 0.0f; }) == "fewbits: adamw_options.eps must be positive and finite, got 0");
    CHECK(with([](auto& o) { o.eps = INFINITY; }) == "fewbits: adamw_options.eps must be positive and finite, got inf");
    CHECK(with([](auto& o) { o.weight_decay = -0.01f; }) ==
          "fewbits: adamw_options.weight_decay must be finite and non-negative, got -0.01");
    CHECK(with([](auto& o) { o.weight_decay = NAN; }) ==
          "fewbits: adamw_options.weight_decay must be finite and non-negative, got nan");
    for (int i = 0; i < 4; ++i) {
        CHECK(w[i].bits() == B(1.0f).bits());
        CHECK(m[i].bits() == B(0.5f).bits());
        CHECK(v[i].bits() == B(0.25f).bits());
    }
    // The edges of the valid ranges are accepted: lr = 0, beta = 0, weight_decay = 0.
    CHECK(with([](auto& o) {
              o.lr = 0.0f;
              o.beta1 = 0.0f;
              o.beta2 = 0.0f;
              o.weight_decay = 0.0f;
          }) == "no exception");
}

#if defined(FEWBITS_TEST_DATA_DIR)
TEST_CASE("adamw_update with float storage follows torch.optim.AdamW's own float32 steps", "[adamw][pytorch]")
{
    // tests/data/adamw_reference.txt, written by scripts/adamw_reference.py with Debian's
    // python3-torch 1.13 (single-tensor loop): 12 steps of 24 parameters, every option exact in
    // float. PyTorch rounds some products separately where the kernel fuses them (m = b1 m +
    // (1 - b1) g in two roundings, addcdiv), so a step may differ by a few float ulps of its
    // terms; m and v forget old errors (beta < 1) and w's decay product is the same float on
    // both sides, so 12 steps stay within 1e-6 relative (m: see below). A different formula (bias corrections, decay, eps placement) is
    // off by far more.
    std::FILE* f = std::fopen(FEWBITS_TEST_DATA_DIR "/adamw_reference.txt", "r");
    REQUIRE(f != nullptr);
    std::vector<std::string> lines;
    char buffer[1 << 16];
    while (std::fgets(buffer, sizeof buffer, f)) lines.emplace_back(buffer);
    std::fclose(f);
    auto floats = [](const std::string& line, const char* tag) {
        REQUIRE(line.rfind(tag, 0) == 0);
        std::vector<float> out;
        const char* p = line.c_str() + std::strlen(tag);
        char* end = nullptr;
        for (float x = std::strtof(p, &end); end != p; x = std::strtof(p, &end)) {
            out.push_back(x);
            p = end;
        }
        return out;
    };
    const auto opts = floats(lines.at(0), "options");
    REQUIRE(opts.size() == 5);
    fewbits::adamw_options o{opts[0], opts[1], opts[2], opts[3], opts[4]};
    std::size_t n = 0, steps = 0;
    REQUIRE(std::sscanf(lines.at(1).c_str(), "n %zu steps %zu", &n, &steps) == 2);
    std::vector<float> w = floats(lines.at(2), "w0"), m(n, 0.0f), v(n, 0.0f);
    REQUIRE(w.size() == n);
    REQUIRE(lines.size() == 3 + 4 * steps);
    double worst_w = 0.0, worst_m = 0.0, worst_v = 0.0;
    std::vector<double> m_scale(n, 0.0);
    for (std::size_t t = 1; t <= steps; ++t) {
        const std::size_t at = 3 + 4 * (t - 1);
        const auto g = floats(lines[at], "g");
        const auto tw = floats(lines[at + 1], "w"), tm = floats(lines[at + 2], "m"), tv = floats(lines[at + 3], "v");
        REQUIRE(g.size() == n);
        const std::vector<float> m_before = m;
        fewbits::adamw_update<float, float>(w, m, v, g, o, t);
        for (std::size_t i = 0; i < n; ++i) {
            worst_w = std::max(worst_w, std::fabs(static_cast<double>(w[i]) - tw[i]) / std::max(std::fabs(tw[i]), 1e-3f));
            // m = b1 m + (1 - b1) g: PyTorch rounds b1 m before adding (the kernel fuses it), at
            // most an ulp of the step's terms, and each old error shrinks by b1 per step. So the
            // difference stays below 2^-23 / (1 - b1) = 9.5e-7 of the largest terms so far (m
            // cancels when g changes sign: relative to m itself it can be much larger).
            m_scale[i] = std::max(m_scale[i], std::fabs(o.beta1 * m_before[i]) + std::fabs((1.0 - o.beta1) * g[i]));
            worst_m = std::max(worst_m, std::fabs(static_cast<double>(m[i]) - tm[i]) / m_scale[i]);
            worst_v = std::max(worst_v, std::fabs(static_cast<double>(v[i]) - tv[i]) / tv[i]);
        }
    }
    INFO("relative differences from PyTorch: w " << worst_w << " m " << worst_m << " v " << worst_v);
    CHECK(worst_w < 1e-6);
    CHECK(worst_m < 1e-6);
    CHECK(worst_v < 1e-6);
}
#endif

namespace {

// The words overload with the stream's own words against the stream call, bit for bit.
template <class W, class S>
std::size_t words_mismatches(std::size_t n, fewbits::policy p, fewbits::stream s)
{
    std::vector<W> w;
    std::vector<S> m, v;
    std::vector<float> g(n);
    starting_state(n, w, m, v);
    for (std::size_t i = 0; i < n; ++i) g[i] = input(i + 5, 1.0f, 4.0f);
    auto w2 = w;
    auto m2 = m, v2 = v;
    auto words_of = [n](bool needed, fewbits::stream st) {
        std::vector<std::uint32_t> out(needed ? n : 0);
        fewbits::fill_random_words(st, out);
        return out;
    };
    const auto words = words_of(!std::is_same_v<W, float>, s);
    const auto m_words = words_of(!std::is_same_v<S, float>, {fewbits::adamw_m_seed(s), s.offset, s.rng});
    const auto v_words = words_of(!std::is_same_v<S, float>, {fewbits::adamw_v_seed(s), s.offset, s.rng});
    const fewbits::adamw_options o;
    fewbits::adamw_update<W, S>(w, m, v, g, o, 2, p, s);
    fewbits::adamw_update<W, S>(w2, m2, v2, g, o, 2, p, words, m_words, v_words);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < n; ++i)
        bad += (bits_of(w[i]) != bits_of(w2[i])) + (bits_of(m[i]) != bits_of(m2[i])) + (bits_of(v[i]) != bits_of(v2[i]));
    return bad;
}

}  // namespace

TEST_CASE("adamw_update with the caller's words equals the stream call given the stream's words", "[adamw][words]")
{
    for (std::size_t n : {0u, 1u, 33u, 1100u}) {
        for (auto mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic}) {
            const fewbits::policy p{mode};
            const fewbits::stream s{0xC0FFEEull + n, 12345, fewbits::generator::philox};
            INFO("n " << n << " mode " << static_cast<int>(mode));
            CHECK(words_mismatches<fewbits::bfloat16, fewbits::bfloat16>(n, p, s) == 0);
            CHECK(words_mismatches<fewbits::float8_e4m3fn, float>(n, p, s) == 0);
            CHECK(words_mismatches<float, fewbits::float16>(n, p, s) == 0);
            CHECK(words_mismatches<float, float>(n, p, s) == 0);
        }
    }
    using B = fewbits::bfloat16;
    std::vector<B> w(4, B(1.0f)), m(4), v(4);
    std::vector<float> wf(4, 1.0f), mf(4, 0.0f), vf(4, 0.0f), g(4, 0.5f);
    const std::vector<std::uint32_t> four(4, 7u), three(3, 7u);
    const fewbits::adamw_options o;
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, m, v, g, o, 1, {}, three, four, four); }) ==
          "fewbits: words.size() (3) must equal w.size() (4)");
    CHECK(message_of([&] { fewbits::adamw_update<B, B>(w, m, v, g, o, 1, {}, four, four, {}); }) ==
          "fewbits: v_words.size() (0) must equal w.size() (4)");
    CHECK(message_of([&] { fewbits::adamw_update<float, B>(wf, m, v, g, o, 1, {}, four, four, four); }) ==
          "fewbits: words must be empty for float storage (nothing rounds it), got size 4");
    CHECK(message_of([&] { fewbits::adamw_update<B, float>(w, mf, vf, g, o, 1, {}, four, three); }) ==
          "fewbits: m_words must be empty for float storage (nothing rounds it), got size 3");
    for (int i = 0; i < 4; ++i) CHECK((w[i].bits() == B(1.0f).bits() && wf[i] == 1.0f && mf[i] == 0.0f));
}
