// Under mpirun -np P: sums the same 12 shard gradients (wide magnitudes, so that the order of
// the additions shows in the bits) two ways and prints, on process 0, the digest of each:
//   tree       train/shard_exchange.hpp's fixed tree over shard index (what the training step does)
//   allreduce  what a plain data-parallel trainer does: each process adds its shards in order,
//              then MPI_Allreduce(MPI_SUM) adds the processes' sums in an order MPI picks for P
// tests/mpi_same_bits.sh runs it for P = 1..4: the tree's digest must be one, the allreduce's
// must not (so that the test of the tree can fail). It also prints the bytes the tree's
// exchange sends per step for a gradient of --values floats; --only tree or --only allreduce
// runs one of the two, for measuring what each sends (docs/distributed.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include <fewbits/train/mpi_communicator.hpp>
#include <fewbits/train/shard_exchange.hpp>

#include "shard_values.hpp"

namespace {

constexpr std::size_t shards = 12;

std::uint64_t fnv1a(std::span<const float> v)
{
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const std::byte b : std::as_bytes(v)) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ull;
    return h;
}

}  // namespace

int main(int argc, char** argv)
{
    fewbits::train::mpi_session mpi(argc, argv);
    fewbits::train::mpi_communicator comm;
    std::size_t n = 4096;
    std::string only;
    for (int i = 1; i < argc; i += 2) {
        const std::string a = argv[i];
        if (i + 1 < argc && a == "--values") n = std::strtoull(argv[i + 1], nullptr, 10);
        else if (i + 1 < argc && a == "--only" && (std::string(argv[i + 1]) == "tree" || std::string(argv[i + 1]) == "allreduce"))
            only = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: %s [--values N] [--only tree|allreduce]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0) {
        std::fprintf(stderr, "%s: --values needs a positive count\n", argv[0]);
        return 2;
    }
    if (comm.size() > shards) {
        std::fprintf(stderr, "%s: at most %zu processes (one shard each), got %zu\n", argv[0], shards, comm.size());
        return 2;
    }
    std::vector<float> tree(n);
    if (only != "allreduce") tree = fewbits::train::sum_shards<float>(comm, shards, n, fewbits_test::shard_values);

    const fewbits::train::shard_span mine = fewbits::train::shard_range(shards, comm.size(), comm.rank());
    std::vector<float> local(n, 0.0f), one(n), total(n);
    for (std::size_t k = mine.begin; k < mine.end; ++k) {
        fewbits_test::shard_values(k, one);
        for (std::size_t i = 0; i < n; ++i) local[i] += one[i];
    }
    if (only != "tree") MPI_Allreduce(local.data(), total.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);

    if (comm.rank() == 0) {
        std::printf("processes %zu tree %016llx allreduce %016llx\n", comm.size(),
                    static_cast<unsigned long long>(fnv1a(tree)), static_cast<unsigned long long>(fnv1a(total)));
        const std::size_t sent = fewbits::train::shard_exchange_bytes<fewbits::train::plain_codec<float>>(shards, comm.size(), n);
        std::printf("bytes per step for %zu floats, all processes together: the tree's exchange sends %zu, "
                    "a ring MPI_Allreduce %zu\n",
                    n, sent, 2 * (comm.size() - 1) * n * 4);
    }
    return 0;
}
