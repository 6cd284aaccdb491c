// Batch size against precision, the main job of fewbits: trains an MLP on Fashion-MNIST
// (784-128-10; the synthetic Gaussian-mixture teacher, 32-64-4, when the data set is not
// installed) over a grid of
//   format    fp32, bf16, e5m2, e4m3 and aggressive minifloats (e4m1, e5m0, e4m0, ...)
//   rounding  RTN (round to nearest even) or SR (stochastic rounding)
//   placement backward: x, dy and W rounded in the backward pass (per-sample draws, pow2
//               scaling for the narrow formats), FP32 weights;
//             weights: the weights and biases are stored in the format and updated in place
//               with the rounding (no FP32 copy exists), forward and backward in FP32
//   batch     8 .. 512, learning rate lr0 * sqrt(batch / 32) (square-root scaling: keeps the
//             noise of an update about constant per epoch; linear scaling diverges at 512)
// and writes a CSV, a markdown table of test accuracy against batch size, and a progress line
// per run with an estimate of the time left. Every run at one batch size starts from the same
// initial weights and sees the same mini-batches, so its gap to FP32 is a paired comparison.
//
// What the paper predicts (docs/paper.md, facts 4, 6, 8): with SR in the backward pass the gradient
// noise from rounding falls as 1/batch, so the accuracy gap to FP32 shrinks as the batch grows;
// with RTN the rounding error is a bias that no batch removes; with weights stored in low
// precision, RTN loses every update smaller than half a grid step (stagnation), SR keeps them
// on average. The column weights_changed is the fraction of parameters whose stored value
// changed in a step (mean over every 8th step of the last epoch) and shows the stagnation.
//
// A grid of one run (e.g. --formats bf16 --roundings SR --placements weights --batches 32) can
// be checkpointed: --checkpoint PATH writes its whole state (fewbits/io/checkpoint.hpp) every
// --checkpoint-every steps (default: at the end of each epoch) and at the end; --resume PATH
// continues it bit for bit (the same options). Such a run ends with "state digest <16 hex>".
//
// --shards S cuts every batch into S shards whose gradients are added in a fixed tree
// (train/epoch.hpp's mlp_sharded_step, docs/distributed.md); under `mpirun -np P` (P <= S) the
// processes share the shards and a run ends in the same state digest as without mpirun. Only
// process 0 prints and writes files.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "experiment.hpp"
#include "processes.hpp"

