// The training library's unit tests (fast): the GEMM against a double reference and across thread
// counts, layer gradients, losses, quantizer streams and scaling, epoch order, momentum and
// weight decay, low-precision weight storage, per-sample SR unbiasedness of a linear layer's
// weight gradient (and the bias RTN keeps), reproducibility and 1 vs N threads, and every
// argument error. The statistical theory tests (1/b law etc.) are in test_sgd_stats.cpp.
#include "fewbits_catch.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fewbits/fewbits.hpp>
#include <fewbits/training.hpp>

namespace {

using namespace fewbits::training;
using fewbits::policy;
using fewbits::rounding;

constexpr policy sr{rounding::stochastic};
constexpr policy rtn{rounding::nearest_even};

std::vector<float> pattern(std::size_t n, std::uint64_t seed)
{
    std::vector<std::uint32_t> w(n);
    fewbits::fill_random_words(fewbits::stream{seed}, w);
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(w[i] >> 8) * 0x1p-23f - 1.0f;
    return v;
}

// Thread counts for the 1 vs N checks. FEWBITS_TEST_ONE_THREAD (set by the build for tests
// run under an emulator, where qemu-user hangs in std::thread) keeps them at 1, and says so.
unsigned threads(unsigned n)
{
    static const bool one = [] {
        const bool set = std::getenv("FEWBITS_TEST_ONE_THREAD") != nullptr;
        if (set) std::printf("FEWBITS_TEST_ONE_THREAD is set: the 1 vs N thread checks run on 1 thread only\n");
        return set;
    }();
    return one ? 1u : n;
}

template <class F>
std::string thrown_message(F&& f)
{
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

#define REQUIRE_INVALID(expr, fragment)                                  \
    do {                                                                 \
        const std::string msg_ = thrown_message([&] { (void)(expr); }); \
        INFO(msg_);                                                      \
        CHECK(msg_.find(fragment) != std::string::npos);                 \
        CHECK(msg_.rfind("fewbits: ", 0) == 0);                          \
    } while (0)

}  // namespace

TEST_CASE("gemm matches a double reference and gives the same bits for 1, 2 and 3 threads")
{
    for (auto [m, n, k] : {std::array<std::size_t, 3>{1, 1, 1}, {7, 10, 13}, {32, 40, 70}, {130, 67, 200}}) {
        for (transpose op : {transpose::no, transpose::yes}) {
            const auto a = pattern(m * k, 1), b = pattern(k * n, 2), c0 = pattern(m * n, 3);
            const std::size_t lda = op == transpose::no ? k : m;
            std::vector<float> c1 = c0;
            gemm(m, n, k, a.data(), lda, op, b.data(), n, c1.data(), n, true, 1);
            double worst = 0.0;
            for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j) {
                    double ref = c0[i * n + j];
                    for (std::size_t p = 0; p < k; ++p)
                        ref += double(op == transpose::no ? a[i * k + p] : a[p * m + i]) * b[p * n + j];
                    worst = std::max(worst, std::fabs(ref - c1[i * n + j]));
                }
            INFO("m=" << m << " n=" << n << " k=" << k << " transposed=" << (op == transpose::yes));
            CHECK(worst <= 1e-5 * double(k));  // k float additions of terms below 1: k * 2^-24 * |partial sums|
            // Large enough that the rows really are shared (at least ~1 Mflop per thread).
            for (unsigned threads : {2u, 3u}) {
                std::vector<float> ct = c0;
                gemm(m, n, k, a.data(), lda, op, b.data(), n, ct.data(), n, true, ::threads(threads));
                CHECK(ct == c1);
            }
        }
    }
    // A product big enough to be split, checked bit for bit across thread counts.
    const std::size_t m = 300, n = 70, k = 300;
    const auto a = pattern(m * k, 4), b = pattern(k * n, 5);
    std::vector<float> c1(m * n), c4(m * n);
    gemm(m, n, k, a.data(), k, transpose::no, b.data(), n, c1.data(), n, false, 1);
    gemm(m, n, k, a.data(), k, transpose::no, b.data(), n, c4.data(), n, false, threads(4));
    CHECK(c1 == c4);
}

