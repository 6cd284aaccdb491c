// The sum of one value per shard (a gradient, a loss) over the processes of a communicator, in
// the fixed tree of train/shard_tree.hpp: each process sums its own shards into the tree
// nodes that cover its range, one all_gather hands every process every node, and each
// process finishes the tree. The result has the same bits on every process and for every
// process count in 1..S.
//
// Cost: the gather moves shard_exchange_nodes(S, P) nodes of n values, each to every other
// process: 1 node per process when S and P are powers of two (every range is a tree node),
// at most about 2 log2 S per process otherwise. A ring MPI_Allreduce moves
// 2 (P - 1) / P n values per process, but adds in an order that depends on P.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "fewbits/train/communicator.hpp"
#include "fewbits/train/shard_tree.hpp"

namespace fewbits::train {

// The number of tree nodes the processes send in all.
inline std::size_t shard_exchange_nodes(std::size_t shards, std::size_t processes)
{
    std::size_t nodes = 0;
    for (std::size_t r = 0; r < processes; ++r) nodes += covering_nodes(shards, shard_range(shards, processes, r)).size();
    return nodes;
}

// The sum over shards 0..shards-1 of n values each: shard(k, out) writes shard k's values, and
// is called for this process's shards only, in increasing k.
template <class T, class Shard>
std::vector<T> sum_shards(communicator& comm, std::size_t shards, std::size_t n, Shard&& shard)
{
    const std::size_t processes = comm.size();
    const std::vector<shard_span> own = covering_nodes(shards, shard_range(shards, processes, comm.rank()));
    auto leaf = [&](std::size_t lo, std::size_t hi, std::span<T> out) {
        if (hi - lo > 1) return false;
        shard(lo, out);
        return true;
    };
    std::vector<T> local(own.size() * n);
    for (std::size_t i = 0; i < own.size(); ++i) shard_tree_sum(own[i].begin, own[i].end, std::span(local).subspan(i * n, n), leaf);

    std::vector<shard_span> nodes;
    std::vector<std::size_t> counts(processes);
    for (std::size_t r = 0; r < processes; ++r) {
        const std::vector<shard_span> covering = covering_nodes(shards, shard_range(shards, processes, r));
        counts[r] = covering.size() * n;
        nodes.insert(nodes.end(), covering.begin(), covering.end());
    }
    const std::vector<T> gathered = all_gather_values<T>(comm, local, counts);
    std::vector<T> total(n);
    shard_tree_sum(0, shards, std::span(total), [&](std::size_t lo, std::size_t hi, std::span<T> out) {
        const auto it = std::find(nodes.begin(), nodes.end(), shard_span{lo, hi});
        if (it == nodes.end()) return false;
        const auto from = gathered.begin() + (it - nodes.begin()) * static_cast<std::ptrdiff_t>(n);
        std::copy(from, from + static_cast<std::ptrdiff_t>(n), out.begin());
        return true;
    });
    return total;
}

}  // namespace fewbits::train
