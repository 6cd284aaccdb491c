// What a trainable tensor is, for every layer: the `parameter` (its storage, its gradient, its
// optimizer state and the key of its random stream), the storages behind it, the view that
// layers compute with (parameter_values) and the open stream keys.
//
// Storage, chosen at run time by weight_storage:
//  - fp32: a float master copy, updated as w = fma(-lr, g, w) (momentum: v = fma(mu, v, g),
//    w = fma(-lr, v, w)), the same arithmetic as the kernels' contract, or by adamw_update<float>;
//  - a low-precision format T, updated in place by fewbits::sgd_update, sgd_momentum_update or
//    adamw_update, rounding under the optimizer's policy (the edge setting: no FP32 copy of the
//    weights exists, so an update smaller than half a grid step is lost under round-to-nearest
//    and survives on average under stochastic rounding).
// Memory: a parameter holds its storage, its optimizer state and, between a backward pass and
// the update that consumes it, its gradient (release_grad() gives the gradient's memory back).
// Layers read values through parameter_values, which points at the floats of an fp32 storage and
// decodes any other storage into a scratch tensor (nn/scratch.hpp) that lives only as long as
// the view: no FP32 copy of a low-precision weight persists. Decoding is exact, so a layer
// computes with the same floats either way.
//
// Streams: a parameter's update of step s is rounded with
// derive(derive(derive({seed}, s), layer id), key) (pass_context::tensor_stream). The keys of
// the linear layer are small numbers kept from before the layer library (tensor_id, layer.hpp);
// every other tensor takes tensor_key(name), a 64-bit hash of its name with the top bit set:
// it can never equal one of the small keys, and two names meet only by a hash collision (2^-63).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fewbits/error.hpp"
#include "fewbits/format_names.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/nn/elementwise.hpp"
#include "fewbits/nn/scratch.hpp"
#include "fewbits/nn/tensor.hpp"
#include "fewbits/updates.hpp"

namespace fewbits::nn {

// The stream key of a tensor named `name` (FNV-1a 64 with the top bit set).
constexpr std::uint64_t tensor_key(std::string_view name) noexcept
{
    std::uint64_t h = 0xCBF29CE484222325ull;
    for (char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001B3ull;
    }
    return h | (std::uint64_t{1} << 63);
}

// Where AdamW keeps its two moments: float, bfloat16 or float16 (adamw_update's choices).
enum class moment_format { fp32, bf16, fp16 };

inline const char* moment_format_name(moment_format f) noexcept
{
    switch (f) {
    case moment_format::fp32: return "fp32";
    case moment_format::bf16: return "bf16";
    case moment_format::fp16: return "fp16";
    }
    return "?";
}

// AdamW's state of one parameter: m and v in one storage format, and the number of updates
// made with them (AdamW's t).
class adamw_moments {
public:
    adamw_moments() = default;
    adamw_moments(moment_format f, std::size_t n) : format_(f)
    {
        switch (f) {
        case moment_format::fp32: data_ = pair<float>{std::vector<float>(n, 0.0f), std::vector<float>(n, 0.0f)}; break;
        case moment_format::bf16: data_ = pair<bfloat16>{std::vector<bfloat16>(n), std::vector<bfloat16>(n)}; break;
        case moment_format::fp16: data_ = pair<float16>{std::vector<float16>(n), std::vector<float16>(n)}; break;
        }
    }

    moment_format format() const noexcept { return format_; }
    std::size_t size() const noexcept
    {
        // std::get_if, not std::visit: visit may throw (bad_variant_access), which noexcept forbids.
        if (const auto* p = std::get_if<pair<float>>(&data_)) return p->m.size();
        if (const auto* p = std::get_if<pair<bfloat16>>(&data_)) return p->m.size();
        if (const auto* p = std::get_if<pair<float16>>(&data_)) return p->m.size();
        return 0;
    }
    std::uint64_t steps = 0;