TEST_CASE("gemm computes exactly its contract's fused multiply-adds on every instruction set, every shape")
{
    // The contract (gemm.hpp): C(i, j) = fma(A(i, p), B(p, j), acc) for p = 0..k-1 in order, from
    // C(i, j) or 0. Whole dispatched tiles, partial tiles and every target must give these bits.
    const std::vector<std::string> targets = fewbits::simd_architectures();
    for (auto [m, n, k] : {std::array<std::size_t, 3>{1, 1, 1}, {6, 32, 5}, {7, 33, 13}, {13, 47, 9}, {12, 96, 3},
                           {25, 70, 31}}) {
        for (transpose op : {transpose::no, transpose::yes})
            for (bool accumulate : {false, true}) {
                const auto a = pattern(m * k, 6), b = pattern(k * n, 7), c0 = pattern(m * n, 8);
                const std::size_t lda = op == transpose::no ? k : m;
                std::vector<float> want(m * n);
                for (std::size_t i = 0; i < m; ++i)
                    for (std::size_t j = 0; j < n; ++j) {
                        float acc = accumulate ? c0[i * n + j] : 0.0f;
                        for (std::size_t p = 0; p < k; ++p)
                            acc = std::fma(op == transpose::no ? a[i * k + p] : a[p * m + i], b[p * n + j], acc);
                        want[i * n + j] = acc;
                    }
                for (const std::string& t : targets) {
                    fewbits::set_simd_architecture(t);
                    std::vector<float> got = c0;
                    gemm(m, n, k, a.data(), lda, op, b.data(), n, got.data(), n, accumulate, 1);
                    INFO("target " << t << ", m=" << m << " n=" << n << " k=" << k << " transposed="
                                   << (op == transpose::yes) << " accumulate=" << accumulate);
                    CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
                }
            }
    }
    fewbits::set_simd_architecture("best");
}

TEST_CASE("parallel_for covers every unit once, in pieces cut at multiples of the grain")
{
    for (unsigned threads : {1u, 2u, 3u, 8u}) {
        std::vector<int> seen(101, 0);
        std::vector<std::pair<std::size_t, std::size_t>> pieces(16);
        std::atomic<int> count{0};
        parallel_for(101, ::threads(threads), 6, [&](std::size_t b, std::size_t e) {
            pieces[count++] = {b, e};
            for (std::size_t i = b; i < e; ++i) ++seen[i];
        });
        CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
        for (int p = 0; p < count; ++p) CHECK(pieces[p].first % 6 == 0);
        CHECK(count <= int(threads));
    }
    // The last piece runs on a worker thread when there are two: its exception reaches the caller.
    CHECK_THROWS_AS(parallel_for(10, threads(2), 1, [](std::size_t, std::size_t e) {
                        if (e == 10) throw std::runtime_error("piece");
                    }),
                    std::runtime_error);
}

TEST_CASE("parallel_for keeps its threads, runs nested and concurrent calls, and stays exact")
{
    // Many calls in a row reuse the pool's threads and cover every unit each time.
    std::vector<int> seen(1000, 0);
    for (int call = 0; call < 200; ++call)
        parallel_for(seen.size(), threads(2), 1, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) ++seen[i];
        });
    CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 200; }));
    // A call from inside a piece (the pool is busy) runs inline in that piece.
    std::vector<int> inner(64, 0);
    parallel_for(2, threads(2), 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i)
            parallel_for(32, threads(2), 1, [&](std::size_t ib, std::size_t ie) {
                for (std::size_t j = ib; j < ie; ++j) ++inner[i * 32 + j];
            });
    });
    CHECK(std::all_of(inner.begin(), inner.end(), [](int s) { return s == 1; }));
    // Two user threads training their own models at once get the bits of one thread each.
    const std::size_t m = 37, n = 29, k = 41;
    const auto a = pattern(m * k, 5), b = pattern(k * n, 6);
    std::vector<float> alone(m * n);
    gemm(m, n, k, a.data(), k, transpose::no, b.data(), n, alone.data(), n, false, 1);
    if (threads(2) == 1) return;  // emulated builds: no second thread (see threads())
    std::vector<float> c1(m * n), c2(m * n);
    std::thread other([&] {
        for (int r = 0; r < 50; ++r) gemm(m, n, k, a.data(), k, transpose::no, b.data(), n, c1.data(), n, false, threads(2));
    });
    for (int r = 0; r < 50; ++r) gemm(m, n, k, a.data(), k, transpose::no, b.data(), n, c2.data(), n, false, threads(2));
    other.join();
    CHECK(c1 == alone);
    CHECK(c2 == alone);
}

