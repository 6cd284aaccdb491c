// Dense row-major float tensors for the training library: rows are samples (or tokens), columns are
// features (a weight is in x out). Rows may be split into equal groups, a leading dimension:
// a batch of `groups` sequences of group_rows() tokens each is a (groups * tokens) x features
// tensor whose group g holds sequence g, so row-wise layers (linear, ReLU, softmax) need
// nothing new and sequence layers can address group(g). Shape checks throw
// std::invalid_argument naming the tensor, the expected and the actual shape.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fewbits/config.hpp"
#include "fewbits/error.hpp"

namespace fewbits::nn {

class tensor {
public:
    tensor() = default;
    tensor(std::size_t rows, std::size_t cols, float fill = 0.0f) : rows_(rows), cols_(cols), data_(rows * cols, fill) {}
    // groups sequences of rows_per_group rows each (zeros).
    static tensor sequences(std::size_t groups, std::size_t rows_per_group, std::size_t cols)
    {
        tensor t(groups * rows_per_group, cols);
        t.set_groups(groups);
        return t;
    }

    std::size_t rows() const noexcept { return rows_; }
    std::size_t cols() const noexcept { return cols_; }
    std::size_t size() const noexcept { return data_.size(); }
    // Values the allocation holds (at least size()), and its bytes: what the tensor costs.
    std::size_t capacity() const noexcept { return data_.capacity(); }
    std::size_t bytes() const noexcept { return data_.capacity() * sizeof(float); }
    std::size_t groups() const noexcept { return groups_; }
    std::size_t group_rows() const noexcept { return groups_ == 0 ? 0 : rows_ / groups_; }
    // Splits the rows into `groups` equal groups (1: no grouping).
    void set_groups(std::size_t groups)
    {
        if (groups == 0 || rows_ % groups != 0)
            raise_invalid_argument("tensor groups must divide the rows (" + std::to_string(rows_) + "), got " +
                                   std::to_string(groups));
        groups_ = groups;
    }
    // The rows of group g, contiguous.
    std::span<float> group(std::size_t g) noexcept { return {data_.data() + g * group_rows() * cols_, group_rows() * cols_}; }
    std::span<const float> group(std::size_t g) const noexcept
    {
        return {data_.data() + g * group_rows() * cols_, group_rows() * cols_};
    }

    float* data() noexcept { return data_.data(); }
    const float* data() const noexcept { return data_.data(); }
    std::span<float> values() noexcept { return data_; }
    std::span<const float> values() const noexcept { return data_; }

    std::span<float> row(std::size_t r) noexcept { return {data_.data() + r * cols_, cols_}; }
    std::span<const float> row(std::size_t r) const noexcept { return {data_.data() + r * cols_, cols_}; }
    float& operator()(std::size_t r, std::size_t c) noexcept { return data_[r * cols_ + c]; }
    float operator()(std::size_t r, std::size_t c) const noexcept { return data_[r * cols_ + c]; }

    // Changes the shape (one group), keeping the allocation when it is large enough (scratch
    // buffers of a training loop are resized every step). The contents are unspecified afterwards.
    void resize(std::size_t rows, std::size_t cols)
    {
        rows_ = rows;
        cols_ = cols;
        groups_ = 1;
        data_.resize(rows * cols);
    }

    std::string shape() const
    {
        std::string s = "(";  // appended piece by piece: see format_name in format_names.hpp
        if (groups_ > 1) {
            s += std::to_string(groups_);
            s += " x ";
            s += std::to_string(group_rows());
        } else {
            s += std::to_string(rows_);
        }
        s += ", ";
        s += std::to_string(cols_);
        s += ')';
        return s;
    }

    friend bool operator==(const tensor&, const tensor&) = default;

private:
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    std::size_t groups_ = 1;
    std::vector<float> data_;
};

inline void require_shape(const tensor& t, std::size_t rows, std::size_t cols, const char* name)
{
    if (t.rows() != rows || t.cols() != cols)
        raise_invalid_argument(std::string(name) + " must have shape (" + std::to_string(rows) + ", " +
                                 std::to_string(cols) + "), got " + t.shape());
}

inline void require_cols(const tensor& t, std::size_t cols, const char* name)
{
    if (t.cols() != cols)
        raise_invalid_argument(std::string(name) + " must have " + std::to_string(cols) + " columns, got shape " +
                                 t.shape());
}

// Rows idx[0], idx[1], ... of src, in that order, into dst (resized).
inline void gather_rows(const tensor& src, std::span<const std::size_t> idx, tensor& dst)
{
    dst.resize(idx.size(), src.cols());
    for (std::size_t r = 0; r < idx.size(); ++r) {
        if (idx[r] >= src.rows())
            raise_invalid_argument(std::string("row index ") + std::to_string(idx[r]) + " out of range for a tensor of shape " +
                                     src.shape());
        const auto s = src.row(idx[r]);
        std::copy(s.begin(), s.end(), dst.row(r).begin());
    }
}

}  // namespace fewbits::nn