    // f(std::span<S> m, std::span<S> v) with S the storage type.
    template <class F>
    decltype(auto) visit(F&& f)
    {
        return std::visit([&](auto& p) -> decltype(auto) { return f(std::span(p.m), std::span(p.v)); }, data_);
    }
    template <class F>
    decltype(auto) visit(F&& f) const
    {
        return std::visit([&](const auto& p) -> decltype(auto) { return f(std::span(p.m), std::span(p.v)); }, data_);
    }
    // Bytes of the two moments' allocations.
    std::size_t bytes() const noexcept
    {
        if (const auto* p = std::get_if<pair<float>>(&data_)) return p->bytes();
        if (const auto* p = std::get_if<pair<bfloat16>>(&data_)) return p->bytes();
        if (const auto* p = std::get_if<pair<float16>>(&data_)) return p->bytes();
        return 0;
    }
    // The moments as float (exact): for tests and diagnostics.
    std::vector<float> first() const { return values(true); }
    std::vector<float> second() const { return values(false); }

private:
    template <class S>
    struct pair {
        std::vector<S> m, v;
        std::size_t bytes() const noexcept { return (m.capacity() + v.capacity()) * sizeof(S); }
    };
    std::vector<float> values(bool first_moment) const
    {
        return std::visit(
            [&](const auto& p) {
                const auto& x = first_moment ? p.m : p.v;
                std::vector<float> out(x.size());
                for (std::size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i]);
                return out;
            },
            data_);
    }
    moment_format format_ = moment_format::fp32;
    std::variant<pair<float>, pair<bfloat16>, pair<float16>> data_;
};

class parameter_store {
public:
    virtual ~parameter_store() = default;
    virtual std::size_t size() const noexcept = 0;
    // Bytes of storage per value (4 for fp32, 2 for bfloat16, 1 for an FP8 format).
    virtual std::size_t bytes_per_value() const noexcept = 0;
    // The exact stored values, as float.
    virtual void read(std::span<float> out) const = 0;
    // Sets the values (rounded to nearest-even for a low-precision store).
    virtual void assign(std::span<const float> values) = 0;
    // One SGD step with gradient g; velocity is empty (no momentum) or size() floats.
    virtual void update(std::span<const float> g, float lr, float momentum, std::span<float> velocity,
                        const policy& p, const stream& s) = 0;
    // One AdamW step (adamw_update) with gradient g and the moments (of size() values); step is
    // AdamW's t.
    virtual void adamw(std::span<const float> g, adamw_moments& moments, const adamw_options& o, std::uint64_t step,
                       const policy& p, const stream& s) = 0;
    virtual std::unique_ptr<parameter_store> clone() const = 0;
    // The stored encodings as bytes (the float bits for fp32, the format's codes otherwise),
    // size() * bytes_per_value() of them: what a checkpoint saves and restores bit for bit.
    // Writing through raw() changes the values every later read sees (nothing is cached).
    virtual std::span<std::byte> raw() noexcept = 0;
    virtual std::span<const std::byte> raw() const noexcept = 0;
    // The values when they are stored as float (computations read them in place), else nullptr.
    virtual const float* floats() const noexcept { return nullptr; }
};

class fp32_store final : public parameter_store {
public:
    explicit fp32_store(std::size_t n) : w_(n, 0.0f) {}
    std::size_t size() const noexcept override { return w_.size(); }
    std::size_t bytes_per_value() const noexcept override { return sizeof(float); }
    void read(std::span<float> out) const override { std::copy(w_.begin(), w_.end(), out.begin()); }
    void assign(std::span<const float> values) override { std::copy(values.begin(), values.end(), w_.begin()); }
    void update(std::span<const float> g, float lr, float momentum, std::span<float> velocity, const policy&,
                const stream&) override
    {
        if (velocity.empty()) {
            fma_scalar(-lr, g, w_, w_);
        } else {
            fma_scalar(momentum, velocity, g, velocity);
            fma_scalar(-lr, velocity, w_, w_);
        }
    }
    void adamw(std::span<const float> g, adamw_moments& moments, const adamw_options& o, std::uint64_t step,
               const policy& p, const stream& s) override
    {
        moments.visit([&](auto m, auto v) {
            adamw_update<float, typename decltype(m)::element_type>(w_, m, v, g, o, step, p, s);
        });
    }
    std::unique_ptr<parameter_store> clone() const override { return std::make_unique<fp32_store>(*this); }
    std::span<std::byte> raw() noexcept override { return std::as_writable_bytes(std::span(w_)); }
    std::span<const std::byte> raw() const noexcept override { return std::as_bytes(std::span(w_)); }
    const float* floats() const noexcept override { return w_.data(); }

private:
    std::vector<float> w_;
};