TEST_CASE("linear layer: forward and gradients equal the formulas (FP32)")
{
    linear layer(5, 3, 0, weight_storage::fp32(), {}, 11);
    tensor x(4, 5), dy(4, 3);
    const auto xv = pattern(20, 6), dv = pattern(12, 7);
    std::copy(xv.begin(), xv.end(), x.values().begin());
    std::copy(dv.begin(), dv.end(), dy.values().begin());
    pass_context ctx;
    const tensor y = layer.forward(x, ctx);
    const tensor dx = layer.backward(dy, ctx, true);
    const tensor& w = layer.weight();
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t j = 0; j < 3; ++j) {
            double s = layer.bias()(0, j);
            for (std::size_t i = 0; i < 5; ++i) s += double(x(r, i)) * w(i, j);
            CHECK(y(r, j) == Approx(s).margin(1e-6));
        }
    for (std::size_t i = 0; i < 5; ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            double s = 0;
            for (std::size_t r = 0; r < 4; ++r) s += double(x(r, i)) * dy(r, j);
            CHECK(layer.weight_grad()(i, j) == Approx(s / 4).margin(1e-6));
        }
    for (std::size_t j = 0; j < 3; ++j) {
        double s = 0;
        for (std::size_t r = 0; r < 4; ++r) s += dy(r, j);
        CHECK(layer.bias_grad()(0, j) == Approx(s / 4).margin(1e-6));
    }
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t i = 0; i < 5; ++i) {
            double s = 0;
            for (std::size_t j = 0; j < 3; ++j) s += double(dy(r, j)) * w(i, j);
            CHECK(dx(r, i) == Approx(s).margin(1e-6));
        }
    // Initial weights lie in [-1/sqrt(in), 1/sqrt(in)].
    for (float v : w.values()) CHECK(std::fabs(v) <= 1.0f / std::sqrt(5.0f));
}

TEST_CASE("losses: softmax cross-entropy and squared error values and per-sample gradients")
{
    tensor z(2, 3);
    z(0, 0) = 1, z(0, 1) = 2, z(0, 2) = 3, z(1, 0) = 0, z(1, 1) = 0, z(1, 2) = 0;
    const std::vector<int> labels = {2, 0};
    tensor g;
    const loss_value v = softmax_cross_entropy(z, labels, g);
    const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
    CHECK(v.sum == Approx(lse0 - 3.0 + std::log(3.0)));
    CHECK(v.correct == 2);  // row 0: arg-max 2 is the label; row 1: a tie goes to the first class, 0
    CHECK(g(0, 2) == Approx(std::exp(3.0 - lse0) - 1.0));
    CHECK(g(1, 1) == Approx(1.0 / 3.0));
    tensor p(1, 2), t(1, 2);
    p(0, 0) = 1, p(0, 1) = -1, t(0, 0) = 0.5f, t(0, 1) = 1;
    const loss_value se = squared_error(p, t, g);
    CHECK(se.sum == Approx(0.5 * (0.25 + 4.0)));
    CHECK(g(0, 0) == 0.5f);
    CHECK(g(0, 1) == -2.0f);
}