namespace {

using namespace experiment;

struct options {
    bool full = false;
    std::string csv, markdown;
    std::uint64_t seed = 1;
    unsigned threads = default_threads();
    data_choice data = data_choice::automatic;
    // Empty: the --quick or --full default.
    std::vector<std::string> formats, roundings, placements;
    std::vector<std::size_t> batches;
    std::size_t epochs = 0, train_samples = 0;
    double lr = 0.1;           // at batch 32
    bool sqrt_scaling = true;  // lr * sqrt(batch / 32); false: lr at every batch size
    checkpoint_options checkpoint;
    std::size_t shards = 1;  // S > 1: every batch cut into S shards (the same bits under mpirun -np P <= S)
    std::string exchange = "fp32";
};

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(to,
                 "usage: %s [--quick | --full] [--csv PATH] [--markdown PATH] [--seed N] [--threads N]\n"
                 "          [--data auto|fashion-mnist|synthetic] [--formats LIST] [--roundings RTN,SR]\n"
                 "          [--placements backward,weights] [--batches LIST] [--epochs N] [--train-samples N]\n"
                 "          [--lr X (learning rate at batch 32, default 0.1)] [--lr-scaling sqrt|none]\n"
                 "          [--checkpoint PATH [--checkpoint-every STEPS]] [--resume PATH]   (a grid of one run)\n"
                 "          [--shards S (every batch in S shards: the same bits under mpirun -np P <= S)]\n"
                 "          [--exchange fp32|bf16|e4m3|e4m3-rtn|e5m2 (with --shards: the shards' gradients as sent)]\n"
                 "--quick (default): backward fp32,e4m3,e4m1,e4m0 and weights bf16,e4m3; batches 8,32,128,512;\n"
                 "  2 epochs on the 60000 training images (a few minutes on 2 cores). --full: backward fp32,bf16,e5m2,\n"
                 "  e4m3,e4m1,e5m0,e4m0 and weights bf16,e5m2,e4m3; batches 8..512; 10 epochs (an estimated half hour on 2 cores).\n"
                 "The CSV columns: format,rounding,placement,batch,lr,epochs,steps,train_loss,test_accuracy,\n"
                 "seconds,weights_changed. --markdown defaults to the CSV path with .md.\n",
                 prog);
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        auto value = [&] { return option_value(argc, argv, i); };
        if (o.checkpoint.parse(a, v, i)) continue;
        if (a == "--quick") o.full = false;
        else if (a == "--full") o.full = true;
        else if (a == "--csv") o.csv = value();
        else if (a == "--markdown") o.markdown = value();
        else if (a == "--seed") o.seed = parse_count(a, value(), 0, UINT64_MAX);
        else if (a == "--threads") o.threads = static_cast<unsigned>(parse_count(a, value(), 1, 256));
        else if (a == "--data") o.data = parse_data(value());
        else if (a == "--formats") o.formats = parse_names(a, value(), format_names());
        else if (a == "--roundings") o.roundings = parse_roundings(a, value());
        else if (a == "--placements") o.placements = parse_names(a, value(), {"backward", "weights"});
        else if (a == "--batches") o.batches = parse_sizes(a, value(), 1, 65536);
        else if (a == "--epochs") o.epochs = parse_count(a, value(), 1, 1000);
        else if (a == "--shards") o.shards = parse_count(a, value(), 1, 65536);
        else if (a == "--exchange") o.exchange = value();
        else if (a == "--train-samples") o.train_samples = parse_count(a, value(), 1, 10000000);
        else if (a == "--lr") {
            const char* t = value();
            char* end = nullptr;
            o.lr = std::strtod(t, &end);
            if (*end != '\0' || !(o.lr > 0.0) || !(o.lr < 100.0))
                throw usage_error("--lr needs a number in (0, 100), got '" + std::string(t) + "'");
        } else if (a == "--lr-scaling") {
            const std::string t = value();
            if (t != "sqrt" && t != "none") throw usage_error("--lr-scaling needs sqrt or none, got '" + t + "'");
            o.sqrt_scaling = t == "sqrt";
        } else
            throw usage_error("unknown option '" + a + "'");
    }
    o.checkpoint.validate();
    if (!exchange_format_of(o.exchange))
        throw usage_error(std::string("--exchange needs ") + exchange_format_words + ", got '" + o.exchange + "'");
    if (o.exchange != "fp32" && o.shards < 2)
        throw usage_error("--exchange " + o.exchange + " rounds the shards' gradients: it needs --shards 2 or more");
    // Checked here, not when the grid reaches the run: the default placements include weights.
    if (std::find(o.formats.begin(), o.formats.end(), "int8") != o.formats.end() &&
        (o.placements.empty() || std::find(o.placements.begin(), o.placements.end(), "weights") != o.placements.end()))
        throw usage_error("--formats int8 needs --placements backward (int8 weight storage needs a scale)");
    if (o.markdown.empty() && !o.csv.empty())
        o.markdown = (o.csv.size() > 4 && o.csv.ends_with(".csv") ? o.csv.substr(0, o.csv.size() - 4) : o.csv) + ".md";
    return o;
}

struct run_spec {
    std::string format, rounding, placement;  // fp32 runs: rounding "-", placement "none"
    std::size_t batch;
};

struct run_result {
    run_spec spec;
    double lr = 0;
    std::size_t epochs = 0, steps = 0;
    double train_loss = 0, test_accuracy = 0, seconds = 0, weights_changed = 0;
    bool diverged = false;
    std::uint64_t digest = 0;  // state_digest of the trained model
};

