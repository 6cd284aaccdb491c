// The communicator of train/communicator.hpp on MPI (Open MPI, MPICH: any MPI-3 library), and
// mpi_session, which starts and ends MPI for a program. The one header of fewbits that needs
// <mpi.h>: include it only in programs built against MPI (CMake: MPI::MPI_CXX); nothing else
// in the library includes it.
//
// Errors: MPI_COMM_WORLD keeps MPI's default handler, MPI_ERRORS_ARE_FATAL, so a process that
// dies makes the others' next collective end the job instead of waiting for it. A program whose
// process stops on an exception must not reach MPI_Finalize (it waits for every process):
// mpi_session::abort ends the whole job at once.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <mpi.h>

#include "fewbits/error.hpp"
#include "fewbits/train/communicator.hpp"

namespace fewbits::train {

class mpi_communicator final : public communicator {
public:
    explicit mpi_communicator(MPI_Comm c = MPI_COMM_WORLD) : comm_(c)
    {
        int rank = 0, size = 0;
        MPI_Comm_rank(comm_, &rank);
        MPI_Comm_size(comm_, &size);
        rank_ = static_cast<std::size_t>(rank);
        size_ = static_cast<std::size_t>(size);
    }

    std::size_t rank() const override { return rank_; }
    std::size_t size() const override { return size_; }

    // MPI_Allgatherv of bytes.
    void all_gather(std::span<const std::byte> mine, std::span<const std::size_t> counts, std::span<std::byte> out) override
    {
        const placement at = place("all_gather", counts, out.size());
        if (mine.size() != counts[rank_])
            raise_invalid_argument("mpi_communicator::all_gather: this process's block (" + std::to_string(mine.size()) +
                                   " bytes) must match counts[" + std::to_string(rank_) + "] (" +
                                   std::to_string(counts[rank_]) + ")");
        MPI_Allgatherv(mine.data(), at.sizes[rank_], MPI_BYTE, out.data(), at.sizes.data(), at.offsets.data(), MPI_BYTE,
                       comm_);
    }

    // MPI_Alltoallv of bytes.
    void all_to_all(std::span<const std::byte> send, std::span<const std::size_t> send_counts, std::span<std::byte> recv,
                    std::span<const std::size_t> recv_counts) override
    {
        const placement to = place("all_to_all", send_counts, send.size());
        const placement from = place("all_to_all", recv_counts, recv.size());
        MPI_Alltoallv(send.data(), to.sizes.data(), to.offsets.data(), MPI_BYTE, recv.data(), from.sizes.data(),
                      from.offsets.data(), MPI_BYTE, comm_);
    }

private:
    // MPI's counts and offsets are ints: a buffer of one collective is below 2 GiB.
    struct placement {
        std::vector<int> sizes, offsets;
    };
    placement place(const char* what, std::span<const std::size_t> counts, std::size_t buffer) const
    {
        if (counts.size() != size_)
            raise_invalid_argument(std::string("mpi_communicator::") + what + ": counts.size() (" +
                                   std::to_string(counts.size()) + ") must equal the number of processes (" +
                                   std::to_string(size_) + ")");
        placement p{std::vector<int>(size_), std::vector<int>(size_)};
        std::size_t at = 0;
        for (std::size_t r = 0; r < size_; ++r) {
            if (at + counts[r] > static_cast<std::size_t>(INT_MAX))
                raise_invalid_argument(std::string("mpi_communicator::") + what + ": " + std::to_string(at + counts[r]) +
                                       " bytes in one buffer is more than MPI's int counts take (" +
                                       std::to_string(INT_MAX) + ")");
            p.sizes[r] = static_cast<int>(counts[r]);
            p.offsets[r] = static_cast<int>(at);
            at += counts[r];
        }
        if (at != buffer)
            raise_invalid_argument(std::string("mpi_communicator::") + what + ": the counts add up to " +
                                   std::to_string(at) + " bytes, the buffer holds " + std::to_string(buffer));
        return p;
    }

    MPI_Comm comm_;
    std::size_t rank_ = 0, size_ = 1;
};

// Whether an MPI launcher started this process: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE,
// PMIx launchers (Open MPI 4, srun --mpi=pmix) PMIX_RANK, MPICH's Hydra and Slurm's PMI-2
// PMI_RANK. Without one, a program can run as one process without initialising MPI: MPI's
// singleton start looks up this machine's name, which took 5 s on a machine whose name was in
// no /etc/hosts (a fresh Debian root).
inline bool launched_by_mpi() noexcept
{
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
        if (std::getenv(name) != nullptr) return true;
    return false;
}

// MPI_Init in the constructor, MPI_Finalize in the destructor (unless abort ended the job).
// Started without a launcher, MPI makes the program one process of its own (a singleton).
class mpi_session {
public:
    mpi_session(int& argc, char**& argv) { MPI_Init(&argc, &argv); }
    mpi_session(const mpi_session&) = delete;
    mpi_session& operator=(const mpi_session&) = delete;
    ~mpi_session() { MPI_Finalize(); }

    // Ends every process of the job with status (MPI_Abort); does not return.
    [[noreturn]] static void abort(int status)
    {
        MPI_Abort(MPI_COMM_WORLD, status);
        std::abort();  // MPI_Abort does not return; this tells the compiler so
    }
};

}  // namespace fewbits::train