TEST_CASE("quantizer: row r is rounded with derive(base, r) - power-of-two scaling is exact and in range")
{
    tensor x(3, 40);
    const auto v = pattern(120, 8);
    std::copy(v.begin(), v.end(), x.values().begin());
    const fewbits::stream base{99, 0};
    const quantizer q = quantizer::to<fewbits::float8_e4m3fn>(sr);
    tensor out;
    q.apply_rows(x, out, base, threads(2));
    for (std::size_t r = 0; r < 3; ++r) {
        std::vector<float> expect(40);
        fewbits::fake_quantize<fewbits::float8_e4m3fn>(x.row(r), expect, sr, fewbits::derive(base, r));
        CHECK(std::equal(expect.begin(), expect.end(), out.row(r).begin()));
    }
    // Scaled: max|x| / s in (max/4, max/2], s a power of two, results on the scaled grid.
    const quantizer qs = quantizer::to<fewbits::float8_e4m3fn>(rtn, scaling::power_of_two);
    std::vector<float> small(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) small[i] = v[i] * 1e-4f;
    const float s = qs.scale_for(small);
    int e = 0;
    CHECK(std::frexp(s, &e) == 0.5f);
    float amax = 0;
    for (float a : small) amax = std::max(amax, std::fabs(a));
    CHECK(amax / s <= 224.0f);
    CHECK(amax / s > 112.0f);
    std::vector<float> rounded(small.size());
    qs.apply(small, rounded, base);
    for (std::size_t i = 0; i < small.size(); ++i)
        CHECK(rounded[i] == float(fewbits::float8_e4m3fn(small[i] / s)) * s);
    // INT8: q * 2^e with |q| <= 127.
    const quantizer q8 = quantizer::int8(sr);
    q8.apply(small, rounded, base);
    const float s8 = q8.scale_for(small);
    for (float r : rounded) {
        CHECK(std::fabs(r / s8) <= 127.0f);
        CHECK(r / s8 == std::round(r / s8));
    }
    // FP32: a copy.
    quantizer none;
    none.apply(small, rounded, base);
    CHECK(rounded == small);
    CHECK(none.name() == "fp32");
    CHECK(q.name() == "e4m3 SR");
}