template <fewbits::low_precision T>
class low_precision_store final : public parameter_store {
public:
    explicit low_precision_store(std::size_t n) : w_(n, T(0.0f)) {}
    std::size_t size() const noexcept override { return w_.size(); }
    std::size_t bytes_per_value() const noexcept override { return sizeof(T); }
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
    void adamw(std::span<const float> g, adamw_moments& moments, const adamw_options& o, std::uint64_t step,
               const policy& p, const stream& s) override
    {
        moments.visit([&](auto m, auto v) {
            adamw_update<T, typename decltype(m)::element_type>(w_, m, v, g, o, step, p, s);
        });
    }
    std::unique_ptr<parameter_store> clone() const override { return std::make_unique<low_precision_store>(*this); }
    std::span<std::byte> raw() noexcept override { return std::as_writable_bytes(std::span(w_)); }
    std::span<const std::byte> raw() const noexcept override { return std::as_bytes(std::span(w_)); }

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

// A trainable tensor of a layer. The layer reads its values through parameter_values and
// writes grad() in its backward pass; an optimizer reads grad() and updates the storage (and its
// own state kept here). Copies are deep (the storage is cloned).
class parameter {
public:
    // A rows x cols parameter of layer `layer` with stream key `key`, all zeros.
    parameter(std::string name, std::uint64_t layer, std::uint64_t key, std::size_t rows, std::size_t cols,
              const weight_storage& storage)
        : name_(std::move(name)), layer_(layer), key_(key), rows_(rows), cols_(cols), store_(storage.make(rows * cols)),
          storage_name_(storage.name)
    {
    }
    parameter(const parameter& o)
        : velocity(o.velocity), moments(o.moments), name_(o.name_), layer_(o.layer_), key_(o.key_), rows_(o.rows_),
          cols_(o.cols_), store_(o.store_->clone()), storage_name_(o.storage_name_), grad_(o.grad_)
    {
    }
    parameter& operator=(const parameter& o)
    {
        if (this != &o) *this = parameter(o);
        return *this;
    }
    parameter(parameter&&) noexcept = default;
    parameter& operator=(parameter&&) noexcept = default;

    const std::string& name() const noexcept { return name_; }
    std::uint64_t layer() const noexcept { return layer_; }
    std::uint64_t key() const noexcept { return key_; }
    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::size_t size() const noexcept { return rows_ * cols_; }
    const std::string& storage_name() const noexcept { return storage_name_; }

    // The stored values, decoded (exact), as a new tensor: for tests, reports and checks.
    // Layers read them without a copy through parameter_values.
    tensor value() const
    {
        tensor t(rows_, cols_);
        store_->read(t.values());
        return t;
    }
    // The gradient, rows x cols: allocated (from the scratch pool, contents unspecified) on the
    // first call after construction or release_grad(). The const overload gives what is there
    // (empty when no gradient is held).
    tensor& grad()
    {
        if (grad_.size() != size()) grad_ = scratch_pool::shared().take(rows_, cols_, true);
        return grad_;
    }
    const tensor& grad() const noexcept { return grad_; }
    bool has_grad() const noexcept { return grad_.size() == size(); }
    // Gives the gradient's memory back to the scratch pool (after the update that used it).
    void release_grad() { scratch_pool::shared().give(grad_); }
    parameter_store& store() noexcept { return *store_; }
    const parameter_store& store() const noexcept { return *store_; }

    // Sets the values (rounded to nearest-even into a low-precision storage).
    void assign(std::span<const float> values)
    {
        require_same_size(size(), name_.c_str(), values.size(), "values");
        store_->assign(values);
    }

    // Optimizer state, allocated by the optimizer on first use.
    std::vector<float> velocity;  // SGD momentum
    adamw_moments moments;        // AdamW

private:
    std::string name_;
    std::uint64_t layer_, key_;
    std::size_t rows_, cols_;
    std::unique_ptr<parameter_store> store_;
    std::string storage_name_;
    tensor grad_;
};

// The values of a parameter as floats, for one layer call: the fp32 storage itself, or a copy
// decoded into a scratch tensor that goes back to the pool when the view ends.
class parameter_values {
public:
    explicit parameter_values(const parameter& p) : rows_(p.rows()), cols_(p.cols()), data_(p.store().floats())
    {
        if (data_ == nullptr) {
            decoded_ = scratch_pool::shared().take(rows_, cols_);
            p.store().read(decoded_.values());
            data_ = decoded_.data();
        }
    }
    ~parameter_values() { scratch_pool::shared().give(decoded_); }
    parameter_values(const parameter_values&) = delete;
    parameter_values& operator=(const parameter_values&) = delete;

    const float* data() const noexcept { return data_; }
    std::span<const float> values() const noexcept { return {data_, rows_ * cols_}; }
    // The decoded copy, which the caller may overwrite (round in place), or an empty span when
    // the values are the fp32 storage itself.
    std::span<float> decoded() noexcept { return decoded_.values(); }
    std::span<const float> row(std::size_t r) const noexcept { return {data_ + r * cols_, cols_}; }
    float operator()(std::size_t r, std::size_t c) const noexcept { return data_[r * cols_ + c]; }

private:
    std::size_t rows_, cols_;
    const float* data_;
    tensor decoded_;
};

}  // namespace fewbits::nn