std::vector<run_spec> plan(const options& o)
{
    const std::vector<std::string> backward_default =
        o.full ? std::vector<std::string>{"bf16", "e5m2", "e4m3", "e4m1", "e5m0", "e4m0"}
               : std::vector<std::string>{"e4m3", "e4m1", "e4m0"};
    const std::vector<std::string> weights_default =
        o.full ? std::vector<std::string>{"bf16", "e5m2", "e4m3"} : std::vector<std::string>{"bf16", "e4m3"};
    const std::vector<std::string> placements = o.placements.empty() ? std::vector<std::string>{"backward", "weights"}
                                                                     : o.placements;
    const std::vector<std::string> roundings = o.roundings.empty() ? std::vector<std::string>{"RTN", "SR"} : o.roundings;
    std::vector<run_spec> runs;
    for (std::size_t b : o.batches) {
        if (o.formats.empty() || std::find(o.formats.begin(), o.formats.end(), "fp32") != o.formats.end())
            runs.push_back({"fp32", "-", "none", b});
        for (const auto& p : placements) {
            const auto& defaults = p == "backward" ? backward_default : weights_default;
            for (const auto& f : o.formats.empty() ? defaults : o.formats) {
                if (f == "fp32") continue;
                for (const auto& r : roundings) runs.push_back({f, r, p, b});
            }
        }
    }
    return runs;
}

// Fraction of entries that differ (bitwise: a stored value that changed).
double changed_fraction(const std::vector<float>& before, const std::vector<float>& after)
{
    std::size_t changed = 0;
    for (std::size_t i = 0; i < before.size(); ++i)
        changed += std::memcmp(&before[i], &after[i], sizeof(float)) != 0;
    return static_cast<double>(changed) / static_cast<double>(before.size());
}

// Everything that decides the bits of a run (not --threads or the output paths).
std::string run_configuration(const run_spec& spec, const experiment_data& data, const options& o, std::size_t epochs,
                              double lr)
{
    const auto x = std::as_bytes(data.train.inputs.values());
    const auto y = std::as_bytes(std::span(data.train.labels));
    std::vector<std::uint8_t> bytes;
    for (std::byte b : x) bytes.push_back(static_cast<std::uint8_t>(b));
    for (std::byte b : y) bytes.push_back(static_cast<std::uint8_t>(b));
    configuration c("batch_vs_precision 1");
    c.add("data", data.name + " " + std::to_string(data.train.size()) + "/" + std::to_string(data.test.size()) +
                      " fnv1a " + hex64(fnv1a(bytes)));
    c.add("format", spec.format).add("rounding", spec.rounding).add("placement", spec.placement);
    c.add("batch", std::to_string(spec.batch)).add("lr", fmt("%.9g", lr)).add("epochs", std::to_string(epochs));
    c.add("seed", std::to_string(o.seed));
    if (o.shards > 1) c.add("shards", std::to_string(o.shards) + " " + o.exchange);
    return c.text();
}

