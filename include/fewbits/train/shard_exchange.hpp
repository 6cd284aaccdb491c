// The sum of one value vector per shard (a gradient, a loss) over the processes of a
// communicator, in the fixed tree of train/shard_tree.hpp. The tree adds element by element,
// so its values can be finished in slices, the way a reduce-scatter and an allgather make an
// allreduce:
//   1. each process sums its own shards into the tree nodes that cover its range;
//   2. all_to_all: process q receives slice q of the values of every process's nodes;
//   3. process q finishes the tree for slice q (the same additions whoever does them);
//   4. all_gather: every process receives every slice.
// The result has the same bits on every process and for every process count in 1..S.
//
// Cost (values sent, all processes together): sum over processes r of
// nodes(r) (n - n_r) + (P - 1) n_r, with nodes(r) the nodes covering r's range (1 when S and
// P are powers of two, at most about 2 log2 S) and n_r ~ n / P its slice; so 2 (P - 1) n, a ring
// MPI_Allreduce's, when every range is one node, and up to nodes(r) / 2 + 1/2 times that when
// it is not. shard_exchange_values gives the exact count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "fewbits/train/communicator.hpp"
#include "fewbits/train/shard_tree.hpp"

namespace fewbits::train {

namespace detail {

// Process q finishes the tree for values [slice_begin(q), slice_begin(q + 1)) of n.
inline std::size_t slice_begin(std::size_t q, std::size_t processes, std::size_t n) noexcept { return q * n / processes; }

}  // namespace detail

// The values all processes send in one sum_shards of n values (step 2 and step 4 above).
inline std::size_t shard_exchange_values(std::size_t shards, std::size_t processes, std::size_t n)
{
    std::size_t sent = 0;
    for (std::size_t r = 0; r < processes; ++r) {
        const std::size_t nodes = covering_nodes(shards, shard_range(shards, processes, r)).size();
        const std::size_t own = detail::slice_begin(r + 1, processes, n) - detail::slice_begin(r, processes, n);
        sent += nodes * (n - own) + (processes - 1) * own;
    }
    return sent;
}

// The sum over shards 0..shards-1 of n values each: shard(k, out) writes shard k's values, and
// is called for this process's shards only, in increasing k. round(node, first, values) is
// applied to every tree node's value once, where it is computed (values[i] is value first + i
// of node), leaves and root included, whichever process computes it; the values then travel
// as Wire, which must hold every rounded value exactly (BF16 after rounding to BF16, say).
template <class T, class Wire, class Shard, class Round>
std::vector<T> sum_shards(communicator& comm, std::size_t shards, std::size_t n, Shard&& shard, Round&& round)
{
    const std::size_t processes = comm.size(), me = comm.rank();
    auto slice = [&](std::size_t q) { return detail::slice_begin(q, processes, n); };
    const std::vector<shard_span> own = covering_nodes(shards, shard_range(shards, processes, me));
    // 1. This process's nodes, whole.
    auto leaf = [&](std::size_t lo, std::size_t hi, std::span<T> out) {
        if (hi - lo > 1) return false;
        shard(lo, out);
        round(shard_span{lo, hi}, std::size_t{0}, out);
        return true;
    };
    auto round_whole = [&](std::size_t lo, std::size_t hi, std::span<T> out) { round(shard_span{lo, hi}, std::size_t{0}, out); };
    std::vector<T> local(own.size() * n);
    for (std::size_t i = 0; i < own.size(); ++i)
        shard_tree_sum(own[i].begin, own[i].end, std::span(local).subspan(i * n, n), leaf, round_whole);

    // 2. Slice q of every own node to process q; slice me of every process's nodes from each.
    std::vector<Wire> send;
    send.reserve(local.size());
    std::vector<std::size_t> send_counts(processes), recv_counts(processes), slice_counts(processes);
    for (std::size_t q = 0; q < processes; ++q) {
        slice_counts[q] = slice(q + 1) - slice(q);
        send_counts[q] = own.size() * slice_counts[q];
        for (std::size_t i = 0; i < own.size(); ++i)
            for (std::size_t j = i * n + slice(q); j < i * n + slice(q + 1); ++j) send.push_back(Wire(local[j]));
    }
    const std::size_t m = slice_counts[me];
    std::vector<shard_span> nodes;  // every process's nodes, in rank order: the order of the values received
    for (std::size_t r = 0; r < processes; ++r) {
        const std::vector<shard_span> covering = covering_nodes(shards, shard_range(shards, processes, r));
        recv_counts[r] = covering.size() * m;
        nodes.insert(nodes.end(), covering.begin(), covering.end());
    }
    const std::vector<Wire> received = all_to_all_values<Wire>(comm, send, send_counts, recv_counts);

    // 3. This process's slice of the root.
    std::vector<Wire> part(m);
    {
        std::vector<T> root(m);
        auto received_node = [&](std::size_t lo, std::size_t hi, std::span<T> out) {
            const auto it = std::find(nodes.begin(), nodes.end(), shard_span{lo, hi});
            if (it == nodes.end()) return false;
            const auto from = received.begin() + (it - nodes.begin()) * static_cast<std::ptrdiff_t>(m);
            std::transform(from, from + static_cast<std::ptrdiff_t>(m), out.begin(), [](Wire w) { return static_cast<T>(w); });
            return true;
        };
        auto round_slice = [&](std::size_t lo, std::size_t hi, std::span<T> out) { round(shard_span{lo, hi}, slice(me), out); };
        shard_tree_sum(0, shards, std::span(root), received_node, round_slice);
        std::transform(root.begin(), root.end(), part.begin(), [](T v) { return Wire(v); });
    }
    // 4. Every slice to every process.
    const std::vector<Wire> whole = all_gather_values<Wire>(comm, part, slice_counts);
    std::vector<T> total(n);
    std::transform(whole.begin(), whole.end(), total.begin(), [](Wire w) { return static_cast<T>(w); });
    return total;
}

// The sum in T, nothing rounded.
template <class T, class Shard>
std::vector<T> sum_shards(communicator& comm, std::size_t shards, std::size_t n, Shard&& shard)
{
    return sum_shards<T, T>(comm, shards, n, shard, [](shard_span, std::size_t, std::span<T>) {});
}

}  // namespace fewbits::train
