// Scratch tensors shared by every layer of a process (scratch_pool::shared()): the decoded copy
// of a low-precision weight for the length of one layer's forward or backward call, and the
// gradient of a parameter between its layer's backward pass and its update when updates run
// in the backward pass. A tensor is taken, used and given back; the pool keeps what it is
// given and hands it out again, so a training step allocates its scratch memory once and
// holds at most what the step needed at one time (bytes_held reports it: the "buffers" of a
// memory report). Taking and giving are thread-safe; the contents of a taken tensor are
// unspecified.
#pragma once

#include <cstddef>
#include <mutex>
#include <utility>
#include <vector>

#include "fewbits/nn/tensor.hpp"

namespace fewbits::nn {

class scratch_pool {
public:
    // The pool of this process.
    static scratch_pool& shared()
    {
        static scratch_pool pool;
        return pool;
    }

    // A rows x cols tensor: the smallest idle one that holds rows * cols values, else a new one
    // (idle tensors too small stay idle: growing one would free it and allocate anew). With
    // close_fit, only an idle tensor that wastes at most an eighth of its values qualifies: for
    // tensors kept long (a gradient held until the update), which must not pin a large one.
    tensor take(std::size_t rows, std::size_t cols, bool close_fit = false)
    {
        tensor t;
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            const std::size_t n = rows * cols;
            std::size_t best = idle_.size();
            for (std::size_t i = 0; i < idle_.size(); ++i) {
                const std::size_t cap = idle_[i].capacity();
                if (cap >= n && (!close_fit || cap - n <= n / 8) && (best == idle_.size() || cap < idle_[best].capacity()))
                    best = i;
            }
            if (best != idle_.size()) {
                idle_bytes_ -= idle_[best].capacity() * sizeof(float);
                t = std::move(idle_[best]);
                idle_[best] = std::move(idle_.back());
                idle_.pop_back();
            }
        }
        t.resize(rows, cols);
        return t;
    }

    // Shapes t rows x cols, taking its memory from the pool when it holds none (a tensor that
    // is given back between uses, like a layer's input gradient).
    void reshape(tensor& t, std::size_t rows, std::size_t cols)
    {
        if (t.capacity() == 0)
            t = take(rows, cols);
        else
            t.resize(rows, cols);
    }

    // Takes t back for a later take (t is left empty).
    void give(tensor& t)
    {
        if (t.capacity() == 0) return;
        const std::lock_guard<std::mutex> lock(mutex_);
        idle_bytes_ += t.capacity() * sizeof(float);
        idle_.push_back(std::move(t));
        t = tensor();
    }

    // Bytes held by idle tensors.
    std::size_t bytes_held() const
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        return idle_bytes_;
    }

    // Frees every idle tensor.
    void release()
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        idle_.clear();
        idle_bytes_ = 0;
    }

private:
    scratch_pool() = default;
    mutable std::mutex mutex_;
    std::vector<tensor> idle_;
    std::size_t idle_bytes_ = 0;
};

// A tensor of the shared pool, taken when first asked for and given back when this object ends.
class scratch_tensor {
public:
    scratch_tensor() = default;
    ~scratch_tensor() { scratch_pool::shared().give(t_); }
    scratch_tensor(const scratch_tensor&) = delete;
    scratch_tensor& operator=(const scratch_tensor&) = delete;

    // The tensor, shaped rows x cols (taken from the pool on the first call).
    tensor& take(std::size_t rows, std::size_t cols)
    {
        scratch_pool::shared().reshape(t_, rows, cols);
        return t_;
    }

private:
    tensor t_;
};

}  // namespace fewbits::nn
