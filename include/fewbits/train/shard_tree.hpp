// The fixed order in which the gradients of a step's S shards are added, whatever the number
// of processes P that computed them.
//
// Shards are the leaves of one binary tree over shard index: node [lo, hi) with hi - lo > 1
// is the sum of its children [lo, mid) and [mid, hi), mid = lo + the largest power of two
// below hi - lo (a perfect tree when S is a power of two), the left child plus the right,
// element by element in FP32. Process r of P computes shards shard_range(S, P, r), adds them
// up to the largest tree nodes inside its range (covering_nodes), and the processes exchange
// those nodes; every process then finishes the same tree from them. Each node's value is
// computed by the same additions whichever process computes it, so the root has the same bits
// for every P in 1..S. (A sum in the order the processes come in, MPI_Allreduce's, would
// group the additions by P and give other bits for each P.)
#pragma once

#include <bit>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "fewbits/error.hpp"

namespace fewbits::train {

struct shard_span {
    std::size_t begin = 0, end = 0;  // shards [begin, end)
    std::size_t size() const noexcept { return end - begin; }
    bool operator==(const shard_span&) const = default;
};

// Refuses a shard count the processes cannot share: every process needs a whole shard.
inline void require_shards_fit(std::size_t shards, std::size_t processes)
{
    if (shards == 0) raise_invalid_argument("shards must be at least 1, got 0");
    if (processes == 0) raise_invalid_argument("processes must be at least 1, got 0");
    if (processes > shards)
        raise_invalid_argument(std::to_string(processes) + " processes need at least as many shards, got shards = " +
                               std::to_string(shards) + ": raise the shard count to " + std::to_string(processes) +
                               " or more, or run on at most " + std::to_string(shards) + " processes");
}

// The shards of process rank: [floor(rank S / P), floor((rank + 1) S / P)).
inline shard_span shard_range(std::size_t shards, std::size_t processes, std::size_t rank)
{
    require_shards_fit(shards, processes);
    if (rank >= processes)
        raise_invalid_argument("rank (" + std::to_string(rank) + ") must be below processes (" +
                               std::to_string(processes) + ")");
    return {rank * shards / processes, (rank + 1) * shards / processes};
}

// Where node [lo, hi) (hi - lo >= 2) splits into its two children.
inline std::size_t shard_tree_split(std::size_t lo, std::size_t hi) noexcept { return lo + std::bit_floor(hi - lo - 1); }

// The largest nodes of the tree over [0, shards) that lie inside range, left to right; together
// they hold exactly the shards of range.
inline std::vector<shard_span> covering_nodes(std::size_t shards, shard_span range)
{
    if (range.begin >= range.end || range.end > shards)
        raise_invalid_argument("covering_nodes: range [" + std::to_string(range.begin) + ", " +
                               std::to_string(range.end) + ") must be a non-empty part of [0, " +
                               std::to_string(shards) + ")");
    std::vector<shard_span> out;
    auto visit = [&](auto& self, std::size_t lo, std::size_t hi) -> void {
        if (hi <= range.begin || lo >= range.end) return;
        if (range.begin <= lo && hi <= range.end) {
            out.push_back({lo, hi});
            return;
        }
        const std::size_t mid = shard_tree_split(lo, hi);
        self(self, lo, mid);
        self(self, mid, hi);
    };
    visit(visit, 0, shards);
    return out;
}

// Writes the sum of node [lo, hi) of the tree into out. known(lo, hi, out) writes a node's
// value and returns true when the caller has it (every leaf must be known); the other nodes
// are the left child plus the right, then finish(lo, hi, out) (a rounding of every node the
// sum computes; by default none).
template <class T, class Known, class Finish>
void shard_tree_sum(std::size_t lo, std::size_t hi, std::span<T> out, Known&& known, Finish&& finish)
{
    if (known(lo, hi, out)) return;
    if (hi - lo < 2)
        raise_invalid_argument("shard_tree_sum: the value of shard " + std::to_string(lo) + " is not known");
    const std::size_t mid = shard_tree_split(lo, hi);
    shard_tree_sum(lo, mid, out, known, finish);
    std::vector<T> right(out.size());
    shard_tree_sum(mid, hi, std::span<T>(right), known, finish);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += right[i];
    finish(lo, hi, out);
}
template <class T, class Known>
void shard_tree_sum(std::size_t lo, std::size_t hi, std::span<T> out, Known&& known)
{
    shard_tree_sum(lo, hi, out, known, [](std::size_t, std::size_t, std::span<T>) {});
}

}  // namespace fewbits::train
