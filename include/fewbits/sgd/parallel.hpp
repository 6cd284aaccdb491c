// Splitting work across threads without changing a single bit of the result: work is cut
// into fixed units (rows of an output, samples of a batch) whose results do not depend on
// which thread computes them, and no two threads ever add into the same number. So a run
// with N threads gives exactly the bits of a run with one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

#include "fewbits/config.hpp"

namespace fewbits::sgd {

// Calls f(begin, end) over contiguous pieces of [0, units), one piece per thread, each piece
// a multiple of `grain` units (except the last), so that a blocked kernel sees the same
// blocks whatever the thread count. With threads <= 1, or too little work, it runs inline.
// An exception in any piece is rethrown here after every thread has finished (without
// exceptions, an error in a piece aborts through fewbits' error handler).
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
    std::vector<std::thread> workers;
#if FEWBITS_EXCEPTIONS
    std::vector<std::exception_ptr> errors(pieces);
#endif
    workers.reserve(pieces - 1);
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
    for (std::size_t piece = 1; piece < pieces; ++piece) workers.emplace_back(run, piece);
    run(0);
    for (auto& w : workers) w.join();
#if FEWBITS_EXCEPTIONS
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
#endif
}

}  // namespace fewbits::sgd
