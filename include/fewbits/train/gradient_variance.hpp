// Gradient-variance diagnostics: for a fixed model state and data set, how far the quantized
// mini-batch gradient is from the exact FP32 one (quantization variance) and how far the exact
// mini-batch gradient is from the full-data gradient (sampling variance), per batch size.
//
// For batch size b and draw r = 0 .. draws-1: B_r = the first b samples of a permutation
// seeded by (seed, b, r); g_B = exact FP32 gradient of B_r; g~_B = quantized gradient of B_r
// with the rounding streams of step r (fresh draws every time); G = exact full-data gradient.
//   quantization = mean_r ||g~_B - g_B||^2        sampling = mean_r ||g_B - G||^2
// Normalised values divide by M = mean_i ||g_i||^2 over the whole data set (exact per-sample
// gradients), a constant for the model state, so they keep the shape in b. With per-sample
// stochastic rounding, E||g~_B - g_B||^2 = (1/b^2) sum_i E||g~_i - g_i||^2 <= (2u^2 + u^4) M / b
// (docs/paper.md, facts 3 and 4): the normalised quantization variance is C u^2 / b, slope -1
// against b in log-log. A shared weight rounding adds a term that does not fall with b
// (fact 6); the fit var(b) = a/b + c separates the two.
// Draw r rounds with the streams of step r of the diagnostic seed for every batch size
// (common random numbers: a weight rounding is then the same draw at every b, which makes
// the comparison across b sharper without changing any expectation).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "fewbits/data/text_batch.hpp"
#include "fewbits/error.hpp"
#include "fewbits/models/gpt.hpp"
#include "fewbits/models/mlp.hpp"
#include "fewbits/train/epoch.hpp"

namespace fewbits::train {

struct variance_point {
    std::size_t batch_size = 0;
    std::size_t draws = 0;
    double quantization = 0.0;             // mean ||g~_B - g_B||^2
    double sampling = 0.0;                 // mean ||g_B - G||^2
    double quantization_normalised = 0.0;  // quantization / M
    double sampling_normalised = 0.0;      // sampling / M
    double quantization_normalised_se = 0.0;  // standard error of quantization_normalised
};

struct variance_options {
    std::vector<std::size_t> batch_sizes = {4, 8, 16, 32, 64, 128, 256};
    std::size_t draws = 32;
    // At least this many samples per point: batch size b gets max(draws, ceil(min_samples / b))
    // draws. Small batches are cheap and their estimate depends on which few samples were
    // drawn (per-sample gradient norms vary a lot), so they get more draws.
    std::size_t min_samples = 0;
    std::uint64_t seed = 1;  // batches and roundings of the diagnostic (not the model's seed)
};

namespace detail {
inline double squared_distance(std::span<const float> a, std::span<const float> b)
{
    double s = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = static_cast<double>(a[i]) - b[i];
        s += d * d;
    }
    return s;
}
inline double squared_norm(std::span<const float> a)
{
    double s = 0.0;
    for (float x : a) s += static_cast<double>(x) * x;
    return s;
}
}  // namespace detail

namespace detail {

// The measurement for any model: n samples; gradient(idx, ctx) computes the model's gradient
// (a batch mean) of the samples idx under ctx and returns it as one flat vector. `exact` is
// the model's FP32 context; draw r rounds with {o.seed, step r}.
template <class Gradient>
std::vector<variance_point> gradient_variance(std::size_t n, const nn::pass_context& exact, const variance_options& o,
                                              Gradient&& gradient)
{
    if (o.draws < 2) fewbits::raise_invalid_argument("variance_options.draws must be at least 2, got " +
                                                       std::to_string(o.draws));
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), std::size_t{0});

    // Full-data gradient G (a batch mean over all samples) and per-sample squared norms.
    const std::vector<float> full = gradient(std::span<const std::size_t>(all), exact);
    double mean_sample_norm = 0.0;  // M
    for (std::size_t i = 0; i < n; ++i)
        mean_sample_norm += squared_norm(gradient(std::span<const std::size_t>(all).subspan(i, 1), exact));
    mean_sample_norm /= static_cast<double>(n);
    const double inv_m = mean_sample_norm > 0.0 ? 1.0 / mean_sample_norm : 0.0;

    std::vector<variance_point> points;
    for (std::size_t b : o.batch_sizes) {
        variance_point pt;
        pt.batch_size = b;
        pt.draws = std::max(o.draws, (o.min_samples + b - 1) / b);
        double sum_qn = 0.0, sum_qn2 = 0.0;
        for (std::size_t r = 0; r < pt.draws; ++r) {
            const auto order = data::epoch_order(n, derive(stream{o.seed}, b).seed, r);
            const std::span<const std::size_t> idx = std::span<const std::size_t>(order).first(b);
            const std::vector<float> g = gradient(idx, exact);
            nn::pass_context quantized = exact;
            quantized.exact = false;
            quantized.seed = o.seed;
            quantized.step = r;
            const std::vector<float> gq = gradient(idx, quantized);
            const double q = squared_distance(gq, g);
            const double s = squared_distance(g, full);
            pt.quantization += q;
            pt.sampling += s;
            sum_qn += q * inv_m;
            sum_qn2 += (q * inv_m) * (q * inv_m);
        }
        const double d = static_cast<double>(pt.draws);
        pt.quantization /= d;
        pt.sampling /= d;
        pt.sampling_normalised = pt.sampling * inv_m;
        pt.quantization_normalised = sum_qn / d;
        const double var = std::max(0.0, (sum_qn2 - sum_qn * sum_qn / d) / (d - 1.0));
        pt.quantization_normalised_se = std::sqrt(var / d);
        points.push_back(pt);
    }
    return points;
}

}  // namespace detail

