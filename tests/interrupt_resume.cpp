// interrupt_resume: the checkpoint guarantee with real interruptions. Runs a training program
// (tiny_gpt, batch_vs_precision) once without interruption (writing its own checkpoints, so
// that it takes as long) and reads its "state digest" line; then runs it again with
// --checkpoint DIR/run.fbck --checkpoint-every K (and --resume once a checkpoint exists), kills
// it with SIGKILL --kills times, resuming after each kill, and lets the last run finish.
// Passes when the finished run prints the uninterrupted run's digest.
//
// The kills alternate between a random moment of the run and the moment the program starts
// writing a checkpoint (DIR/run.fbck.partial appears); a kill counts as "during a checkpoint
// write" when the .partial file is still there after the program died. At least one kill must
// land during a write and at least one after a checkpoint exists: when the first --kills kills
// have not done both, the test goes on killing (at most 3 x --kills kills) and fails if they
// never do. A kill that comes after the run has finished does not count; the run starts over. On x86-64
// every other resumed run is forced onto the SSE2 kernels (FEWBITS_SIMD=sse2), so the runs also
// switch instruction sets between checkpoints.
//
// Usage: interrupt_resume --dir DIR [--kills N] [--every K] [--seed S] -- PROGRAM ARGS...
// Exit status 0 passed, 1 failed, 2 bad usage.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& why)
{
    std::fprintf(stderr, "interrupt_resume: FAILED: %s\n", why.c_str());
    std::exit(1);
}

struct child {
    pid_t pid = -1;
    std::string output;  // the file its stdout and stderr go to
};

child start(const std::vector<std::string>& args, const std::string& output, bool force_sse2)
{
    const pid_t pid = ::fork();
    if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (force_sse2) ::setenv("FEWBITS_SIMD", "sse2", 1);
        std::vector<char*> argv;
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return {pid, output};
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Waits for c; returns its wait status.
int wait_for(const child& c)
{
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0)
        if (errno != EINTR) fail(std::string("waitpid: ") + std::strerror(errno));
    return status;
}

std::string digest_of(const child& c, int status)
{
    const std::string out = read_file(c.output);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("the program did not finish normally (status " + std::to_string(status) + "); its output:\n" + out);
    const auto at = out.rfind("state digest ");
    if (at == std::string::npos || out.size() < at + 13 + 16) fail("no 'state digest' line in the output:\n" + out);
    return out.substr(at + 13, 16);
}

}  // namespace

int main(int argc, char** argv)
{
    std::string dir;
    unsigned kills = 6;
    std::string every = "1";
    std::uint64_t seed = 1;
    std::vector<std::string> program;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--") {
            program.assign(argv + i + 1, argv + argc);
            break;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "interrupt_resume: %s needs a value\n", a.c_str());
            return 2;
        }
        if (a == "--dir") dir = argv[++i];
        else if (a == "--kills") kills = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        else if (a == "--every") every = argv[++i];
        else if (a == "--seed") seed = std::strtoull(argv[++i], nullptr, 10);
        else {
            std::fprintf(stderr, "interrupt_resume: unknown option '%s'\n", a.c_str());
            return 2;
        }
    }
    if (dir.empty() || program.empty() || kills < 2) {
        std::fprintf(stderr, "usage: interrupt_resume --dir DIR [--kills N >= 2] [--every K] [--seed S] -- PROGRAM ARGS...\n");
        return 2;
    }
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string checkpoint = dir + "/run.fbck", partial = checkpoint + ".partial";

    // The uninterrupted run, timed: the random kill moments fall inside its duration.
    const auto with_checkpoint = [&](const std::string& path) {
        std::vector<std::string> args = program;
        for (const std::string& a : {std::string("--checkpoint"), path, std::string("--checkpoint-every"), every})
            args.push_back(a);
        return args;
    };
    const auto t0 = clock_type::now();
    const child straight = start(with_checkpoint(dir + "/straight.fbck"), dir + "/straight.out", false);
    const std::string expected = digest_of(straight, wait_for(straight));
    const double run_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::printf("uninterrupted run: %.2f s, state digest %s\n", run_seconds, expected.c_str());

    std::mt19937_64 rng(seed);
    unsigned killed = 0, during_write = 0, after_checkpoint = 0, attempts = 0, runs = 0;
    bool sse2 = false;
#if defined(__x86_64__)
    const bool can_switch_isa = true;
#else
    const bool can_switch_isa = false;
#endif
    for (;;) {
        std::vector<std::string> args = with_checkpoint(checkpoint);
        const bool resuming = fs::exists(checkpoint);
        if (resuming) {
            args.emplace_back("--resume");
            args.emplace_back(checkpoint);
        }
        const std::string out = dir + "/run" + std::to_string(runs++) + ".out";
        const child c = start(args, out, sse2);
        const char* isa = sse2 ? "sse2" : "default";
        sse2 = can_switch_isa && !sse2;
        const bool enough = killed >= kills && during_write > 0 && after_checkpoint > 0;
        if (enough || killed >= 3 * kills) {
            const std::string got = digest_of(c, wait_for(c));
            std::printf("final run (%s, %s kernels): state digest %s\n", resuming ? "resumed" : "fresh", isa, got.c_str());
            if (got != expected) fail("the interrupted run ends with digest " + got + ", the uninterrupted one with " + expected);
            if (!enough) fail("in " + std::to_string(killed) + " kills, " + std::to_string(during_write) +
                              " landed during a checkpoint write and " + std::to_string(after_checkpoint) +
                              " after a checkpoint existed; the test needs at least one of each");
            break;
        }
        // Even kills at a random moment, odd ones as soon as a checkpoint write starts.
        const bool at_write = killed % 2 == 1;
        const auto started = clock_type::now();
        int status = 0;
        bool exited = false;
        if (at_write) {
            struct stat st;
            while (::stat(partial.c_str(), &st) != 0 && !exited) exited = ::waitpid(c.pid, &status, WNOHANG) == c.pid;
        } else {
            std::uniform_real_distribution<double> moment(0.0, run_seconds);
            std::this_thread::sleep_for(std::chrono::duration<double>(moment(rng)));
        }
        if (!exited) {
            ::kill(c.pid, SIGKILL);
            status = wait_for(c);
        }
        const double at = std::chrono::duration<double>(clock_type::now() - started).count();
        ++attempts;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            // The run ended before the kill: start over from a fresh run.
            std::printf("kill %u (%s): the run had already finished (status %d); starting again\n", killed + 1,
                        at_write ? "at a write" : "random moment", status);
            if (attempts > 6 * kills) fail("too many kills came after the run had finished");
            fs::remove(checkpoint);
            continue;
        }
        const bool in_write = fs::exists(partial);
        const bool has_checkpoint = fs::exists(checkpoint);
        // The torn temporary file is left by the kill; the next writer would truncate it, but the
        // next "at a write" kill must see a new one appear.
        fs::remove(partial);
        ++killed;
        during_write += in_write;
        after_checkpoint += has_checkpoint;
        std::printf("kill %u (of at least %u) after %.3f s (%s kernels, %s): %s%s\n", killed, kills, at, isa,
                    resuming ? "resumed run" : "fresh run", in_write ? "during a checkpoint write" : "between writes",
                    has_checkpoint ? "" : ", before the first checkpoint");
        std::fflush(stdout);
    }
    std::printf("%u kills, %u during a checkpoint write, %u with a checkpoint to resume from\n", killed, during_write,
                after_checkpoint);
    std::printf("passed: the resumed run ends with the uninterrupted run's state digest %s\n", expected.c_str());
    return 0;
}
