// The MLP trained with AdamW (PyTorch's defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight
// decay 1e-2) with its weights and moments in different storages, no FP32 copy of anything
// that is stored in low precision: FP32 AdamW as the reference, then BF16 weights with BF16 or
// FP32 moments under stochastic rounding (SR) and round-to-nearest (RTN), and E4M3 weights
// with BF16 moments under SR. Only the optimizer's storage changes between runs: data order,
// initial weights and the FP32 forward/backward passes are the same, so the rows differ only
// by what the storage and its rounding do to the updates.
//
// Prints a markdown table (test accuracy and loss after each run, mean over the seeds, and the
// spread of the accuracy) and the command line that produced it.
//
//   adamw_precision [--data auto|fashion-mnist|synthetic] [--epochs N] [--seeds N] [--batch N]
//                   [--train-samples N] [--threads N] [--random-bits R]
// --random-bits R: the SR rows draw R random bits per rounding (1..32, default 32; the rounding
// column then says SR<R>).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "experiment.hpp"

namespace {

using namespace experiment;
using fewbits::policy;
using fewbits::rounding;

struct options {
    data_choice data = data_choice::automatic;
    std::size_t epochs = 5;
    std::size_t seeds = 2;
    std::size_t batch = 64;
    std::size_t train_samples = 0;  // 0: all
    unsigned threads = default_threads();
    int random_bits = 32;  // of every SR rounding
    std::string command = "adamw_precision";  // as typed, for the report
};

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(to,
                 "usage: %s [--data auto|fashion-mnist|synthetic] [--epochs N] [--seeds N] [--batch N]\n"
                 "          [--train-samples N] [--threads N] [--random-bits R]\n"
                 "--random-bits R: the SR rows draw R random bits per rounding (1..32, default 32)\n",
                 prog);
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) o.command += std::string(" ") + argv[i];
    for (int i = 1; i < argc; i += 2) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (v == nullptr) throw usage_error(a + " needs a value");
        if (a == "--data") o.data = parse_data(v);
        else if (a == "--epochs") o.epochs = parse_count(a, v, 1, 1000);
        else if (a == "--seeds") o.seeds = parse_count(a, v, 1, 100);
        else if (a == "--batch") o.batch = parse_count(a, v, 1, 1 << 16);
        else if (a == "--train-samples") o.train_samples = parse_count(a, v, 1, 1u << 30);
        else if (a == "--random-bits") o.random_bits = static_cast<int>(parse_count(a, v, 1, 32));
        else if (a == "--threads") o.threads = static_cast<unsigned>(parse_count(a, v, 1, 64));
        else throw usage_error("unknown option '" + a + "'");
    }
    return o;
}

struct run_spec {
    std::string weights;  // storage name for the table
    weight_storage storage;
    moment_format moments;
    rounding mode;
};

int run(options o)
{
    const experiment_data d = load_data(o.data, o.train_samples, o.train_samples ? o.train_samples : 8192, 1);
    if (o.batch > d.train.size()) throw usage_error("--batch is larger than the training set");
    const std::vector<run_spec> runs = {
        {"fp32", weight_storage::fp32(), moment_format::fp32, rounding::nearest_even},
        {"bf16", weight_storage::stored_as<fewbits::bfloat16>(), moment_format::bf16, rounding::stochastic},
        {"bf16", weight_storage::stored_as<fewbits::bfloat16>(), moment_format::bf16, rounding::nearest_even},
        {"bf16", weight_storage::stored_as<fewbits::bfloat16>(), moment_format::fp32, rounding::stochastic},
        {"bf16", weight_storage::stored_as<fewbits::bfloat16>(), moment_format::fp32, rounding::nearest_even},
        {"e4m3", weight_storage::stored_as<fewbits::float8_e4m3fn>(), moment_format::bf16, rounding::stochastic},
    };
    std::printf("data: %s (%zu train, %zu test), MLP", d.name.c_str(), d.train.size(), d.test.size());
    for (std::size_t s : d.sizes) std::printf(" %zu", s);
    std::printf(", AdamW lr 1e-3 betas 0.9/0.999 eps 1e-8 wd 1e-2, batch %zu, %zu epochs, %zu seeds, %u threads\n\n",
                o.batch, o.epochs, o.seeds, o.threads);
    std::printf("| weights | moments | rounding | bytes/param | test accuracy (mean) | min..max | test loss |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    const auto start = std::chrono::steady_clock::now();
    for (const run_spec& r : runs) {
        double acc_sum = 0.0, loss_sum = 0.0, acc_min = 1.0, acc_max = 0.0;
        for (std::uint64_t seed = 1; seed <= o.seeds; ++seed) {
            mlp_options mo;
            mo.sizes = d.sizes;
            mo.weights = r.storage;
            mo.init_seed = seed;
            mo.seed = seed;
            mo.threads = o.threads;
            mlp model(mo);
            adamw_optimizer a;  // PyTorch's defaults
            a.moments = r.moments;
            a.update = policy{r.mode, fewbits::overflow::non_saturating, o.random_bits};
            for (std::uint64_t e = 0; e < o.epochs; ++e) train_epoch(model, d.train, a, o.batch, seed, e);
            const evaluation ev = evaluate(model, d.test);
            acc_sum += ev.accuracy;
            loss_sum += ev.mean_loss;
            acc_min = std::min(acc_min, ev.accuracy);
            acc_max = std::max(acc_max, ev.accuracy);
        }
        const double n = static_cast<double>(o.seeds);
        const std::size_t weight_bytes = r.storage.make(1)->bytes_per_value();
        const std::size_t moment_bytes = r.moments == moment_format::fp32 ? 4 : 2;
        char rounding_label[8];
        if (r.weights == "fp32" && r.moments == moment_format::fp32) std::snprintf(rounding_label, sizeof rounding_label, "-");
        else if (r.mode == rounding::stochastic && o.random_bits != 32)
            std::snprintf(rounding_label, sizeof rounding_label, "SR%d", o.random_bits);
        else std::snprintf(rounding_label, sizeof rounding_label, "%s", rounding_name(r.mode));
        std::printf("| %s | %s | %s | %zu | %.2f %% | %.2f..%.2f | %.4f |\n", r.weights.c_str(),
                    moment_format_name(r.moments), rounding_label,
                    weight_bytes + 2 * moment_bytes,
                    100.0 * acc_sum / n, 100.0 * acc_min, 100.0 * acc_max, loss_sum / n);
        std::fflush(stdout);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("\ncommand: %s (%.0f s)\n", o.command.c_str(), seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return run_main(argc, argv, print_usage, parse, run);
}
