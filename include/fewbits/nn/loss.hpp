// Losses. Each returns the summed loss of the batch and writes the gradient of every
// sample's own loss (not divided by the batch size: the layers average after rounding, so
// a small per-sample gradient is rounded at its own scale).
//   softmax cross-entropy: loss_i = logsumexp(z_i) - z_i[label_i], grad_i = softmax(z_i) - onehot
//   squared error:         loss_i = 0.5 * ||p_i - t_i||^2,        grad_i = p_i - t_i
// Sums are taken in double, in sample order; the probabilities are softmax_row's (softmax.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

#include "fewbits/error.hpp"
#include "fewbits/nn/softmax.hpp"
#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

enum class loss_kind { softmax_cross_entropy, squared_error };

struct loss_value {
    double sum = 0.0;         // summed over the batch
    std::size_t correct = 0;  // classification: samples whose arg-max logit is the label
};

inline loss_value softmax_cross_entropy(const tensor& logits, std::span<const int> labels, tensor& grad)
{
    if (labels.size() != logits.rows())
        fewbits::raise_invalid_argument(std::string("labels.size() (") + std::to_string(labels.size()) +
                                          ") must equal the number of logit rows (" + std::to_string(logits.rows()) + ")");
    const std::size_t classes = logits.cols();
    grad.resize(logits.rows(), classes);
    loss_value v;
    for (std::size_t r = 0; r < logits.rows(); ++r) {
        const int label = labels[r];
        if (label < 0 || static_cast<std::size_t>(label) >= classes)
            fewbits::raise_invalid_argument(std::string("label ") + std::to_string(label) + " of row " + std::to_string(r) +
                                              " is outside [0, " + std::to_string(classes) + ")");
        const auto z = logits.row(r);
        auto g = grad.row(r);
        const softmax_row_result sm = softmax_row(z, g);
        const float zmax = sm.max;
        const double total = sm.sum;
        const std::size_t best = sm.argmax;
        g[static_cast<std::size_t>(label)] -= 1.0f;
        // cppcheck-suppress invalidFunctionArg ; total >= 1: the largest logit adds exp(0)
        v.sum += std::log(total) + zmax - static_cast<double>(z[static_cast<std::size_t>(label)]);
        if (best == static_cast<std::size_t>(label) && std::isfinite(zmax)) ++v.correct;
    }
    return v;
}

inline loss_value squared_error(const tensor& prediction, const tensor& target, tensor& grad)
{
    require_shape(target, prediction.rows(), prediction.cols(), "target");
    grad.resize(prediction.rows(), prediction.cols());
    loss_value v;
    for (std::size_t i = 0; i < prediction.size(); ++i) {
        const float d = prediction.data()[i] - target.data()[i];
        grad.data()[i] = d;
        v.sum += 0.5 * static_cast<double>(d) * d;
    }
    return v;
}

}  // namespace fewbits::nn