TEST_CASE("epoch_order is a permutation fixed by (seed, epoch)")
{
    const auto a = epoch_order(1000, 5, 0), b = epoch_order(1000, 5, 0), c = epoch_order(1000, 5, 1),
               d = epoch_order(1000, 6, 0);
    CHECK(a == b);
    CHECK(a != c);
    CHECK(a != d);
    std::vector<int> seen(1000, 0);
    for (auto i : a) ++seen[i];
    CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

TEST_CASE("sgd step: plain, momentum and weight decay follow w = fma(-lr, v, w), v = fma(mu, v, g + wd w)")
{
    const dataset data = make_regression(16, 4, 0.1f, 3);
    for (float mu : {0.0f, 0.9f}) {
        mlp_options o;
        o.sizes = {4, 1};
        o.loss = loss_kind::squared_error;
        mlp model(o);
        sgd_options s;
        s.lr = 0.1f;
        s.momentum = mu;
        s.weight_decay = 0.01f;
        batch b;
        std::vector<std::size_t> idx(16);
        std::iota(idx.begin(), idx.end(), 0);
        gather(data, idx, b);
        std::vector<float> w = model.flat_parameters(), v(w.size(), 0.0f);
        for (int step = 0; step < 3; ++step) {
            model.compute_gradients(b, model.context());
            const auto g = model.flat_gradient();
            for (std::size_t i = 0; i < w.size(); ++i) {
                const float gd = std::fma(0.01f, w[i], g[i]);
                if (mu > 0) {
                    v[i] = std::fma(mu, v[i], gd);
                    w[i] = std::fma(-0.1f, v[i], w[i]);
                } else {
                    w[i] = std::fma(-0.1f, gd, w[i]);
                }
            }
            model.train_step(b, s);
            CHECK(model.flat_parameters() == w);
        }
    }
}

TEST_CASE("weights stored in bfloat16 stay on the bfloat16 grid and are updated by sgd_update")
{
    const dataset data = make_gaussian_mixture(64, 8, 3, 3.0f, 4);
    mlp_options o;
    o.sizes = {8, 16, 3};
    o.weights = weight_storage::stored_as<fewbits::bfloat16>();
    mlp model(o);
    sgd_options s;
    s.lr = 0.05f;
    s.update = sr;
    const auto before = model.flat_parameters();
    train_epoch(model, data, s, 16, 1, 0);
    const auto after = model.flat_parameters();
    CHECK(after != before);
    for (float w : after) CHECK(float(fewbits::bfloat16(w)) == w);
}

TEST_CASE("per-sample SR weight gradient of a linear layer is unbiased - RTN keeps a bias that more draws do not shrink")
{
    // g = x^T dy for one sample, x and dy rounded to E4M3 independently (backward_input and
    // output_grad_for_weight). Theory (docs/paper.md, facts 1 and 3): E[Q(x)Q(d)] = x d and
    // Var[Q(x)Q(d)] = (x^2 + vx)(d^2 + vd) - x^2 d^2 with v = (t - lo)(hi - t).
    const std::size_t in = 12, out = 6;
    tensor x(1, in), dy(1, out);
    const auto xv = pattern(in, 21), dv = pattern(out, 22);
    for (std::size_t i = 0; i < in; ++i) x(0, i) = 3.0f * xv[i];
    for (std::size_t j = 0; j < out; ++j) dy(0, j) = 0.7f * dv[j];
    auto sr_variance = [](float t) {
        const float lo = float(fewbits::convert<fewbits::float8_e4m3fn>(t, policy{rounding::toward_zero}));
        const float hi = float(fewbits::convert<fewbits::float8_e4m3fn>(t, policy{t >= 0 ? rounding::up : rounding::down}));
        return (double(t) - lo) * (double(hi) - t);
    };
    auto mean_gradient = [&](const policy& p, std::size_t draws) {
        linear_quantization q;
        q.backward_input = q.output_grad_for_weight = quantizer::to<fewbits::float8_e4m3fn>(p);
        linear layer(in, out, 0, weight_storage::fp32(), q, 1);
        std::vector<double> mean(in * out, 0.0);
        pass_context ctx{7, 0};
        for (std::size_t r = 0; r < draws; ++r) {
            ctx.step = r;
            layer.forward(x, ctx);
            layer.backward(dy, ctx, false);
            for (std::size_t i = 0; i < in * out; ++i) mean[i] += layer.weight_grad().data()[i];
        }
        for (double& m : mean) m /= double(draws);
        return mean;
    };
    const std::size_t draws = 4000;
    const auto m_sr = mean_gradient(sr, draws);
    fewbits_test::failure_log log;
    double sr_error2 = 0.0;
    for (std::size_t i = 0; i < in; ++i)
        for (std::size_t j = 0; j < out; ++j) {
            const double g = double(x(0, i)) * dy(0, j);
            const double vx = sr_variance(x(0, i)), vd = sr_variance(dy(0, j));
            const double var = (double(x(0, i)) * x(0, i) + vx) * (double(dy(0, j)) * dy(0, j) + vd) - g * g;
            const double sigma = std::sqrt(var / draws);
            const double err = m_sr[i * out + j] - g;
            sr_error2 += err * err;
            if (std::fabs(err) > 5.0 * sigma + 1e-7)
                log.add(std::string("element ") + std::to_string(i * out + j) + ": mean " + std::to_string(m_sr[i * out + j]) +
                        " exact " + std::to_string(g) + " 5 sigma " + std::to_string(5 * sigma));
        }
    FEWBITS_REQUIRE_CLEAN(log);
    // RTN: one deterministic answer; its error is the same after 10 draws and after 4000.
    const auto m_rtn_few = mean_gradient(rtn, 10), m_rtn = mean_gradient(rtn, draws);
    double rtn_error2 = 0.0;
    for (std::size_t i = 0; i < in; ++i)
        for (std::size_t j = 0; j < out; ++j) {
            const double g = double(x(0, i)) * dy(0, j);
            CHECK(m_rtn[i * out + j] == Approx(m_rtn_few[i * out + j]).epsilon(1e-9));
            rtn_error2 += (m_rtn[i * out + j] - g) * (m_rtn[i * out + j] - g);
        }
    INFO("rms error over " << draws << " draws: SR " << std::sqrt(sr_error2 / (in * out)) << ", RTN "
                           << std::sqrt(rtn_error2 / (in * out)));
    // SR's remaining error is pure sampling noise (~1/sqrt(draws)); RTN's is a fixed bias well above it.
    CHECK(rtn_error2 > 10.0 * sr_error2);
}

TEST_CASE("training is reproducible bit for bit, and 1, 2 and 3 threads give the same weights")
{
    const dataset data = make_gaussian_mixture(256, 256, 10, 3.0f, 9);
    auto run = [&](unsigned threads, std::uint64_t seed) {
        mlp_options o;
        o.sizes = {256, 256, 10};
        o.seed = seed;
        o.threads = ::threads(threads);
        linear_quantization q = linear_quantization::everywhere(quantizer::to<fewbits::float8_e4m3fn>(sr, scaling::power_of_two));
        o.quantization = {q};
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
        mlp model(o);
        sgd_options s;
        s.lr = 0.02f;
        s.momentum = 0.5f;
        s.update = sr;
        train_epoch(model, data, s, 128, 3, 0);
        return model.flat_parameters();
    };
    const auto one = run(1, 5);
    CHECK(run(1, 5) == one);
    CHECK(run(2, 5) == one);
    CHECK(run(3, 5) == one);
    CHECK(run(1, 6) != one);  // the rounding seed matters
}

TEST_CASE("bad arguments throw std::invalid_argument naming the argument and value")
{
    const dataset data = make_regression(10, 3, 0.1f, 1);
    mlp_options o;
    o.sizes = {3, 1};
    o.loss = loss_kind::squared_error;
    mlp model(o);
    sgd_options s;
    s.lr = 0.0f;
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "lr must be positive and finite, got 0");
    s.lr = -1.0f;
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "got -1");
    s.lr = std::nanf("");
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "got nan");
    s.lr = INFINITY;
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "got inf");
    s.lr = 0.1f;
    REQUIRE_INVALID(train_epoch(model, data, s, 0, 1, 0), "batch_size must be in 1..10 (the data set size), got 0");
    REQUIRE_INVALID(train_epoch(model, data, s, 11, 1, 0), "got 11");
    s.momentum = 1.0f;
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "momentum must be in [0, 1), got 1");
    s.momentum = 0.0f;
    s.weight_decay = -0.5f;
    REQUIRE_INVALID(train_epoch(model, data, s, 2, 1, 0), "weight_decay must be non-negative and finite, got -0.5");
    s.weight_decay = 0.0f;
    tensor wrong(2, 4);
    REQUIRE_INVALID(model.forward(wrong, model.context()), "mlp input must have 3 columns, got shape (2, 4)");
    linear layer(3, 2, 0, weight_storage::fp32(), {}, 1);
    tensor x(2, 3), dy(3, 2);
    layer.forward(x, {});
    REQUIRE_INVALID(layer.backward(dy, {}, true), "linear output gradient must have shape (2, 2), got (3, 2)");
    REQUIRE_INVALID(layer.set_parameters(tensor(2, 3), tensor(1, 2)), "weight must have shape (3, 2), got (2, 3)");
    tensor logits(2, 3), g;
    const std::vector<int> one_label = {1};
    REQUIRE_INVALID(softmax_cross_entropy(logits, one_label, g), "labels.size() (1) must equal the number of logit rows (2)");
    const std::vector<int> bad_label = {1, 3};
    REQUIRE_INVALID(softmax_cross_entropy(logits, bad_label, g), "label 3 of row 1 is outside [0, 3)");
    REQUIRE_INVALID(squared_error(logits, tensor(2, 2), g), "target must have shape (2, 3), got (2, 2)");
    mlp_options bad = o;
    bad.sizes = {3};
    REQUIRE_INVALID(mlp{bad}, "sizes needs at least 2 entries");
    bad = o;
    bad.threads = 0;
    REQUIRE_INVALID(mlp{bad}, "threads must be at least 1, got 0");
    bad = o;
    bad.quantization = {linear_quantization{}, linear_quantization{}};
    REQUIRE_INVALID(mlp{bad}, "quantization needs 1 or 1 entries, got 2");
    REQUIRE_INVALID(quantizer::to<fewbits::float8_e4m3fn>(policy{rounding::stochastic, fewbits::overflow::saturate, 0}),
                    "policy.random_bits must be in 1..32, got 0");
    dataset labelled = make_gaussian_mixture(10, 3, 2, 1.0f, 1);
    REQUIRE_INVALID(train_epoch(model, labelled, s, 2, 1, 0), "the model's loss (squared error) does not fit");
    labelled.labels.pop_back();
    REQUIRE_INVALID(labelled.validate(), "dataset has 10 inputs but 9 labels");
    variance_options vo;
    vo.batch_sizes = {20};
    REQUIRE_INVALID(gradient_variance(model, data, vo), "batch_size must be in 1..10 (the data set size), got 20");
}

