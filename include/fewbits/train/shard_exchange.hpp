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
// it is not. shard_exchange_bytes gives the exact count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <span>
#include <vector>

#include "fewbits/train/communicator.hpp"
#include "fewbits/train/shard_tree.hpp"

namespace fewbits::train {

// How the values of a tree node travel: the plain codec sends them as they are. A codec (see
// train/exchange_codec.hpp for the rounding ones) has
//   block           slices of the values start on multiples of it (a block of shared scale)
//   bytes(count)    the encoded size of count values (count a multiple of block, or the tail)
//   round(node, first, values)  applied to every tree node's value once, where it is computed,
//                   leaves and root included, whichever process computes it (values[i] is
//                   value first + i of node; first is a multiple of block)
//   encode(values, out) / decode(in, values)  lossless for every value round leaves
template <class T>
struct plain_codec {
    static constexpr std::size_t block = 1;
    static constexpr std::size_t bytes(std::size_t count) noexcept { return count * sizeof(T); }
    void round(shard_span, std::size_t, std::span<T>) const noexcept {}
    void encode(std::span<const T> values, std::span<std::byte> out) const noexcept
    {
        const std::span<const std::byte> b = std::as_bytes(values);
        std::copy(b.begin(), b.end(), out.begin());
    }
    void decode(std::span<const std::byte> in, std::span<T> values) const noexcept
    {
        std::copy(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(values.size_bytes()),
                  std::as_writable_bytes(values).begin());
    }
};

namespace detail {

// Process q finishes the tree for values [slice_begin(q), slice_begin(q + 1)) of n: whole
// blocks of the codec, as evenly as they go.
inline std::size_t slice_begin(std::size_t q, std::size_t processes, std::size_t n, std::size_t block) noexcept
{
    const std::size_t blocks = (n + block - 1) / block;
    return std::min(n, q * blocks / processes * block);
}

}  // namespace detail

// The bytes all processes send in one sum_shards of n values with Codec (steps 2 and 4 above).
template <class Codec>
std::size_t shard_exchange_bytes(std::size_t shards, std::size_t processes, std::size_t n)
{
    auto slice_bytes = [&](std::size_t q) {
        return Codec::bytes(detail::slice_begin(q + 1, processes, n, Codec::block) -
                            detail::slice_begin(q, processes, n, Codec::block));
    };
    std::size_t all_slices = 0;
    for (std::size_t q = 0; q < processes; ++q) all_slices += slice_bytes(q);
    std::size_t sent = 0;
    for (std::size_t r = 0; r < processes; ++r) {
        const std::size_t nodes = covering_nodes(shards, shard_range(shards, processes, r)).size();
        sent += nodes * (all_slices - slice_bytes(r)) + (processes - 1) * slice_bytes(r);
    }
    return sent;
}

// The sum over shards 0..shards-1 of n values each: shard(k, out) writes shard k's values, and
// is called for this process's shards only, in increasing k; the nodes travel by codec.
template <class T, class Shard, class Codec>
std::vector<T> sum_shards(communicator& comm, std::size_t shards, std::size_t n, Shard&& shard, const Codec& codec)
{
    const std::size_t processes = comm.size(), me = comm.rank();
    auto slice = [&](std::size_t q) { return detail::slice_begin(q, processes, n, Codec::block); };
    const std::vector<shard_span> own = covering_nodes(shards, shard_range(shards, processes, me));
    // 1. This process's nodes, whole.
    auto leaf = [&](std::size_t lo, std::size_t hi, std::span<T> out) {
        if (hi - lo > 1) return false;
        shard(lo, out);
        codec.round(shard_span{lo, hi}, 0, out);
        return true;
    };
    auto round_whole = [&](std::size_t lo, std::size_t hi, std::span<T> out) { codec.round(shard_span{lo, hi}, 0, out); };
    std::vector<T> local(own.size() * n);
    for (std::size_t i = 0; i < own.size(); ++i)
        shard_tree_sum(own[i].begin, own[i].end, std::span(local).subspan(i * n, n), leaf, round_whole);

    // 2. Slice q of every own node to process q; slice me of every process's nodes from each.
    std::vector<std::size_t> send_counts(processes), recv_counts(processes), slice_bytes(processes);
    for (std::size_t q = 0; q < processes; ++q) {
        slice_bytes[q] = Codec::bytes(slice(q + 1) - slice(q));
        send_counts[q] = own.size() * slice_bytes[q];
    }
    std::vector<std::byte> send(std::accumulate(send_counts.begin(), send_counts.end(), std::size_t{0}));
    std::size_t at = 0;
    for (std::size_t q = 0; q < processes; ++q)
        for (std::size_t i = 0; i < own.size(); ++i, at += slice_bytes[q])
            codec.encode(std::span<const T>(local).subspan(i * n + slice(q), slice(q + 1) - slice(q)),
                         std::span(send).subspan(at, slice_bytes[q]));
    const std::size_t m = slice(me + 1) - slice(me), m_bytes = slice_bytes[me];
    std::vector<shard_span> nodes;  // every process's nodes, in rank order: the order of the slices received
    for (std::size_t r = 0; r < processes; ++r) {
        const std::vector<shard_span> covering = covering_nodes(shards, shard_range(shards, processes, r));
        recv_counts[r] = covering.size() * m_bytes;
        nodes.insert(nodes.end(), covering.begin(), covering.end());
    }
    std::vector<std::byte> received(std::accumulate(recv_counts.begin(), recv_counts.end(), std::size_t{0}));
    comm.all_to_all(send, send_counts, received, recv_counts);

    // 3. This process's slice of the root.
    std::vector<T> root(m);
    auto received_node = [&](std::size_t lo, std::size_t hi, std::span<T> out) {
        const auto it = std::find(nodes.begin(), nodes.end(), shard_span{lo, hi});
        if (it == nodes.end()) return false;
        codec.decode(std::span<const std::byte>(received).subspan(static_cast<std::size_t>(it - nodes.begin()) * m_bytes,
                                                                  m_bytes),
                     out);
        return true;
    };
    auto round_slice = [&](std::size_t lo, std::size_t hi, std::span<T> out) { codec.round(shard_span{lo, hi}, slice(me), out); };
    shard_tree_sum(0, shards, std::span(root), received_node, round_slice);

    // 4. Every slice to every process.
    std::vector<std::byte> part(m_bytes);
    codec.encode(std::span<const T>(root), part);
    std::vector<std::byte> whole(std::accumulate(slice_bytes.begin(), slice_bytes.end(), std::size_t{0}));
    comm.all_gather(part, slice_bytes, whole);
    std::vector<T> total(n);
    at = 0;
    for (std::size_t q = 0; q < processes; ++q) {
        codec.decode(std::span<const std::byte>(whole).subspan(at, slice_bytes[q]),
                     std::span(total).subspan(slice(q), slice(q + 1) - slice(q)));
        at += slice_bytes[q];
    }
    return total;
}

// The sum in T, nothing rounded.
template <class T, class Shard>
std::vector<T> sum_shards(communicator& comm, std::size_t shards, std::size_t n, Shard&& shard)
{
    return sum_shards<T>(comm, shards, n, shard, plain_codec<T>{});
}

}  // namespace fewbits::train