run_result train_one(const run_spec& spec, const experiment_data& data, const options& o, std::size_t epochs,
                     communicator& comm)
{
    run_result r;
    r.spec = spec;
    r.epochs = epochs;
    r.lr = o.sqrt_scaling ? o.lr * std::sqrt(static_cast<double>(spec.batch) / 32.0) : o.lr;
    mlp_options mo;
    mo.sizes = data.sizes;
    mo.init_seed = mo.seed = o.seed;
    mo.threads = o.threads;
    sgd_options so;
    so.lr = static_cast<float>(r.lr);
    if (spec.placement == "backward")
        mo.quantization = {linear_quantization::backward_only(make_quantizer(spec.format, parse_rounding(spec.rounding)))};
    if (spec.placement == "weights") {
        mo.weights = make_storage(spec.format);
        so.update = parse_rounding(spec.rounding);
    }
    mlp model(mo);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t n = data.train.size();
    batch b;
    double changed_sum = 0, loss_sum = 0, seconds_before = 0;
    std::size_t changed_count = 0, first_epoch = 0, first_batch = 0;
    // The run's state besides the model: the sampler's position (epoch, first sample of the next
    // batch) and what the result line reports.
    const std::string config = run_configuration(spec, data, o, epochs, r.lr);
    run_state state;
    state.configuration = config;
    if (!o.checkpoint.resume.empty()) {
        state = load_checkpoint(o.checkpoint.resume, model);
        require_configuration(o.checkpoint.resume, state.configuration, config);
        first_epoch = state.counter("epoch");
        first_batch = state.counter("sample");
        r.steps = state.counter("steps");
        changed_count = state.counter("changed_count");
        changed_sum = state.sum("changed_sum");
        loss_sum = state.sum("loss_sum");
        r.train_loss = state.sum("train_loss");
        seconds_before = state.sum("seconds");
        std::printf("resumed from %s at epoch %zu, sample %zu (step %zu)\n", o.checkpoint.resume.c_str(), first_epoch,
                    first_batch, r.steps);
    }
    auto record = [&](std::size_t epoch, std::size_t sample) {
        state.counters["epoch"] = epoch;
        state.counters["sample"] = sample;
        state.counters["steps"] = r.steps;
        state.counters["changed_count"] = changed_count;
        state.sums["changed_sum"] = changed_sum;
        state.sums["loss_sum"] = loss_sum;
        state.sums["train_loss"] = r.train_loss;
        state.sums["seconds"] = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    auto save = [&](std::size_t epoch, std::size_t sample) {
        if (o.checkpoint.save.empty()) return;
        record(epoch, sample);
        save_checkpoint(o.checkpoint.save, model, state);
    };
    try {
        for (std::size_t e = first_epoch; e < epochs; ++e) {
            const auto order = epoch_order(n, o.seed, e);
            if (e != first_epoch || first_batch == 0) loss_sum = 0;
            for (std::size_t start_i = e == first_epoch ? first_batch : 0; start_i < n; start_i += spec.batch) {
                const std::size_t len = std::min(spec.batch, n - start_i);
                gather(data.train, std::span<const std::size_t>(order).subspan(start_i, len), b);
                const bool sample = e + 1 == epochs && r.steps % 8 == 0;
                std::vector<float> before;
                if (sample) before = model.flat_parameters();
                loss_sum += o.shards > 1 ? mlp_sharded_step(model, b, so, o.shards, *exchange_format_of(o.exchange), comm).sum
                                         : model.train_step(b, so).sum;
                if (sample) changed_sum += changed_fraction(before, model.flat_parameters()), ++changed_count;
                ++r.steps;
                if (o.checkpoint.every > 0 && r.steps % o.checkpoint.every == 0 && start_i + spec.batch < n)
                    save(e, start_i + spec.batch);
            }
            r.train_loss = loss_sum / static_cast<double>(n);
            save(e + 1, 0);
        }
    } catch (const training_error& err) {
        r.diverged = true;
        r.train_loss = NAN;
    }
    r.test_accuracy = evaluate(model, data.test).accuracy;
    r.weights_changed = changed_count > 0 ? changed_sum / static_cast<double>(changed_count) : NAN;
    r.seconds = seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record(epochs, 0);
    r.digest = state_digest(model, state);
    return r;
}

std::string label(const run_spec& s)
{
    return s.format == "fp32" ? std::string("fp32") : s.format + " " + s.rounding + " " + s.placement;
}

// Test accuracy (%) per configuration and batch size, and the gap to FP32 at the same batch.
std::string markdown_table(const std::vector<run_result>& results, const std::vector<std::size_t>& batches)
{
    return grid_table(results, batches, [](const run_result& r, const run_result* fp32) {
        std::string c = fmt("%.1f", 100 * r.test_accuracy);
        if (r.diverged) {
            c += " (diverged)";
        } else if (r.spec.format != "fp32" && fp32 != nullptr) {
            c += " (";
            c += fmt("%+.1f", 100 * (r.test_accuracy - fp32->test_accuracy));
            c += ')';
        }
        return c;
    });
}

int run(options o, communicator& comm)
{
    require_shards_fit_processes(o.shards, comm, "every batch");
    // Process 0 alone writes files.
    if (comm.rank() != 0) o.csv.clear(), o.markdown.clear(), o.checkpoint.save.clear();
    if (o.batches.empty()) o.batches = o.full ? std::vector<std::size_t>{8, 16, 32, 64, 128, 256, 512}
                                              : std::vector<std::size_t>{8, 32, 128, 512};
    const std::size_t epochs = o.epochs > 0 ? o.epochs : o.full ? 10 : 2;
    const std::size_t train_n = o.train_samples > 0 ? o.train_samples : 0;
    const experiment_data data = load_data(o.data, train_n, train_n > 0 ? std::min<std::size_t>(train_n, 8192) : 8192, o.seed);
    if (o.batches.back() > data.train.size())
        throw usage_error("--batches: " + std::to_string(o.batches.back()) + " is larger than the training set (" +
                          std::to_string(data.train.size()) + ")");
    // Every batch, the last of an epoch included, is cut into whole shards.
    for (const std::size_t b : o.batches) {
        const std::size_t last = data.train.size() % b;
        if (b % o.shards != 0 || last % o.shards != 0)
            throw usage_error("--shards " + std::to_string(o.shards) + " must divide every batch: --batches " +
                              std::to_string(b) + " of " + std::to_string(data.train.size()) +
                              " training samples gives batches of " + std::to_string(b) +
                              (last > 0 ? " and " + std::to_string(last) : std::string()));
    }
    const std::vector<run_spec> runs = plan(o);
    if (runs.empty()) throw usage_error("the grid is empty (check --formats and --placements)");
    if (runs.size() > 1 && (!o.checkpoint.save.empty() || !o.checkpoint.resume.empty()))
        throw usage_error("--checkpoint and --resume need a grid of one run, this grid has " + std::to_string(runs.size()) +
                          " (choose one --formats, --roundings, --placements and --batches)");
    std::printf("data: %s, %zu train / %zu test, MLP", data.name.c_str(), data.train.size(), data.test.size());
    for (std::size_t i = 0; i < data.sizes.size(); ++i) std::printf("%s%zu", i ? "-" : " ", data.sizes[i]);
    std::printf("; %zu runs of %zu epoch(s), lr %.3g%s, seed %llu, %u thread(s)\n", runs.size(), epochs, o.lr,
                o.sqrt_scaling ? " * sqrt(batch/32)" : "", static_cast<unsigned long long>(o.seed), o.threads);

    csv_file csv(o.csv, "format,rounding,placement,batch,lr,epochs,steps,train_loss,test_accuracy,seconds,weights_changed");
    progress pr(static_cast<double>(runs.size()));
    std::vector<run_result> results;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const run_result r = train_one(runs[i], data, o, epochs, comm);
        results.push_back(r);
        pr.done(1.0);
        std::printf("[%3zu/%zu] %-22s b=%-4zu lr=%.3f  train loss %s  test acc %5.2f%%  changed/step %5.1f%%  %6.1fs"
                    "  | %s elapsed, ~%s left\n",
                    i + 1, runs.size(), label(r.spec).c_str(), r.spec.batch, r.lr,
                    r.diverged ? "diverged" : fmt("%.4f", r.train_loss).c_str(), 100 * r.test_accuracy,
                    100 * r.weights_changed, r.seconds, duration(pr.elapsed()).c_str(), pr.eta().c_str());
        std::fflush(stdout);
        csv.row(r.spec.format + "," + r.spec.rounding + "," + r.spec.placement + "," + std::to_string(r.spec.batch) + "," +
                fmt("%.6g", r.lr) + "," + std::to_string(r.epochs) + "," + std::to_string(r.steps) + "," +
                (r.diverged ? std::string("nan") : fmt("%.6f", r.train_loss)) + "," + fmt("%.4f", r.test_accuracy) + "," +
                fmt("%.2f", r.seconds) + "," + fmt("%.4f", r.weights_changed));
    }
    csv.finish();
    const std::string table = markdown_table(results, o.batches);
    std::printf("\nTest accuracy (%%) after %zu epoch(s); in brackets: difference to FP32 at the same batch and steps\n\n%s",
                epochs, table.c_str());
    if (!o.markdown.empty()) {
        csv_file md(o.markdown, "Test accuracy (%) after " + std::to_string(epochs) + " epoch(s) on " + data.name +
                                    "; in brackets: difference to FP32 at the same batch size and steps.\n");
        md.row(table);
        md.finish();
    }
    if (csv.enabled()) std::printf("\nwrote %s and %s\n", csv.path().c_str(), o.markdown.c_str());
    for (const run_result& r : results) require_same_digest(comm, r.digest);
    if (results.size() == 1) std::printf("state digest %s\n", hex64(results.front().digest).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return run_main_on_processes(argc, argv, print_usage, parse, run);
}
