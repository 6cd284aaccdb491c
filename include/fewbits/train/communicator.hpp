// The processes that train one model together, as the training step sees them: a rank, a
// count, and the two collectives the sharded step needs: every process's block gathered on
// every process in rank order, and each process's blocks sent one to each process. single_process is the communicator of a program that runs
// alone; train/mpi_communicator.hpp implements it on MPI. The interface needs no MPI, so the
// training library builds and behaves the same where MPI is not installed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "fewbits/error.hpp"

namespace fewbits::train {

class communicator {
public:
    virtual ~communicator() = default;

    virtual std::size_t rank() const = 0;
    virtual std::size_t size() const = 0;

    // Every process passes its own block, mine, and the byte counts of every process's block
    // (the same list on every process); out receives the blocks in rank order.
    virtual void all_gather(std::span<const std::byte> mine, std::span<const std::size_t> counts,
                            std::span<std::byte> out) = 0;

    // Every process sends send_counts[q] bytes of send (in rank order q) to process q and
    // receives recv_counts[r] bytes from process r into recv (in rank order r).
    virtual void all_to_all(std::span<const std::byte> send, std::span<const std::size_t> send_counts,
                            std::span<std::byte> recv, std::span<const std::size_t> recv_counts) = 0;
};

namespace detail {

template <class T>
std::vector<std::size_t> byte_counts(std::span<const std::size_t> counts)
{
    std::vector<std::size_t> bytes(counts.size());
    std::transform(counts.begin(), counts.end(), bytes.begin(), [](std::size_t n) { return n * sizeof(T); });
    return bytes;
}

}  // namespace detail

// All blocks of trivially copyable values in rank order: counts[r] values from process r.
template <class T>
std::vector<T> all_gather_values(communicator& c, std::span<const T> mine, std::span<const std::size_t> counts)
{
    static_assert(std::is_trivially_copyable_v<T>);
    if (counts.size() != c.size())
        raise_invalid_argument("all_gather_values: counts.size() (" + std::to_string(counts.size()) +
                               ") must equal the number of processes (" + std::to_string(c.size()) + ")");
    if (counts[c.rank()] != mine.size())
        raise_invalid_argument("all_gather_values: counts[" + std::to_string(c.rank()) + "] (" +
                               std::to_string(counts[c.rank()]) + ") must equal mine.size() (" +
                               std::to_string(mine.size()) + ")");
    std::vector<T> all(std::accumulate(counts.begin(), counts.end(), std::size_t{0}));
    c.all_gather(std::as_bytes(mine), detail::byte_counts<T>(counts), std::as_writable_bytes(std::span(all)));
    return all;
}

// One process: the gather is a copy.
class single_process final : public communicator {
public:
    std::size_t rank() const override { return 0; }
    std::size_t size() const override { return 1; }
    void all_gather(std::span<const std::byte> mine, std::span<const std::size_t> counts, std::span<std::byte> out) override
    {
        if (counts.size() != 1 || counts[0] != mine.size() || out.size() != mine.size())
            raise_invalid_argument("single_process::all_gather: one block of " + std::to_string(mine.size()) +
                                   " bytes, got counts of " + std::to_string(counts.size()) + " process(es) and " +
                                   std::to_string(out.size()) + " bytes of output");
        std::copy(mine.begin(), mine.end(), out.begin());
    }
    void all_to_all(std::span<const std::byte> send, std::span<const std::size_t> send_counts, std::span<std::byte> recv,
                    std::span<const std::size_t> recv_counts) override
    {
        all_gather(send, send_counts, recv);
        (void)recv_counts;  // one process: what it sends is what it receives
    }
};

}  // namespace fewbits::train