// Measures variance_point for every batch size. The model's weights are not changed (its
// per-pass buffers are). Costs one exact pass per sample plus 2 * draws passes per batch size.
inline std::vector<variance_point> gradient_variance(models::mlp& model, const data::dataset& data, const variance_options& o)
{
    data.validate();
    for (std::size_t b : o.batch_sizes) require_batch_size(b, data.size());
    nn::pass_context exact = model.context();
    exact.exact = true;
    data::batch bt;
    return detail::gradient_variance(data.size(), exact, o,
                                     [&](std::span<const std::size_t> idx, const nn::pass_context& ctx) {
                                         data::gather(data, idx, bt);
                                         model.compute_gradients(bt, ctx);
                                         return model.flat_gradient();
                                     });
}

// The same for the byte-level GPT, with sequences as the samples: the pool holds the data
// set's sequences (token_batch: `sequences` windows of `length` bytes), a batch of b is b of
// them, and every token of a sequence is rounded with its own stream, so the per-sequence
// rounding noise is independent across the batch. `seed` is the model's rounding seed for
// nothing here: draw r rounds with {o.seed, step r}, like the MLP's.
inline std::vector<variance_point> gradient_variance(models::gpt& model, const data::token_batch& pool, const variance_options& o,
                                                     unsigned threads = 1)
{
    if (pool.sequences == 0 || pool.inputs.size() != pool.sequences * pool.length)
        fewbits::raise_invalid_argument("the gradient-variance pool needs whole sequences, got " +
                                        std::to_string(pool.inputs.size()) + " tokens in " +
                                        std::to_string(pool.sequences) + " sequences");
    for (std::size_t b : o.batch_sizes)
        if (b == 0 || b > pool.sequences)
            fewbits::raise_invalid_argument("batch sizes must be in 1.." + std::to_string(pool.sequences) +
                                            " (the pool's sequences), got " + std::to_string(b));
    nn::pass_context exact;
    exact.exact = true;
    exact.threads = threads;
    std::vector<std::int32_t> inputs, targets;
    return detail::gradient_variance(pool.sequences, exact, o,
                                     [&](std::span<const std::size_t> idx, const nn::pass_context& ctx) {
                                         inputs.clear();
                                         targets.clear();
                                         for (std::size_t s : idx) {
                                             const auto at = static_cast<std::ptrdiff_t>(s * pool.length);
                                             const auto len = static_cast<std::ptrdiff_t>(pool.length);
                                             inputs.insert(inputs.end(), pool.inputs.begin() + at, pool.inputs.begin() + at + len);
                                             targets.insert(targets.end(), pool.targets.begin() + at, pool.targets.begin() + at + len);
                                         }
                                         (void)model.compute_gradients(inputs, targets, idx.size(), ctx);
                                         std::vector<float> g;
                                         for (nn::parameter* p : model.parameters())
                                             g.insert(g.end(), p->grad().values().begin(), p->grad().values().end());
                                         return g;
                                     });
}

struct inverse_batch_fit {
    double a = 0.0;      // var(b) = a / b + c, least squares on the relative residuals
    double c = 0.0;
    double slope = 0.0;  // least-squares slope of log var against log b
};

// Fits the normalised quantization variances (or, with sampling = true, the sampling ones).
inline inverse_batch_fit fit_inverse_batch(std::span<const variance_point> points, bool sampling = false)
{
    if (points.size() < 2)
        fewbits::raise_invalid_argument("fit_inverse_batch needs at least 2 points, got " +
                                          std::to_string(points.size()));
    // Relative residuals (a/b + c - v) / v weight each point by 1/v^2: the values span decades.
    double s11 = 0, s12 = 0, s22 = 0, t1 = 0, t2 = 0;
    double lx = 0, ly = 0, lxx = 0, lxy = 0;
    for (const auto& p : points) {
        const double v = sampling ? p.sampling_normalised : p.quantization_normalised;
        if (!(v > 0.0))
            fewbits::raise_invalid_argument(std::string("fit_inverse_batch needs positive variances, got ") + exact_string(v) +
                                              " at batch size " + std::to_string(p.batch_size));
        const double x1 = 1.0 / static_cast<double>(p.batch_size) / v, x2 = 1.0 / v;
        s11 += x1 * x1, s12 += x1 * x2, s22 += x2 * x2, t1 += x1, t2 += x2;
        const double x = std::log(static_cast<double>(p.batch_size)), y = std::log(v);
        lx += x, ly += y, lxx += x * x, lxy += x * y;
    }
    inverse_batch_fit f;
    const double det = s11 * s22 - s12 * s12;
    f.a = (t1 * s22 - t2 * s12) / det;
    f.c = (s11 * t2 - s12 * t1) / det;
    const double k = static_cast<double>(points.size());
    f.slope = (k * lxy - lx * ly) / (k * lxx - lx * lx);
    return f;
}

}  // namespace fewbits::train
