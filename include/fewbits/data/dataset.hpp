// Data sets for the training library, seeded mini-batch order, and the synthetic teachers.
//
// A dataset holds inputs (n x features) and either class labels (classes > 0) or regression
// targets (n x outputs). Mini-batches are drawn without replacement within an epoch: the
// epoch's order is a Fisher-Yates shuffle driven by fewbits::random_word, so it depends only
// on (seed, epoch) and is the same on every platform. Gaussian noise comes from the same
// words (nn/init.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/nn/init.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/random.hpp"

namespace fewbits::data {

struct dataset {
    nn::tensor inputs;
    std::vector<int> labels;  // classification (classes > 0)
    nn::tensor targets;           // regression (classes == 0)
    std::size_t classes = 0;
    nn::tensor teacher;           // synthetic regression: the true weights (features x outputs), else empty

    std::size_t size() const noexcept { return inputs.rows(); }
    bool is_classification() const noexcept { return classes > 0; }

    // Checks that labels or targets match the inputs; throws std::invalid_argument.
    void validate() const
    {
        if (is_classification()) {
            if (labels.size() != inputs.rows())
                fewbits::raise_invalid_argument(std::string("dataset has ") + std::to_string(inputs.rows()) + " inputs but " +
                                                  std::to_string(labels.size()) + " labels");
        } else if (targets.rows() != inputs.rows()) {
            fewbits::raise_invalid_argument(std::string("dataset has ") + std::to_string(inputs.rows()) + " inputs but " +
                                              std::to_string(targets.rows()) + " target rows");
        }
    }
};

// The rows of data at idx: inputs into x, labels or targets into the batch's own fields.
struct batch {
    nn::tensor x;
    std::vector<int> labels;
    nn::tensor targets;
};

inline void gather(const dataset& data, std::span<const std::size_t> idx, batch& out)
{
    nn::gather_rows(data.inputs, idx, out.x);
    if (data.is_classification()) {
        out.labels.resize(idx.size());
        for (std::size_t r = 0; r < idx.size(); ++r) out.labels[r] = data.labels[idx[r]];
    } else {
        nn::gather_rows(data.targets, idx, out.targets);
    }
}

// The order of the samples in epoch `epoch`: a permutation of 0 .. n-1.
inline std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, std::uint64_t epoch)
{
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    const stream s = derive(derive(stream{seed}, 0x73687566666C65ull /* "shuffle" */), epoch);
    for (std::size_t i = n; i > 1; --i) {
        // j uniform in [0, i) from a 64-bit draw: the modulo bias is below i / 2^64.
        const std::uint64_t word = (std::uint64_t{random_word(s.rng, s.seed, 2 * i)} << 32) |
                                   random_word(s.rng, s.seed, 2 * i + 1);
        const auto j = static_cast<std::size_t>(word % i);
        std::swap(order[i - 1], order[j]);
    }
    return order;
}

// Linear regression teacher: x ~ N(0, I), y = x . w* + noise * N(0, 1), w* ~ weight_scale * N(0, I).
inline dataset make_regression(std::size_t n, std::size_t features, float noise, std::uint64_t seed,
                               float weight_scale = 1.0f)
{
    if (n == 0 || features == 0)
        fewbits::raise_invalid_argument(std::string("make_regression needs n > 0 and features > 0, got n = ") + std::to_string(n) +
                                          ", features = " + std::to_string(features));
    const stream root{seed};
    dataset d;
    d.inputs = nn::tensor(n, features);
    d.targets = nn::tensor(n, 1);
    d.teacher = nn::tensor(features, 1);
    const auto w = nn::standard_normals(features, derive(root, 1));
    for (std::size_t i = 0; i < features; ++i) d.teacher(i, 0) = weight_scale * w[i];
    const auto x = nn::standard_normals(n * features, derive(root, 2));
    const auto e = nn::standard_normals(n, derive(root, 3));
    std::copy(x.begin(), x.end(), d.inputs.values().begin());
    for (std::size_t r = 0; r < n; ++r) {
        double y = 0.0;
        for (std::size_t i = 0; i < features; ++i) y += static_cast<double>(d.inputs(r, i)) * d.teacher(i, 0);
        d.targets(r, 0) = static_cast<float>(y + static_cast<double>(noise) * e[r]);
    }
    return d;
}

// Gaussian-mixture classification teacher: class c has mean m_c ~ N(0, (separation^2 / features) I)
// (so ||m_c|| is about separation), x = m_c + N(0, I), labels uniform over the classes.
inline dataset make_gaussian_mixture(std::size_t n, std::size_t features, std::size_t classes, float separation,
                                     std::uint64_t seed)
{
    if (n == 0 || features == 0 || classes < 2)
        fewbits::raise_invalid_argument("make_gaussian_mixture needs n > 0, features > 0 and classes >= 2, got n = " +
                                          std::to_string(n) + ", features = " + std::to_string(features) +
                                          ", classes = " + std::to_string(classes));
    const stream root{seed};
    dataset d;
    d.classes = classes;
    d.inputs = nn::tensor(n, features);
    d.labels.resize(n);
    const auto means = nn::standard_normals(classes * features, derive(root, 1));
    const float mean_scale = separation / std::sqrt(static_cast<float>(features));
    std::vector<std::uint32_t> label_words(n);
    fill_random_words(derive(root, 2), label_words);
    const auto x = nn::standard_normals(n * features, derive(root, 3));
    for (std::size_t r = 0; r < n; ++r) {
        const auto c = static_cast<std::size_t>((std::uint64_t{label_words[r]} * classes) >> 32);
        d.labels[r] = static_cast<int>(c);
        for (std::size_t i = 0; i < features; ++i)
            d.inputs(r, i) = mean_scale * means[c * features + i] + x[r * features + i];
    }
    return d;
}

}  // namespace fewbits::data
