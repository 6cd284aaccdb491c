// What the data-parallel programs (tiny_gpt, batch_vs_precision) share about their processes
// (docs/distributed.md): the main that runs under mpirun when the program is built with MPI
// (FEWBITS_EXAMPLE_HAVE_MPI) and started by a launcher, and alone otherwise, the refusal of more processes than shards,
// and the check that every process ended in the same state.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "experiment.hpp"

#if FEWBITS_EXAMPLE_HAVE_MPI
#include <fewbits/train/mpi_communicator.hpp>
#endif

namespace experiment {

// --shards S under P processes: every process needs a whole shard. what_divides names what S
// must also divide ("--batch"), for the message.
inline void require_shards_fit_processes(std::size_t shards, const fewbits::train::communicator& comm,
                                         const std::string& what_divides)
{
    try {
        fewbits::train::require_shards_fit(shards, comm.size());
    } catch (const std::invalid_argument&) {
        throw usage_error("--shards " + std::to_string(shards) + " is fewer than the " + std::to_string(comm.size()) +
                          " processes, and every process needs a whole shard: use --shards " +
                          std::to_string(comm.size()) + " or more (a divisor of " + what_divides + "), or mpirun -np " +
                          std::to_string(shards) + " or fewer");
    }
}

// Every process holds the whole state: they must all have reached the same one.
inline void require_same_digest(fewbits::train::communicator& comm, std::uint64_t digest)
{
    const std::vector<std::size_t> one_each(comm.size(), 1);
    const std::vector<std::uint64_t> digests =
        fewbits::train::all_gather_values<std::uint64_t>(comm, std::span(&digest, 1), one_each);
    for (std::size_t r = 0; r < digests.size(); ++r)
        if (digests[r] != digest)
            throw std::runtime_error("process " + std::to_string(r) + " ended in state digest " + hex64(digests[r]) +
                                     ", process " + std::to_string(comm.rank()) + " in " + hex64(digest));
}

// run_main with run(options, comm): the processes of mpirun, or this one alone. Only process 0
// prints progress; the others' errors still reach stderr.
template <class Parse, class Run>
int run_main_on_processes(int argc, char** argv, void (*print_usage)(std::FILE*, const char*), Parse parse, Run run)
{
    fewbits::train::single_process alone;
#if FEWBITS_EXAMPLE_HAVE_MPI
    // MPI only under a launcher: alone, the same bits without MPI's start-up (launched_by_mpi).
    std::optional<fewbits::train::mpi_session> mpi;
    std::optional<fewbits::train::mpi_communicator> world;
    if (fewbits::train::launched_by_mpi()) {
        mpi.emplace(argc, argv);
        world.emplace();
    }
    fewbits::train::communicator& comm = world ? static_cast<fewbits::train::communicator&>(*world) : alone;
#else
    fewbits::train::communicator& comm = alone;
#endif
    if (comm.rank() != 0 && std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
    const int status = run_main(argc, argv, print_usage, parse, [&](const auto& o) { return run(o, comm); });
#if FEWBITS_EXAMPLE_HAVE_MPI
    // A process that stopped must not wait in MPI_Finalize for the others, nor leave them
    // waiting in the step's exchange: end the whole job.
    if (status != 0 && comm.size() > 1) fewbits::train::mpi_session::abort(status);
#endif
    return status;
}

}  // namespace experiment