TEST_CASE("gradient_variance gives small batches more draws with min_samples")
{
    const dataset data = make_regression(64, 4, 0.1f, 2);
    mlp_options o;
    o.sizes = {4, 1};
    o.loss = loss_kind::squared_error;
    o.quantization = {linear_quantization::backward_only(quantizer::to<fewbits::bfloat16>(policy{rounding::stochastic}))};
    mlp model(o);
    variance_options vo;
    vo.batch_sizes = {1, 3, 8, 32};
    vo.draws = 2;
    vo.min_samples = 16;
    const auto pts = gradient_variance(model, data, vo);
    REQUIRE(pts.size() == 4);
    CHECK(pts[0].draws == 16);  // ceil(16 / 1)
    CHECK(pts[1].draws == 6);   // ceil(16 / 3)
    CHECK(pts[2].draws == 2);   // 16 / 8 = 2 = draws
    CHECK(pts[3].draws == 2);   // never below draws
    for (const auto& p : pts) CHECK(p.quantization_normalised > 0.0);
}

TEST_CASE("a non-finite loss stops training with training_error naming the step - that step updates nothing")
{
    const dataset data = make_regression(64, 4, 0.1f, 2, 1000.0f);
    mlp_options o;
    o.sizes = {4, 1};
    o.loss = loss_kind::squared_error;
    mlp model(o);
    sgd_options s;
    s.lr = 1e30f;  // the first update sends the weights past float's range
    std::vector<std::size_t> idx(8);
    std::iota(idx.begin(), idx.end(), 0);
    batch b;
    gather(data, idx, b);
    std::vector<float> before;
    std::uint64_t failed = 0;
    std::string what;
    try {
        for (int step = 0; step < 10; ++step) {
            before = model.flat_parameters();
            model.train_step(b, s);
        }
    } catch (const training_error& e) {
        failed = e.step();
        what = e.what();
    }
    INFO(what);
    REQUIRE(failed > 0);
    CHECK(model.step() == failed);
    CHECK(what.find("non-finite loss") != std::string::npos);
    CHECK(what.find(std::string("at step ") + std::to_string(failed)) != std::string::npos);
    const auto after = model.flat_parameters();
    CHECK(std::memcmp(after.data(), before.data(), after.size() * sizeof(float)) == 0);
}

TEST_CASE("fit_inverse_batch recovers a and c of exact points a/b + c, and the log-log slope of a/b is -1")
{
    std::vector<variance_point> pts;
    for (std::size_t b : {4, 16, 64, 256}) {
        variance_point p;
        p.batch_size = b;
        p.quantization_normalised = 2.0 / double(b) + 0.01;
        pts.push_back(p);
    }
    const auto f = fit_inverse_batch(pts);
    CHECK(f.a == Approx(2.0).epsilon(1e-9));
    CHECK(f.c == Approx(0.01).epsilon(1e-9));
    for (auto& p : pts) p.quantization_normalised = 3.0 / double(p.batch_size);
    CHECK(fit_inverse_batch(pts).slope == Approx(-1.0).epsilon(1e-12));
    REQUIRE_INVALID(fit_inverse_batch(std::span<const variance_point>(pts).first(1)), "at least 2 points, got 1");
}
