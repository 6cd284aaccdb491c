// What the experiment programs (gradient_variance, batch_vs_precision, tiny_gpt, ...) share:
// command-line parsing, the data set (Fashion-MNIST when installed, else the synthetic
// teacher), the named formats of the grids, a CSV file that appears only when complete, a
// progress line with an estimate of the time left, and the checkpoint options of single runs.
// Example code, not library API.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fewbits/training.hpp>
#include <fewbits/io/checkpoint.hpp>
#if FEWBITS_EXAMPLE_HAVE_ZLIB
#include <fewbits/data/fashion_mnist.hpp>
#endif

#include "formats.hpp"

namespace experiment {

using namespace fewbits::training;
using namespace fewbits::io;

// A bad command line: main prints the message and the usage, and exits with status 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline std::uint64_t parse_count(const std::string& option, const char* text, std::uint64_t lo, std::uint64_t hi)
{
    // (Appended, not "'" + std::string(text): GCC 12 warns falsely (-Wrestrict) on that form
    // wherever this is inlined.)
    const std::string shown = text == nullptr ? std::string("nothing") : std::string("'").append(text).append("'");
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = text == nullptr || *text == '\0' || *text == '-' ? 0 : std::strtoull(text, &end, 10);
    if (text == nullptr || *text == '\0' || *text == '-' || errno != 0 || *end != '\0' || v < lo || v > hi)
        throw usage_error(option + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + shown);
    return v;
}

// The value of the option at argv[i], argv[i + 1]; i moves onto it. usage_error when it is
// missing or empty.
inline const char* option_value(int argc, char** argv, int& i)
{
    if (i + 1 >= argc || *argv[i + 1] == '\0') throw usage_error(std::string(argv[i]) + " needs a value, got nothing");
    return argv[++i];
}

// "a,b,c" -> {"a", "b", "c"} (empty items kept, so that "a,,b" is reported, not skipped).
inline std::vector<std::string> split_list(const std::string& option, const char* text)
{
    if (text == nullptr) throw usage_error(option + " needs a comma-separated list, got nothing");
    std::vector<std::string> items(1);
    for (const char* c = text; *c != '\0'; ++c) {
        if (*c == ',') items.emplace_back();
        else items.back() += *c;
    }
    return items;
}

// Every item must be one of allowed; repeats are dropped.
inline std::vector<std::string> parse_names(const std::string& option, const char* text,
                                            const std::vector<std::string>& allowed)
{
    std::vector<std::string> out;
    for (const std::string& item : split_list(option, text)) {
        if (std::find(allowed.begin(), allowed.end(), item) == allowed.end()) {
            std::string list;
            for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
            throw usage_error(option + ": unknown item '" + item + "' (known: " + list + ")");
        }
        if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
    return out;
}

// A list of rounding names for the formatted rows: RTN, SR or SR<r> (parse_rounding); repeats
// are dropped.
inline std::vector<std::string> parse_roundings(const std::string& option, const char* text)
{
    std::vector<std::string> out;
    for (const std::string& item : split_list(option, text)) {
        if (item == "-") throw usage_error(option + ": '-' is the FP32 rows' rounding, not one to choose");
        try {
            (void)parse_rounding(item);
        } catch (const std::invalid_argument& e) {
            throw usage_error(option + ": " + e.what());
        }
        if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
    return out;
}

// A list of format names: format_names(), and with block_scaled also block_format_names()
// (each may end in +rhtN); repeats are dropped.
inline std::vector<std::string> parse_formats(const std::string& option, const char* text, bool block_scaled)
{
    std::vector<std::string> known = format_names();
    if (block_scaled) known.insert(known.end(), block_format_names().begin(), block_format_names().end());
    std::vector<std::string> out;
    for (const std::string& item : split_list(option, text)) {
        bool block = false;
        try {
            block = is_block_format(item);
        } catch (const std::invalid_argument& e) {
            throw usage_error(option + ": " + e.what());
        }
        if (block && !block_scaled) throw usage_error(option + ": '" + item + "' is block-scaled, which this option does not take");
        if (!block) (void)parse_names(option, item.c_str(), known);  // usage_error naming the known ones
        if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
    return out;
}

// "8,32,128" -> {8, 32, 128}, each in lo..hi, sorted, no repeats.
inline std::vector<std::size_t> parse_sizes(const std::string& option, const char* text, std::uint64_t lo, std::uint64_t hi)
{
    std::vector<std::size_t> out;
    for (const std::string& item : split_list(option, text))
        out.push_back(parse_count(option + " (item '" + item + "')", item.c_str(), lo, hi));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

inline unsigned default_threads()
{
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : std::min(n, 64u);
}

// ---- Data ---------------------------------------------------------------------------------------

enum class data_choice { automatic, fashion_mnist, synthetic };

inline data_choice parse_data(const char* text)
{
    const std::string s = text == nullptr ? "" : text;
    if (s == "auto") return data_choice::automatic;
    if (s == "fashion-mnist") return data_choice::fashion_mnist;
    if (s == "synthetic") return data_choice::synthetic;
    throw usage_error("--data needs auto, fashion-mnist or synthetic, got '" + s + "'");
}

struct experiment_data {
    dataset train, test;
    std::vector<std::size_t> sizes;  // the MLP's layer sizes
    std::string name;                // "fashion-mnist" or "synthetic"
};

// The synthetic Gaussian-mixture teacher, split into train and test (a few seconds of training).
inline experiment_data synthetic_data(std::size_t train_n, std::uint64_t seed)
{
    const std::size_t test_n = 2048;
    const dataset all = make_gaussian_mixture(train_n + test_n, 32, 4, 3.0f, seed);
    experiment_data d;
    for (auto [from, n, out] : {std::tuple{std::size_t{0}, train_n, &d.train}, std::tuple{train_n, test_n, &d.test}}) {
        std::vector<std::size_t> idx(n);
        for (std::size_t i = 0; i < n; ++i) idx[i] = from + i;
        batch b;
        gather(all, idx, b);
        out->classes = all.classes, out->inputs = b.x, out->labels = b.labels;
    }
    d.sizes = {32, 64, 4};
    d.name = "synthetic";
    return d;
}

// Fashion-MNIST (784-128-10) when asked for or, with automatic, when installed; otherwise the
// synthetic teacher (32-64-4) with a message saying how to install the data set. max_train > 0
// keeps only the first max_train training images.
inline experiment_data load_data(data_choice choice, std::size_t max_train, std::size_t synthetic_train,
                                 std::uint64_t seed)
{
#if FEWBITS_EXAMPLE_HAVE_ZLIB
    if (choice != data_choice::synthetic) {
        if (fashion_mnist_available()) {
            experiment_data d;
            d.train = load_fashion_mnist(fashion_mnist_split::train, fashion_mnist_default_dir, max_train);
            d.test = load_fashion_mnist(fashion_mnist_split::test);
            d.sizes = {784, 128, 10};
            d.name = "fashion-mnist";
            return d;
        }
        if (choice == data_choice::fashion_mnist)
            throw std::runtime_error(std::string("Fashion-MNIST is not installed in ") + fashion_mnist_default_dir + "; " +
                                     fashion_mnist_install_hint);
        std::printf("note: Fashion-MNIST is not installed in %s, so this runs on the synthetic teacher;\n"
                    "      %s\n",
                    fashion_mnist_default_dir, fashion_mnist_install_hint);
    }
#else
    if (choice == data_choice::fashion_mnist)
        throw std::runtime_error("this build has no zlib, so no Fashion-MNIST loader (install zlib1g-dev and rebuild)");
    if (choice == data_choice::automatic)
        std::printf("note: this build has no zlib (zlib1g-dev), so no Fashion-MNIST loader: synthetic teacher\n");
#endif
    return synthetic_data(synthetic_train, seed);
}

// ---- Output -------------------------------------------------------------------------------------

// Creates the directory that will hold the file at path, when missing (a fresh build tree has
// none of the result directories the tests write into).
inline void create_parent_directory(const std::string& path)
{
    const auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create the directory " + dir.string() + " for " + path + ": " + ec.message());
}

// A CSV written to PATH.partial and renamed to PATH by finish(): an interrupted run never leaves
// a file that looks complete. The directory is created when missing.
class csv_file {
public:
    csv_file() = default;
    csv_file(const std::string& path, const std::string& header) : path_(path)
    {
        if (path_.empty()) return;
        create_parent_directory(path_);
        out_.open(path_ + ".partial", std::ios::trunc);
        if (!out_) throw std::runtime_error("cannot write " + path_ + ".partial");
        out_ << header << '\n';
    }
    bool enabled() const noexcept { return !path_.empty(); }
    void row(const std::string& line)
    {
        if (!enabled()) return;
        out_ << line << '\n';
        out_.flush();
    }
    void finish()
    {
        if (!enabled()) return;
        out_.close();
        if (!out_) throw std::runtime_error("writing " + path_ + ".partial failed");
        std::filesystem::rename(path_ + ".partial", path_);
    }
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
    std::ofstream out_;
};

inline std::string fmt(const char* format, double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

inline std::string duration(double seconds)
{
    const long s = std::lround(std::max(0.0, seconds));
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%lds", s);
    return buf;
}

// Elapsed time and an estimate of the time left, from the share of the planned work done so far
// (work in any unit proportional to compute, e.g. samples passed through the model).
class progress {
public:
    explicit progress(double total_work) : total_(total_work), start_(std::chrono::steady_clock::now()) {}
    void done(double work) { done_ += work; }
    double elapsed() const
    {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }
    std::string eta() const
    {
        if (done_ <= 0.0) return "?";
        return duration(elapsed() * (total_ - done_) / done_);
    }

private:
    double total_, done_ = 0.0;
    std::chrono::steady_clock::time_point start_;
};

// A markdown table of a grid of runs: one row per (placement, format, rounding), in the order
// they first appear, one column per batch size. cell(run, fp32) gives a cell's text; fp32 is the
// FP32 run (placement "none") at the same batch size, or nullptr when the grid has none.
template <class Result, class Cell>
std::string grid_table(const std::vector<Result>& results, const std::vector<std::size_t>& batches, Cell cell)
{
    std::map<std::size_t, const Result*> fp32;
    std::vector<std::string> rows;
    std::map<std::string, std::map<std::size_t, const Result*>> cells;
    for (const auto& r : results) {
        if (r.spec.placement == "none") fp32[r.spec.batch] = &r;
        const std::string key = r.spec.placement + "|" + r.spec.format + "|" + r.spec.rounding;
        if (!cells.count(key)) rows.push_back(key);
        cells[key][r.spec.batch] = &r;
    }
    std::string t = "| placement | format | rounding |";
    for (std::size_t b : batches) t += " b=" + std::to_string(b) + " |";
    t += "\n|---|---|---|";
    for (std::size_t i = 0; i < batches.size(); ++i) t += "---|";
    t += "\n";
    for (const auto& key : rows) {
        const Result& any = *cells[key].begin()->second;
        t += "| " + any.spec.placement + " | " + any.spec.format + " | " + any.spec.rounding + " |";
        for (std::size_t b : batches) {
            const auto it = cells[key].find(b);
            if (it != cells[key].end()) {
                const auto f = fp32.find(b);
                t += ' ';  // appended piece by piece: GCC 12 warns falsely (-Wrestrict) on + chains
                t += cell(*it->second, f == fp32.end() ? nullptr : f->second);
            }
            t += " |";
        }
        t += "\n";
    }
    return t;
}

// ---- main ----------------------------------------------------------------------------------------

// The main of an experiment program: --help or -h prints the usage; parse(argc, argv) reads the
// options and run(options) does the work and returns the exit status. A bad command line exits
// with status 2 and the usage, a bad checkpoint (checkpoint_error) with 2, any other error with 1.
template <class Parse, class Run>
int run_main(int argc, char** argv, void (*print_usage)(std::FILE*, const char*), Parse parse, Run run)
{
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
            print_usage(stdout, argv[0]);
            return 0;
        }
    try {
        const auto o = parse(argc, argv);
        try {
            return run(o);
        } catch (const usage_error& e) {
            std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
            return 2;
        }
    } catch (const usage_error& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        print_usage(stderr, argv[0]);
        return 2;
    } catch (const checkpoint_error& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
}

// ---- Checkpoints (single runs) --------------------------------------------------------------------

// --checkpoint PATH, --checkpoint-every STEPS and --resume PATH.
struct checkpoint_options {
    std::string save, resume;  // empty: none
    std::uint64_t every = 0;   // 0: the program's default

    // Takes option a (with its value v) if it is one of the three; returns whether it was.
    bool parse(const std::string& a, const char* v, int& i)
    {
        auto path = [&] {
            if (v == nullptr || *v == '\0') throw usage_error(a + " needs a file path, got nothing");
            ++i;
            return std::string(v);
        };
        if (a == "--checkpoint") save = path();
        else if (a == "--resume") resume = path();
        else if (a == "--checkpoint-every") {
            every = parse_count(a, v, 1, UINT64_MAX);
            ++i;
        } else return false;
        return true;
    }
    void validate() const
    {
        if (every > 0 && save.empty()) throw usage_error("--checkpoint-every needs --checkpoint PATH");
    }
};

// The settings that decide a run's bits, as "name value" items joined by "; ": what a checkpoint
// stores as its configuration, and what a resumed run must repeat.
class configuration {
public:
    explicit configuration(const std::string& program) : text_(program) {}
    configuration& add(const std::string& name, const std::string& value)
    {
        text_ += "; " + name + " " + value;
        return *this;
    }
    const std::string& text() const noexcept { return text_; }

private:
    std::string text_;
};

// A checkpoint of another run cannot be resumed: a checkpoint_error naming the file and the
// first setting that differs.
inline void require_configuration(const std::string& path, const std::string& stored, const std::string& mine)
{
    if (stored == mine) return;
    auto items = [](const std::string& t) {
        std::vector<std::string> out(1);
        for (std::size_t k = 0; k < t.size(); ++k) {
            if (t.compare(k, 2, "; ") == 0) {
                out.emplace_back();
                ++k;
            } else
                out.back() += t[k];
        }
        return out;
    };
    const auto a = items(stored), b = items(mine);
    std::size_t k = 0;
    while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
    const std::string theirs = k < a.size() ? "'" + a[k] + "'" : "nothing", ours = k < b.size() ? "'" + b[k] + "'" : "nothing";
    throw checkpoint_error("fewbits: " + path + ": a checkpoint of another run: it has " + theirs + " where this run has " +
                           ours + " (resume with the options of the run that wrote it)");
}

// FNV-1a 64 of a byte sequence: names a data set in a configuration.
inline std::uint64_t fnv1a(std::span<const std::uint8_t> bytes)
{
    std::uint64_t h = 0xCBF29CE484222325ull;
    for (std::uint8_t b : bytes) {
        h ^= b;
        h *= 0x100000001B3ull;
    }
    return h;
}

inline std::string hex64(std::uint64_t v)
{
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace experiment
