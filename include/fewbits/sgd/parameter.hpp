// Where a trainable parameter lives. Two kinds:
//  - fp32: a float master copy, updated as w = fma(-lr, g, w) (momentum: v = fma(mu, v, g),
//    w = fma(-lr, v, w)), the same arithmetic as the kernels' contract;
//  - stored in a low-precision format T and updated in place by fewbits::sgd_update or
//    sgd_momentum_update, rounding under the optimizer's policy (the edge setting: no FP32
//    copy of the weights exists, so an update smaller than half a grid step is lost under
//    round-to-nearest and survives on average under stochastic rounding).
// The layer reads the values into a float buffer after each update to compute with them;
// that buffer is a decoded view, rewritten from the storage, never a second master copy.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fewbits/kernels.hpp"
#include "fewbits/sgd/quantizer.hpp"

namespace fewbits::sgd {

class parameter_store {
public:
    virtual ~parameter_store() = default;
    virtual std::size_t size() const noexcept = 0;
    // The exact stored values, as float.
    virtual void read(std::span<float> out) const = 0;
    // Sets the values (rounded to nearest-even for a low-precision store).
    virtual void assign(std::span<const float> values) = 0;
    // One SGD step with gradient g; velocity is empty (no momentum) or size() floats.
    virtual void update(std::span<const float> g, float lr, float momentum, std::span<float> velocity,
                        const policy& p, const stream& s) = 0;
    virtual std::unique_ptr<parameter_store> clone() const = 0;
};

class fp32_store final : public parameter_store {
public:
    explicit fp32_store(std::size_t n) : w_(n, 0.0f) {}
    std::size_t size() const noexcept override { return w_.size(); }
    void read(std::span<float> out) const override { std::copy(w_.begin(), w_.end(), out.begin()); }
    void assign(std::span<const float> values) override { std::copy(values.begin(), values.end(), w_.begin()); }
    void update(std::span<const float> g, float lr, float momentum, std::span<float> velocity, const policy&,
                const stream&) override
    {
        if (velocity.empty()) {
            for (std::size_t i = 0; i < w_.size(); ++i) w_[i] = std::fma(-lr, g[i], w_[i]);
        } else {
            for (std::size_t i = 0; i < w_.size(); ++i) {
                velocity[i] = std::fma(momentum, velocity[i], g[i]);
                w_[i] = std::fma(-lr, velocity[i], w_[i]);
            }
        }
    }
    std::unique_ptr<parameter_store> clone() const override { return std::make_unique<fp32_store>(*this); }

private:
    std::vector<float> w_;
};

template <fewbits::low_precision T>
class low_precision_store final : public parameter_store {
public:
    explicit low_precision_store(std::size_t n) : w_(n, T(0.0f)) {}
    std::size_t size() const noexcept override { return w_.size(); }
    void read(std::span<float> out) const override { dequantize<T>(std::span<const T>(w_), out); }
    void assign(std::span<const float> values) override { quantize<T>(values, std::span<T>(w_)); }
    void update(std::span<const float> g, float lr, float momentum, std::span<float> velocity, const policy& p,
                const stream& s) override
    {
        if (velocity.empty())
            sgd_update<T>(w_, g, lr, p, s);
        else
            sgd_momentum_update<T, float>(w_, velocity, g, lr, momentum, p, s);
    }
    std::unique_ptr<parameter_store> clone() const override { return std::make_unique<low_precision_store>(*this); }

private:
    std::vector<T> w_;
};

// How a model stores its parameters: a name and a factory, chosen at run time.
struct weight_storage {
    std::string name = "fp32";
    std::unique_ptr<parameter_store> (*make)(std::size_t n) = [](std::size_t n) -> std::unique_ptr<parameter_store> {
        return std::make_unique<fp32_store>(n);
    };

    static weight_storage fp32() { return {}; }
    template <fewbits::low_precision T>
    static weight_storage stored_as()
    {
        return {format_name<T>(), [](std::size_t n) -> std::unique_ptr<parameter_store> {
                    return std::make_unique<low_precision_store<T>>(n);
                }};
    }
};

}  // namespace fewbits::sgd
