// Splitting work across threads without changing a single bit of the result: work is cut
// into fixed units (rows of an output, samples of a batch) whose results do not depend on
// which thread computes them, and no two threads ever add into the same number. So a run
// with N threads gives exactly the bits of a run with one.
//
// The threads are started once and kept (a process-wide pool that grows to the largest
// thread count asked for): a training step makes many parallel calls, and starting threads
// for each of them cost more than the work on a busy 2-core machine.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "fewbits/config.hpp"

namespace fewbits::nn {

// A fixed set of worker threads that run the pieces of one job at a time. The calling
// thread runs piece 0 itself, worker w runs piece w. Only one job runs at a time: a call
// made while the pool is busy (from another thread, or from inside a piece) returns false
// and the caller runs the work itself, which gives the same bits.
class thread_pool {
public:
    thread_pool() = default;
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;
    ~thread_pool()
    {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    // Runs piece(i) for i in [0, pieces) on the caller and pieces - 1 workers (started on
    // first use and kept), and returns true when all have finished; false (nothing run)
    // when the pool is already running a job.
    template <class Piece>
    bool try_run(std::size_t pieces, Piece& piece)
    {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) return false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            while (workers_.size() + 1 < pieces) {
                const std::size_t index = workers_.size() + 1;
                workers_.emplace_back([this, index] { work(index); });
            }
            job_ = [](void* context, std::size_t i) { (*static_cast<Piece*>(context))(i); };
            context_ = &piece;
            pieces_ = pieces;
            remaining_ = pieces - 1;
            ++generation_;
        }
        wake_.notify_all();
        piece(0);
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return remaining_ == 0; });
        return true;
    }

private:
    void work(std::size_t index)
    {
        std::uint64_t seen = 0;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            if (index >= pieces_) continue;  // a job with fewer pieces than workers
            void (*job)(void*, std::size_t) = job_;
            void* context = context_;
            lock.unlock();
            job(context, index);
            lock.lock();
            if (--remaining_ == 0) done_.notify_one();
        }
    }

    std::mutex busy_;   // held by the caller of the running job
    std::mutex mutex_;  // guards everything below
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    void (*job_)(void*, std::size_t) = nullptr;
    void* context_ = nullptr;
    std::size_t pieces_ = 0;
    std::size_t remaining_ = 0;
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
};

namespace detail {
inline thread_pool& shared_pool()
{
    static thread_pool pool;
    return pool;
}
}  // namespace detail

// Calls f(begin, end) over contiguous pieces of [0, units), one piece per thread, each piece
// a multiple of `grain` units (except the last), so that a blocked kernel sees the same
// blocks whatever the thread count. With threads <= 1, or too little work, it runs inline;
// so it does when the shared pool is busy with another call. An exception in any piece is
// rethrown here after every piece has finished (without exceptions, an error in a piece
// aborts through fewbits' error handler).
template <class F>
void parallel_for(std::size_t units, unsigned threads, std::size_t grain, F&& f)
{
    grain = std::max<std::size_t>(grain, 1);
    const std::size_t groups = (units + grain - 1) / grain;
    const std::size_t pieces = std::min<std::size_t>(threads == 0 ? 1 : threads, groups);
    if (pieces <= 1) {
        if (units > 0) f(std::size_t{0}, units);
        return;
    }
#if FEWBITS_EXCEPTIONS
    std::vector<std::exception_ptr> errors(pieces);
#endif
    auto run = [&](std::size_t piece) {
        const std::size_t begin = std::min(units, groups * piece / pieces * grain);
        const std::size_t end = std::min(units, groups * (piece + 1) / pieces * grain);
#if FEWBITS_EXCEPTIONS
        try {
            if (begin < end) f(begin, end);
        } catch (...) {
            errors[piece] = std::current_exception();
        }
#else
        if (begin < end) f(begin, end);  // an error aborts through fewbits' error handler
#endif
    };
    if (!detail::shared_pool().try_run(pieces, run))
        for (std::size_t piece = 0; piece < pieces; ++piece) run(piece);
#if FEWBITS_EXCEPTIONS
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
#endif
}

}  // namespace fewbits::nn
