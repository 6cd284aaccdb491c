// Batch size against precision on a language model, with seeds and paired confidence intervals.
// Trains the byte-level GPT (models/gpt.hpp) on the Jargon File with AdamW over a grid of
//   format     for the backward pass: aggressive (e2m1, e4m0: 2 and 1 significand bits) and an
//              8-bit control (e4m3); for stored weights: e4m3, whose spacing near the weights'
//              size is about the learning rate, so that round-to-nearest updates stall
//   rounding   RTN or SR
//   placement  none (FP32); backward: x, W and dy of every linear layer and the operands of
//              attention's backward products rounded, per-token draws (W: one draw per step),
//              power-of-two scaling below bf16; backward_per_sample: the same without W, so
//              that every rounding has a draw per token or sequence (the paper's 1/b law is
//              about these; e2m1 only by default); backward_linear: the linear layers as in
//              backward, attention's products in FP32 (as for block-scaled formats, which
//              always leave attention in FP32; e2m1 only by default); weights: every parameter stored in the format and updated by AdamW
//              with the rounding (no FP32 copy); optimizer_state: AdamW's moments in bf16/fp16;
//              exchange: the batch cut into 4 shards whose gradients are summed in a fixed tree
//              and rounded to the format as data-parallel processes would send them
//              (train/sharded_step.hpp; bf16 SR, e4m3 SR or RTN, e5m2 SR: the pairs the
//              exchange has, others skipped), the rest of the step in FP32
//   batch      sequences per step, at equal training tokens (a batch of b takes tokens / (b T)
//              steps) or at equal steps (every batch takes the smallest batch's steps), or both
//   seed       the initialisation, the data order and the rounding draws; the run of a
//              configuration with seed s has the weights and batches of the FP32 run with seed s
//              at the same batch, learning rate and steps, so its gap to FP32 is paired
// and writes one CSV row per run (format,rounding,placement,batch,seed,lr,steps,tokens,
// train_loss,val_loss,val_bpb,seconds), the paired gaps with 95% t intervals (CSV and markdown),
// the answer to each of the paper's claims on stdout and in the markdown, and optionally the
// validation curves of the first seed at the smallest batch and the gradient-variance law.
// docs/language_model.md says what we measured.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fewbits/format_names.hpp>

#include "experiment.hpp"
#include "lm_experiment.hpp"
#include "paired_statistics.hpp"

namespace {

using namespace experiment;

// The exchange placement: the shards of a step and the codec of each (format, rounding) pair the
// exchange has (train/exchange_codec.hpp).
constexpr std::size_t exchange_shards = 4;
std::optional<exchange_format> exchange_of(const std::string& format, const std::string& rounding)
{
    if (format == "bf16" && rounding == "SR") return exchange_format::bf16_sr;
    if (format == "e4m3" && rounding == "SR") return exchange_format::e4m3_sr;
    if (format == "e4m3" && rounding == "RTN") return exchange_format::e4m3_rtn;
    if (format == "e5m2" && rounding == "SR") return exchange_format::e5m2_sr;
    return std::nullopt;
}

constexpr const char* csv_header = "format,rounding,placement,batch,seed,lr,steps,tokens,train_loss,val_loss,val_bpb,seconds";

struct options {
    bool full = false, resume = false;
    std::string csv, markdown, gaps_csv, curves_csv, variance_csv, data = jargon_file_default_path, design;
    std::uint64_t first_seed = 1, tokens = 0;
    std::size_t seeds = 0;  // 0: the grid's default
    unsigned threads = 1, jobs = default_threads();
    std::vector<std::string> formats, roundings, placements, steps_formats;
    std::vector<std::size_t> batches, steps_batches;
    double lr = 3e-3;
};

struct model_shape {
    std::size_t context, channels, heads, layers;
};

// What the grid is, once the defaults of --quick / --full are filled in.
struct grid {
    model_shape model;
    std::uint64_t tokens;  // per run at the smallest batch
    std::size_t seeds;
    std::vector<std::size_t> batches;        // the equal-tokens design
    std::vector<std::size_t> steps_batches;  // the equal-steps design (empty: not run)
    std::vector<std::string> steps_formats;  // its backward formats (with FP32)
    std::vector<std::string> designs;        // "tokens", "steps"
};

struct run_spec {
    std::string format, rounding, placement;
    std::size_t batch = 0;
    std::uint64_t seed = 0;
    double lr = 0.0;
    std::uint64_t steps = 0;

    std::string key() const
    {
        return format + "," + rounding + "," + placement + "," + std::to_string(batch) + "," + std::to_string(seed) +
               "," + fmt("%.6g", lr) + "," + std::to_string(steps);
    }
};

// The losses as the CSV holds them (6 decimals), so that a grid continued with --resume computes
// its statistics from the same numbers as one that ran through.
struct run_result {
    run_spec spec;
    std::uint64_t tokens = 0;
    double train_loss = NAN, val_loss = NAN, val_bpb = NAN, seconds = 0.0;
    double bpb() const { return val_bpb; }
};

double as_written(double v)
{
    return std::isfinite(v) ? std::stod(fmt("%.6f", v)) : v;
}

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(
        to,
        "usage: %s [--quick | --full] [--seeds K] [--seed FIRST] [--design tokens|steps|both] [--csv PATH]\n"
        "          [--resume] [--markdown PATH] [--gaps PATH] [--curves PATH] [--variance PATH] [--jobs N]\n"
        "          [--threads N] [--data PATH] [--formats LIST] [--roundings RTN,SR,SR<r>] [--placements LIST]\n"
        "          [--batches LIST] [--steps-batches LIST] [--steps-formats LIST] [--tokens N] [--lr X]\n"
        "--quick (default): GPT C 64, L 2, H 4, T 32; backward e2m1, e4m0 and e4m3, weights e4m3; SR and\n"
        "  RTN; batches 4, 16 at equal tokens (327680 per run); seeds 1..3; AdamW lr 0.003 (about 4.5\n"
        "  minutes on 2 cores).\n"
        "--full: the same model; backward e2m1, e4m0 and e4m3, backward_per_sample e2m1, weights e4m3;\n"
        "  batches 4, 8, 16, 32 at equal tokens (1048576 per run), and backward e2m1 at batches 4, 8, 16\n"
        "  at equal steps (the steps of the smallest batch); seeds 1..5 (about 1.5 hours on 2 cores).\n"
        "Every run: AdamW without weight decay, the learning rate warmed up over the first 5%% of the steps\n"
        "  and decayed along a cosine to a tenth; validation on 32 fixed batches of 16 windows.\n"
        "--formats and --steps-formats also take block-scaled formats (mxfp4, nvfp4, mxfp8_e4m3, ...; +rhtN\n"
        "  for a random Hadamard transform of N) for the backward placements: the linear layers' blocks\n"
        "  run along each product's reduction axis, attention's backward stays FP32.\n"
        "--placements: backward, backward_per_sample (without W), backward_linear (attention in FP32, as\n"
        "  block formats have it), weights, optimizer_state, exchange (the gradients of 4 shards sent in\n"
        "  bf16 SR, e4m3 SR or RTN, or e5m2 SR, as between processes; default formats bf16, e4m3; batches\n"
        "  must be multiples of 4; format and rounding pairs the exchange does not have are skipped).\n"
        "--seeds K: seeds FIRST..FIRST+K-1 (K in 1..30; intervals need K >= 2). --jobs N runs N runs at once\n"
        "  (default: one per core), each on --threads threads (default 1); the bits do not depend on either.\n"
        "--csv columns: %s\n"
        "  (FP32 rows: format fp32, rounding -, placement none). --resume keeps the runs already in the CSV\n"
        "  (or in PATH.partial, which an interrupted grid leaves) and runs only the missing ones.\n"
        "--markdown (default: the CSV path with .md): the paired gaps to FP32 with 95%% t intervals and the\n"
        "  claims. --gaps (default: PATH_gaps.csv): design,placement,format,rounding,lr,batch,steps,seeds,\n"
        "  mean_bpb,gap,gap_low,gap_high. --curves PATH: the first seed's runs at the smallest batch again,\n"
        "  with the validation bits per byte every tenth of the steps (format,rounding,placement,batch,seed,\n"
        "  lr,tokens,val_bpb). --variance PATH: the gradient-variance law on this model (see the docs).\n",
        prog, csv_header);
}

double parse_positive(const std::string& option, const std::string& text)
{
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (*end != '\0' || !(v > 0.0) || !std::isfinite(v)) throw usage_error(option + " needs a positive number, got '" + text + "'");
    return v;
}

std::string without_csv(const std::string& path)
{
    return path.size() > 4 && path.ends_with(".csv") ? path.substr(0, path.size() - 4) : path;
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        auto value = [&] { return std::string(option_value(argc, argv, i)); };
        if (a == "--quick") o.full = false;
        else if (a == "--full") o.full = true;
        else if (a == "--resume") o.resume = true;
        else if (a == "--csv") o.csv = value();
        else if (a == "--markdown") o.markdown = value();
        else if (a == "--gaps") o.gaps_csv = value();
        else if (a == "--curves") o.curves_csv = value();
        else if (a == "--variance") o.variance_csv = value();
        else if (a == "--data") o.data = value();
        else if (a == "--design") {
            o.design = value();
            if (o.design != "tokens" && o.design != "steps" && o.design != "both")
                throw usage_error("--design needs tokens, steps or both, got '" + o.design + "'");
        } else if (a == "--seed") o.first_seed = parse_count(a, v, 0, UINT64_MAX - 64), ++i;
        else if (a == "--seeds") o.seeds = parse_count(a, v, 1, 30), ++i;
        else if (a == "--threads") o.threads = static_cast<unsigned>(parse_count(a, v, 1, 256)), ++i;
        else if (a == "--jobs") o.jobs = static_cast<unsigned>(parse_count(a, v, 1, 256)), ++i;
        else if (a == "--tokens") o.tokens = parse_count(a, v, 1, 1ull << 40), ++i;
        else if (a == "--batches") o.batches = parse_sizes(a, v, 1, 4096), ++i;
        else if (a == "--formats") o.formats = parse_formats(a, v, true), ++i;
        else if (a == "--roundings") o.roundings = parse_roundings(a, v), ++i;
        else if (a == "--placements") o.placements = parse_names(a, v, {"backward", "backward_per_sample", "backward_linear", "weights", "optimizer_state", "exchange"}), ++i;
        else if (a == "--steps-batches") o.steps_batches = parse_sizes(a, v, 1, 4096), ++i;
        else if (a == "--steps-formats") o.steps_formats = parse_formats(a, v, true), ++i;
        else if (a == "--lr") o.lr = parse_positive(a, value());
        else throw usage_error("unknown option '" + a + "'");
    }
    if (o.resume && o.csv.empty()) throw usage_error("--resume needs --csv PATH (the grid to continue)");
    if (o.markdown.empty() && !o.csv.empty()) o.markdown = without_csv(o.csv) + ".md";
    if (o.gaps_csv.empty() && !o.csv.empty()) o.gaps_csv = without_csv(o.csv) + "_gaps.csv";
    for (const auto* list : {&o.formats, &o.steps_formats})
        for (const auto& f : *list)
            if (f == "fp32" || f == "int8") throw usage_error("a format list: '" + f + "' is not a minifloat format");
    for (const auto& f : o.formats)
        for (const auto& p : o.placements.empty() ? std::vector<std::string>{"weights"} : o.placements)
            if (is_block_format(f) && p == "weights")
                throw usage_error("--formats: block-scaled '" + f + "' cannot store weights (they are stored element-wise); "
                                  "name the placements, e.g. --placements backward");
    if (std::find(o.placements.begin(), o.placements.end(), "exchange") != o.placements.end()) {
        for (const auto& f : o.formats)
            if (f != "bf16" && f != "e4m3" && f != "e5m2")
                throw usage_error("--formats: the exchange placement sends bf16, e4m3 or e5m2, got '" + f + "'");
        for (std::size_t b : o.batches)
            if (b % exchange_shards != 0)
                throw usage_error("--batches: the exchange placement cuts each batch into " + std::to_string(exchange_shards) +
                                  " shards, so every batch must be a multiple of " + std::to_string(exchange_shards) +
                                  ", got " + std::to_string(b));
    }
    return o;
}

grid make_grid(const options& o)
{
    grid g;
    g.model = model_shape{32, 64, 4, 2};
    g.tokens = o.tokens > 0 ? o.tokens : o.full ? 1048576 : 327680;
    g.seeds = o.seeds > 0 ? o.seeds : o.full ? 5 : 3;
    const std::string design = !o.design.empty() ? o.design : o.full ? "both" : "tokens";
    if (design != "steps") {
        g.designs.push_back("tokens");
        g.batches = !o.batches.empty() ? o.batches : o.full ? std::vector<std::size_t>{4, 8, 16, 32} : std::vector<std::size_t>{4, 16};
    }
    if (design != "tokens") {
        g.designs.push_back("steps");
        g.steps_batches = !o.steps_batches.empty() ? o.steps_batches
                          : !o.batches.empty()     ? o.batches
                          : o.full                 ? std::vector<std::size_t>{4, 8, 16}
                                                   : std::vector<std::size_t>{4, 16};
        g.steps_formats = !o.steps_formats.empty() ? o.steps_formats : std::vector<std::string>{"e2m1"};
    }
    // Block-scaled formats: the tokens of a step (b x T) hold whole blocks (the weight
    // gradients' blocks run along them), and so do the channels.
    for (const auto* list : {&o.formats, &o.steps_formats})
        for (const auto& f : *list) {
            if (!is_block_format(f)) continue;
            const std::size_t line = make_quantizer(f, fewbits::policy{}).block_multiple();
            for (const auto* sizes : {&g.batches, &g.steps_batches})
                for (std::size_t b : *sizes)
                    if ((b * g.model.context) % line != 0 || g.model.channels % line != 0)
                        throw usage_error("'" + f + "' needs the tokens of a step, batch x " + std::to_string(g.model.context) +
                                          " (" + std::to_string(b * g.model.context) + " at batch " + std::to_string(b) +
                                          "), to be a multiple of " + std::to_string(line));
        }
    return g;
}

// The formats of a placement: --formats when given (those the placement can take), else the grid's.
std::vector<std::string> formats_of(const std::string& placement, const options& o)
{
    if (placement == "optimizer_state") {
        std::vector<std::string> out;
        for (const auto& f : o.formats.empty() ? std::vector<std::string>{"bf16", "fp16"} : o.formats)
            if (f == "bf16" || f == "fp16") out.push_back(f);  // AdamW's moment formats
        return out;
    }
    if (!o.formats.empty()) return o.formats;
    if (placement == "weights") return {"e4m3"};
    if (placement == "exchange") return {"bf16", "e4m3"};
    if (placement == "backward_per_sample" || placement == "backward_linear") return {"e2m1"};
    return {"e2m1", "e4m0", "e4m3"};
}

const std::vector<std::size_t>& batches_of(const grid& g, const std::string& design)
{
    return design == "tokens" ? g.batches : g.steps_batches;
}

// Equal tokens: g.tokens / (b T) steps; equal steps: the steps of the design's smallest batch.
std::uint64_t steps_of(const grid& g, const std::string& design, std::size_t batch)
{
    const std::size_t b = design == "tokens" ? batch : g.steps_batches.front();
    return std::max<std::uint64_t>(1, g.tokens / (b * g.model.context));
}

// Every run of the grid, each once (at the smallest batch both designs are the same runs).
std::vector<run_spec> plan(const options& o, const grid& g)
{
    const std::vector<std::string> placements =
        o.placements.empty() ? (o.full ? std::vector<std::string>{"backward", "backward_per_sample", "weights"}
                                 : std::vector<std::string>{"backward", "weights"})
                        : o.placements;
    const std::vector<std::string> roundings = o.roundings.empty() ? std::vector<std::string>{"SR", "RTN"} : o.roundings;
    std::vector<run_spec> runs;
    std::set<std::string> seen;
    auto add = [&](const run_spec& s) {
        if (seen.insert(s.key()).second) runs.push_back(s);
    };
    for (const auto& design : g.designs)
        for (std::size_t b : batches_of(g, design))
            for (std::uint64_t seed = o.first_seed; seed < o.first_seed + g.seeds; ++seed) {
                const std::uint64_t steps = steps_of(g, design, b);
                add({"fp32", "-", "none", b, seed, o.lr, steps});
                if (design == "steps") {
                    for (const auto& f : g.steps_formats)
                        for (const auto& r : roundings) add({f, r, "backward", b, seed, o.lr, steps});
                    continue;
                }
                for (const auto& p : placements)
                    for (const auto& f : formats_of(p, o))
                        for (const auto& r : roundings)
                            if (p != "exchange" || exchange_of(f, r)) add({f, r, p, b, seed, o.lr, steps});
            }
    return runs;
}

gpt_options gpt_shape(const model_shape& m, std::uint64_t seed)
{
    gpt_options g;
    g.context = m.context;
    g.channels = m.channels;
    g.heads = m.heads;
    g.layers = m.layers;
    g.init_seed = seed;
    return g;
}

// Linear warm-up over the first 5% of the steps, then a cosine down to a tenth of lr.
double lr_at(std::uint64_t step, std::uint64_t steps, double lr)
{
    const std::uint64_t warmup = std::max<std::uint64_t>(1, steps / 20);
    if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
    const double t = steps > warmup + 1 ? static_cast<double>(step - warmup) / static_cast<double>(steps - warmup - 1) : 1.0;
    return lr * (0.1 + 0.45 * (1.0 + std::cos(std::numbers::pi * t)));
}

constexpr std::uint64_t validation_batches = 32;

double validation_bpb(gpt& model, const text_corpus& corpus, const model_shape& m, unsigned threads)
{
    return lm_validation_loss(model, corpus.validation, 16, m.context, validation_batches, threads) / std::numbers::ln2;
}

// One run; with `curve`, the validation bits per byte after every tenth of the steps, as
// (tokens, bpb) pairs.
run_result train_one(const run_spec& s, const text_corpus& corpus, const model_shape& m, unsigned threads, gpt* trained = nullptr,
                     std::vector<std::pair<std::uint64_t, double>>* curve = nullptr)
{
    gpt_options g = gpt_shape(m, s.seed);
    adamw_optimizer opt;
    opt.options.weight_decay = 0.0f;
    const fewbits::policy rounding = parse_rounding(s.rounding);
    opt.update.mode = rounding.mode;
    opt.update.random_bits = rounding.random_bits;
    if (s.placement == "backward" || s.placement == "backward_per_sample" || s.placement == "backward_linear") {
        const quantizer q = make_quantizer(s.format, rounding);
        g.quantization = linear_quantization::backward_only(q);
        // W's backward rounding is one draw shared by the whole batch (a weight rounding, which
        // no batch averages away); backward_per_sample leaves it out and keeps only the tensors
        // with a draw per token or sequence.
        if (s.placement == "backward_per_sample") g.quantization.backward_weight = quantizer{};
        // Attention's products run along the head (16 channels here, below MX's block of 32)
        // and along the sequence; hardware recipes for block formats keep attention in higher
        // precision, and so does this grid. backward_linear does the same for any format (the
        // control that compares a block format with a per-tensor one).
        g.attention_backward = is_block_format(s.format) || s.placement == "backward_linear" ? quantizer{} : q;
    } else if (s.placement == "weights") {
        g.weights = make_storage(s.format);
    } else if (s.placement == "optimizer_state") {
        opt.moments = s.format == "bf16" ? moment_format::bf16 : moment_format::fp16;
    }
    lm_step_options sharded;  // the exchange placement's step
    if (s.placement == "exchange") {
        sharded.shards = exchange_shards;
        sharded.exchange = *exchange_of(s.format, s.rounding);
    }
    gpt model(g);
    run_result r{s};
    r.tokens = s.steps * s.batch * m.context;
    const auto start = std::chrono::steady_clock::now();
    pass_context ctx;
    ctx.seed = s.seed;
    ctx.threads = threads;
    token_batch b;
    double tail = 0.0;  // mean training loss over the last tenth of the steps
    std::uint64_t tail_n = 0;
    const std::uint64_t tenth = std::max<std::uint64_t>(1, s.steps / 10);
    bool diverged = false;
    for (std::uint64_t step = 0; step < s.steps; ++step) {
        ctx.step = step;
        opt.options.lr = static_cast<float>(lr_at(step, s.steps, s.lr));
        sample_windows(corpus.train, s.batch, m.context, s.seed, step, b);
        double loss = 0.0;
        if (s.placement == "exchange") {
            try {
                loss = lm_train_step(model, b, opt, ctx, sharded);  // gradients, exchange and update
            } catch (const training_error&) {
                loss = std::numeric_limits<double>::quiet_NaN();  // non-finite: no update was taken
            }
        } else {
            loss = model.compute_gradients(b.inputs, b.targets, b.sequences, ctx);
        }
        if (!std::isfinite(loss)) {  // diverged: train_loss and val_loss stay NaN
            diverged = true;
            break;
        }
        if (s.placement != "exchange")
            for (parameter* p : model.parameters()) opt.step(*p, ctx.update_stream(*p));
        if (step >= s.steps - tenth) {
            tail += loss;
            ++tail_n;
        }
        if (curve != nullptr && ((step + 1) % tenth == 0 || step + 1 == s.steps))
            curve->emplace_back((step + 1) * s.batch * m.context, validation_bpb(model, corpus, m, threads));
    }
    if (!diverged) {
        const double bpb = validation_bpb(model, corpus, m, threads);
        r.train_loss = as_written(tail / static_cast<double>(tail_n));
        r.val_loss = as_written(bpb * std::numbers::ln2);
        r.val_bpb = as_written(bpb);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (trained != nullptr) *trained = model;
    return r;
}

// f(i) for i in [0, n) on `jobs` threads; the first exception is rethrown after all have stopped.
template <class F>
void for_each_parallel(std::size_t n, unsigned jobs, F f)
{
    std::atomic<std::size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < n;) {
            try {
                f(i);
            } catch (...) {
                const std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                next = n;
            }
        }
    };
    std::vector<std::thread> pool;
    for (unsigned j = 1; j < std::min<std::size_t>(jobs, n); ++j) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
}

std::string csv_row(const run_result& r)
{
    return r.spec.key() + "," + std::to_string(r.tokens) + "," + fmt("%.6f", r.train_loss) + "," + fmt("%.6f", r.val_loss) +
           "," + fmt("%.6f", r.bpb()) + "," + fmt("%.2f", r.seconds);
}

std::vector<std::string> split_csv(const std::string& line)
{
    std::vector<std::string> out(1);
    for (char c : line) {
        if (c == ',') out.emplace_back();
        else out.back() += c;
    }
    return out;
}

// The runs of an earlier grid, by key, from PATH or (after an interruption) PATH.partial.
std::map<std::string, run_result> previous_runs(const std::string& path)
{
    std::map<std::string, run_result> out;
    std::string from = path;
    if (!std::filesystem::exists(from)) from = path + ".partial";
    if (!std::filesystem::exists(from)) {
        std::printf("--resume: neither %s nor %s.partial exists; running the whole grid\n", path.c_str(), path.c_str());
        return out;
    }
    std::ifstream in(from);
    std::string line;
    if (!std::getline(in, line) || line != csv_header)
        throw usage_error("--resume: " + from + " is not a CSV of this program (its first line is not '" + csv_header + "')");
    for (std::size_t number = 2; std::getline(in, line); ++number) {
        const auto f = split_csv(line);
        if (f.size() != 12) {
            // An interrupted write leaves at most a cut last line: that run is simply done again.
            std::printf("--resume: skipping line %zu of %s (%zu fields, not 12)\n", number, from.c_str(), f.size());
            continue;
        }
        run_result r;
        r.spec = run_spec{f[0], f[1], f[2], std::stoull(f[3]), std::stoull(f[4]), std::stod(f[5]), std::stoull(f[6])};
        r.tokens = std::stoull(f[7]);
        r.train_loss = std::stod(f[8]);
        r.val_loss = std::stod(f[9]);
        r.val_bpb = std::stod(f[10]);
        r.seconds = std::stod(f[11]);
        out[r.spec.key()] = r;
    }
    std::printf("--resume: %zu runs read from %s\n", out.size(), from.c_str());
    return out;
}

// Exponent bits of a registry format (the exchange rate compares formats that differ only in
// their significands).
int exponent_bits(const std::string& format)
{
    int bits = 0;
    if (!fewbits::visit_format(format, [&](auto t) { bits = decltype(t)::format_type::exponent_bits; }))
        throw std::invalid_argument("no minifloat named '" + format + "'");
    return bits;
}

// ---- Paired statistics over seeds ------------------------------------------------------------------

// One configuration (placement, format, rounding, lr) at one batch size in one design, over seeds.
struct cell {
    std::string design, placement, format, rounding;
    double lr = 0.0;
    std::size_t batch = 0;
    std::uint64_t steps = 0;
    std::size_t diverged = 0;
    std::vector<double> bpb, gaps;  // per seed that has both runs finite; gaps to FP32, paired by seed
    std::map<std::uint64_t, double> gap_by_seed;
    interval_estimate value, gap;
    std::string row() const { return placement + "|" + format + "|" + rounding + "|" + fmt("%.6g", lr); }
};

std::vector<cell> paired_cells(const std::vector<run_spec>& runs, const std::map<std::string, run_result>& results,
                               const grid& g, std::uint64_t first_seed)
{
    std::vector<cell> cells;
    std::set<std::string> seen;
    for (const auto& design : g.designs)
        for (std::size_t b : batches_of(g, design))
            for (const run_spec& s : runs) {
                if (s.batch != b || s.steps != steps_of(g, design, b)) continue;
                // At the smallest batch the designs share their runs; the equal-steps design has
                // only FP32 and its backward formats.
                if (design == "steps" && s.placement != "none" &&
                    (s.placement != "backward" ||
                     std::find(g.steps_formats.begin(), g.steps_formats.end(), s.format) == g.steps_formats.end()))
                    continue;
                cell c;
                c.design = design;
                c.placement = s.placement;
                c.format = s.format;
                c.rounding = s.rounding;
                c.lr = s.lr;
                c.batch = b;
                c.steps = s.steps;
                if (!seen.insert(design + "|" + c.row() + "|" + std::to_string(b)).second) continue;
                for (std::uint64_t seed = first_seed; seed < first_seed + g.seeds; ++seed) {
                    run_spec mine = s, base{"fp32", "-", "none", b, seed, s.lr, s.steps};
                    mine.seed = seed;
                    const auto r = results.find(mine.key()), f = results.find(base.key());
                    if (r == results.end() || f == results.end()) continue;
                    if (!std::isfinite(r->second.bpb())) {
                        ++c.diverged;
                        continue;
                    }
                    c.bpb.push_back(r->second.bpb());
                    if (std::isfinite(f->second.bpb())) {
                        c.gaps.push_back(r->second.bpb() - f->second.bpb());
                        c.gap_by_seed[seed] = c.gaps.back();
                    }
                }
                c.value = t_interval(c.bpb);
                c.gap = t_interval(c.gaps);
                cells.push_back(std::move(c));
            }
    return cells;
}

std::string show_interval(const interval_estimate& e)
{
    if (e.n == 0) return "-";
    std::string t = fmt("%+.3f", e.mean);
    if (e.n >= 2) t += " [" + fmt("%+.3f", e.low) + ", " + fmt("%+.3f", e.high) + "]" + (e.excludes_zero() ? "*" : "");
    return t;
}

// Per design, a table of mean validation bits per byte and the paired gap to FP32 with its
// interval (* when it excludes 0), one row per configuration, one column per batch.
std::string gap_table(const std::vector<cell>& cells, const grid& g, const std::string& design)
{
    const std::vector<std::size_t>& batches = batches_of(g, design);
    std::string t = "| placement | format | rounding | lr |";
    for (std::size_t b : batches) t += " b=" + std::to_string(b) + " |";
    t += "\n|---|---|---|---|";
    for (std::size_t i = 0; i < batches.size(); ++i) t += "---|";
    t += "\n";
    std::vector<std::string> rows;
    for (const cell& c : cells)
        if (c.design == design && std::find(rows.begin(), rows.end(), c.row()) == rows.end()) rows.push_back(c.row());
    for (const auto& row : rows) {
        bool first = true;
        for (std::size_t b : batches)
            for (const cell& c : cells) {
                if (c.design != design || c.row() != row || c.batch != b) continue;
                if (first) t += "| " + c.placement + " | " + c.format + " | " + c.rounding + " | " + fmt("%.6g", c.lr) + " |";
                first = false;
                t += ' ';
                if (c.value.n > 0) t += fmt("%.3f", c.value.mean);
                if (c.placement != "none" && c.gap.n > 0) t += " (" + show_interval(c.gap) + ")";
                if (c.diverged > 0) t += " diverged in " + std::to_string(c.diverged) + " of " + std::to_string(g.seeds);
                t += " |";
            }
        t += "\n";
    }
    return t;
}

const cell* find_cell(const std::vector<cell>& cells, const std::string& design, const std::string& row, std::size_t batch)
{
    for (const cell& c : cells)
        if (c.design == design && c.row() == row && c.batch == batch) return &c;
    return nullptr;
}

// The paper's claims, each with its number: the gap's dependence on the batch (and its c/b fit),
// SR against RTN per batch (paired), the exchange rate of bits for batch on the loss, and the
// FP32 baseline against the n-gram bar.
std::string claims(const std::vector<cell>& cells, const grid& g, bool full)
{
    std::string out;
    const double bar = full ? 3.10 : 3.79;
    for (const auto& design : g.designs) {
        const std::vector<std::size_t>& batches = batches_of(g, design);
        const std::size_t b0 = batches.front(), b1 = batches.back();
        out += "\n### " + std::string(design == "tokens" ? "Equal training tokens" : "Equal steps") + "\n\n";
        for (const cell& c : cells)
            if (c.design == design && c.placement == "none")
                out += "- FP32 (lr " + fmt("%.3g", c.lr) + ") at b=" + std::to_string(c.batch) + ": " + fmt("%.3f", c.value.mean) +
                       " bits per byte, " + (c.value.mean < bar ? "below" : "NOT below") + " the " +
                       (full ? "trigram's 3.10" : "bigram's 3.79") + "\n";
        std::vector<std::string> rows;
        for (const cell& c : cells)
            if (c.design == design && c.placement != "none" && std::find(rows.begin(), rows.end(), c.row()) == rows.end())
                rows.push_back(c.row());
        for (const auto& row : rows) {
            const cell* lo = find_cell(cells, design, row, b0);
            const cell* hi = find_cell(cells, design, row, b1);
            if (lo == nullptr || hi == nullptr || b0 == b1) continue;
            std::vector<double> bs, gs;
            for (std::size_t b : batches)
                if (const cell* c = find_cell(cells, design, row, b); c != nullptr && c->gap.n > 0) {
                    bs.push_back(static_cast<double>(b));
                    gs.push_back(c->gap.mean);
                }
            const inverse_batch_gap_fit fit = fit_c_over_b(bs, gs);
            out += "- " + lo->placement + " " + lo->format + " " + lo->rounding + " (lr " + fmt("%.3g", lo->lr) + "): gap b=" +
                   std::to_string(b0) + " " + show_interval(lo->gap) + ", b=" + std::to_string(b1) + " " + show_interval(hi->gap);
            if (lo->gap.n > 0 && hi->gap.n > 0 && lo->gap.mean > 0.0)
                out += "; ratio " + fmt("%.2f", hi->gap.mean / lo->gap.mean) + " (c/b predicts " +
                       fmt("%.2f", static_cast<double>(b0) / static_cast<double>(b1)) + "); fit c/b: c " + fmt("%.3g", fit.c) +
                       ", explains " + fmt("%.0f", 100.0 * fit.explained) + "% of the gaps' squares";
            if (lo->placement.starts_with("backward") && lo->rounding == "SR" && lo->gap.n >= 2 && hi->gap.n > 0)
                out += lo->gap.low > 0.0 && hi->gap.mean <= 0.5 * lo->gap.mean
                           ? "; the smallest batch's interval is above 0 and the largest batch's mean gap is at most half of it"
                           : "; not (the smallest batch's interval above 0 and the largest batch's mean gap at most half)";
            out += "\n";
        }
        // SR against RTN, paired by seed, per configuration and batch.
        for (const auto& row : rows) {
            if (row.find("|SR|") == std::string::npos) continue;
            std::string rtn = row;
            rtn.replace(rtn.find("|SR|"), 4, "|RTN|");
            std::string line;
            for (std::size_t b : batches) {
                const cell* sr = find_cell(cells, design, row, b);
                const cell* rn = find_cell(cells, design, rtn, b);
                if (sr == nullptr || rn == nullptr) continue;
                std::vector<double> d;
                for (const auto& [seed, gap] : rn->gap_by_seed)
                    if (const auto it = sr->gap_by_seed.find(seed); it != sr->gap_by_seed.end()) d.push_back(gap - it->second);
                line += (line.empty() ? "" : ", ") + std::string("b=") + std::to_string(b) + " " + show_interval(t_interval(d));
            }
            if (!line.empty()) {
                const cell* any = find_cell(cells, design, row, b0);
                out += "- RTN minus SR, " + any->placement + " " + any->format + " (lr " + fmt("%.3g", any->lr) + "): " + line + "\n";
            }
        }
        // Exchange rate on the loss: the batch at which the format with fewer significand bits has
        // the gap that the one with more bits has at the smallest batch (log-log interpolation),
        // for two formats of the same exponent width (a narrower range is another effect).
        for (const auto& row_hi : rows)
            for (const auto& row_lo : rows) {
                const cell* h = find_cell(cells, design, row_hi, b0);
                const cell* l = find_cell(cells, design, row_lo, b0);
                if (h == nullptr || l == nullptr || h->placement != "backward" || l->placement != "backward" ||
                    h->rounding != "SR" || l->rounding != "SR")
                    continue;
                if (is_block_format(h->format) || is_block_format(l->format)) continue;  // block scales change the range
                const int p_hi = significand_bits(h->format), p_lo = significand_bits(l->format);
                if (p_hi <= p_lo || exponent_bits(h->format) != exponent_bits(l->format)) continue;
                std::string text = "- exchange rate on the loss, backward SR " + l->format + " (" + std::to_string(p_lo) + " bits) for " +
                                   h->format + " (" + std::to_string(p_hi) + " bits) at b=" + std::to_string(b0) + ": ";
                if (h->gap.n < 2 || !h->gap.excludes_zero() || h->gap.mean <= 0.0) {
                    out += text + h->format + "'s gap " + show_interval(h->gap) + " is not distinguishable from 0, so no batch of " +
                           l->format + " can be said to match it on the loss\n";
                    continue;
                }
                const double target = h->gap.mean;
                if (l->gap.n > 0 && l->gap.mean <= target) {
                    out += text + l->format + "'s gap " + show_interval(l->gap) + " is already no larger than " + h->format +
                           "'s " + fmt("%.3f", target) + " at the same batch\n";
                    continue;
                }
                double found = NAN;
                for (std::size_t i = 0; i + 1 < batches.size(); ++i) {
                    const cell* a = find_cell(cells, design, row_lo, batches[i]);
                    const cell* c = find_cell(cells, design, row_lo, batches[i + 1]);
                    if (a == nullptr || c == nullptr || !(a->gap.mean >= target && c->gap.mean <= target)) continue;
                    if (a->gap.mean <= 0.0 || c->gap.mean <= 0.0) continue;
                    const double x = (std::log(target) - std::log(a->gap.mean)) / (std::log(c->gap.mean) - std::log(a->gap.mean));
                    found = std::exp(std::log(static_cast<double>(batches[i])) +
                                     x * (std::log(static_cast<double>(batches[i + 1])) - std::log(static_cast<double>(batches[i]))));
                    break;
                }
                if (std::isnan(found))
                    out += text + "no batch in the grid brings " + l->format + "'s gap down to " + fmt("%.3f", target) + "\n";
                else
                    out += text + l->format + " reaches " + h->format + "'s gap " + fmt("%.3f", target) + " at b=" + fmt("%.1f", found) +
                           ", a batch multiple of " + fmt("%.1f", found / static_cast<double>(b0)) + ", " +
                           fmt("%.2f", std::pow(found / static_cast<double>(b0), 1.0 / (p_hi - p_lo))) + " per bit\n";
            }
    }
    return out;
}

// ---- Validation curves and the gradient-variance law -----------------------------------------------

// The first seed's runs at the smallest batch of the first design, trained again with the
// validation loss every tenth of the steps. Their last point must be the grid's number: the runs
// are deterministic, so a difference is a bug, and stops the program.
void curves_stage(const options& o, const grid& g, const std::vector<run_spec>& runs,
                  const std::map<std::string, run_result>& results, const text_corpus& corpus)
{
    const std::size_t b0 = batches_of(g, g.designs.front()).front();
    std::vector<run_spec> chosen;
    for (const run_spec& s : runs)
        if (s.seed == o.first_seed && s.batch == b0 && s.steps == steps_of(g, g.designs.front(), s.batch))
            chosen.push_back(s);
    std::vector<std::vector<std::pair<std::uint64_t, double>>> curves(chosen.size());
    std::printf("\nvalidation curves: %zu runs again (seed %llu, b=%zu)\n", chosen.size(),
                static_cast<unsigned long long>(o.first_seed), b0);
    for_each_parallel(chosen.size(), o.jobs, [&](std::size_t i) {
        const run_result r = train_one(chosen[i], corpus, g.model, o.threads, nullptr, &curves[i]);
        const auto grid_run = results.find(chosen[i].key());
        if (grid_run != results.end() && std::isfinite(r.bpb()) &&
            fmt("%.6f", r.val_loss) != fmt("%.6f", grid_run->second.val_loss))
            throw std::runtime_error("run " + chosen[i].key() + " trained again ended at val_loss " + fmt("%.6f", r.val_loss) +
                                     ", not the grid's " + fmt("%.6f", grid_run->second.val_loss) + " (not reproducible)");
    });
    csv_file csv(o.curves_csv, "format,rounding,placement,batch,seed,lr,tokens,val_bpb");
    for (std::size_t i = 0; i < chosen.size(); ++i)
        for (const auto& [tokens, bpb] : curves[i])
            csv.row(chosen[i].format + "," + chosen[i].rounding + "," + chosen[i].placement + "," + std::to_string(chosen[i].batch) +
                    "," + std::to_string(chosen[i].seed) + "," + fmt("%.6g", chosen[i].lr) + "," + std::to_string(tokens) + "," +
                    fmt("%.6f", bpb));
    csv.finish();
    std::printf("wrote %s\n", o.curves_csv.c_str());
}

// The 1/b law on the language model: gradient-variance diagnostics (train/gradient_variance.hpp)
// of the FP32 model after the first seed's run at the smallest batch, for backward and
// forward-weight rounding in e4m3 and bf16 with SR and RTN; and the batch multiple per bit that
// the measured a/u^2 implies (variance a/b with a = (a/u^2) u^2, u doubling per bit).
void variance_stage(const options& o, const grid& g, const text_corpus& corpus)
{
    const std::size_t b0 = batches_of(g, g.designs.front()).front();
    const run_spec fp32{"fp32", "-", "none", b0, o.first_seed, o.lr, steps_of(g, g.designs.front(), b0)};
    gpt trained(gpt_shape(g.model, o.first_seed));
    (void)train_one(fp32, corpus, g.model, o.threads, &trained);
    token_batch pool;
    sample_windows(corpus.train, 128, g.model.context, o.first_seed ^ 0x706F6F6Cull /* "pool" */, 0, pool);
    variance_options vo;
    vo.batch_sizes = {1, 2, 4, 8, 16, 32, 64};
    vo.draws = 8;
    vo.min_samples = 128;
    vo.seed = o.first_seed;
    csv_file csv(o.variance_csv, "config,format,rounding,batch,quant_var,sample_var");
    std::printf("\n1/b law on the language model (after %llu tokens of FP32 training; pool of 128 sequences)\n",
                static_cast<unsigned long long>(fp32.steps * fp32.batch * g.model.context));
    std::map<std::string, double> a_over_u2;
    for (const char* config : {"backward", "weights"})
        for (const char* format : {"bf16", "e4m3"})
            for (const char* rounding : {"SR", "RTN"}) {
                const quantizer q = make_quantizer(format, parse_rounding(rounding));
                gpt model(trained);  // the trained state, with this rounding
                linear_quantization lq;
                if (std::string(config) == "backward") lq = linear_quantization::backward_only(q);
                else lq.forward_weight = q;
                model.set_quantization(lq, std::string(config) == "backward" ? q : quantizer{});
                const auto points = gradient_variance(model, pool, vo, o.threads);
                for (const auto& p : points)
                    csv.row(std::string(config) + "," + format + "," + rounding + "," + std::to_string(p.batch_size) + "," +
                            fmt("%.6e", p.quantization_normalised) + "," + fmt("%.6e", p.sampling_normalised));
                const inverse_batch_fit f = fit_inverse_batch(points);
                const double u = std::ldexp(1.0, -significand_bits(format));
                a_over_u2[std::string(config) + format + rounding] = f.a / (u * u);
                std::printf("  %-8s %-4s %-3s slope %.3f  a %.3e  floor %.3e  a/u^2 %.2f\n", config, format, rounding, f.slope, f.a,
                            f.c, f.a / (u * u));
                std::fflush(stdout);
            }
    csv.finish();
    const int bits = significand_bits("bf16") - significand_bits("e4m3");
    std::printf("exchange rate on the gradient variance (backward SR): one bit fewer costs a %.2fx batch "
                "(4 x (a/u^2 of e4m3 / a/u^2 of bf16)^(1/%d))\nwrote %s\n",
                4.0 * std::pow(a_over_u2["backwarde4m3SR"] / a_over_u2["backwardbf16SR"], 1.0 / bits), bits, o.variance_csv.c_str());
}

// ---- The grid ----------------------------------------------------------------------------------

int run(const options& o)
{
    const grid g = make_grid(o);
    const text_corpus corpus = load_corpus(o.data);
    const std::vector<run_spec> runs = plan(o, g);
    std::map<std::string, run_result> results;
    if (o.resume) {
        std::size_t kept = 0;
        for (auto& [key, r] : previous_runs(o.csv)) {
            // A named copy: clang 14 cannot capture a structured binding.
            const std::string& k = key;
            const bool planned = std::any_of(runs.begin(), runs.end(), [&](const run_spec& s) { return s.key() == k; });
            if (planned && r.tokens == r.spec.steps * r.spec.batch * g.model.context) {
                results[key] = r;
                ++kept;
            }
        }
        std::printf("--resume: %zu of the grid's %zu runs are done\n", kept, runs.size());
    }
    std::vector<run_spec> todo;
    double work = 0.0;
    for (const run_spec& s : runs)
        if (!results.count(s.key())) {
            todo.push_back(s);
            work += static_cast<double>(s.steps * s.batch);
        }
    std::string designs;
    for (const auto& d : g.designs) designs += (designs.empty() ? "" : " and ") + std::string(d == "tokens" ? "equal tokens" : "equal steps");
    std::printf("data: %s (%zu training, %zu validation bytes); GPT C %zu, L %zu, H %zu, T %zu; %zu runs (%zu to do), "
                "%llu tokens per run at the smallest batch, %s; seeds %llu..%llu; AdamW lr %.3g; "
                "%u job(s) of %u thread(s)\n",
                o.data.c_str(), corpus.train.size(), corpus.validation.size(), g.model.channels, g.model.layers, g.model.heads,
                g.model.context, runs.size(), todo.size(), static_cast<unsigned long long>(g.tokens), designs.c_str(),
                static_cast<unsigned long long>(o.first_seed), static_cast<unsigned long long>(o.first_seed + g.seeds - 1), o.lr,
                o.jobs, o.threads);
    std::fflush(stdout);
    {
        // The log of finished runs (PATH.partial), in the order they finish: what --resume reads
        // after an interruption. The CSV itself is written in the grid's order at the end.
        csv_file log(o.csv, csv_header);
        for (const auto& [key, r] : results) log.row(csv_row(r));
        progress pr(work);
        std::mutex m;
        std::size_t finished = 0;
        for_each_parallel(todo.size(), o.jobs, [&](std::size_t i) {
            const run_result r = train_one(todo[i], corpus, g.model, o.threads);
            const std::lock_guard<std::mutex> lock(m);
            results[r.spec.key()] = r;
            log.row(csv_row(r));
            pr.done(static_cast<double>(r.spec.steps * r.spec.batch));
            std::printf("[%3zu/%zu] %-9s %-5s %-4s b=%-3zu seed %-3llu lr %-7.3g steps %-5llu train %.4f  val %.3f bits/byte"
                        "  %6.1fs | %s elapsed, ~%s left\n",
                        ++finished, todo.size(), r.spec.placement.c_str(), r.spec.format.c_str(), r.spec.rounding.c_str(),
                        r.spec.batch, static_cast<unsigned long long>(r.spec.seed), r.spec.lr,
                        static_cast<unsigned long long>(r.spec.steps), r.train_loss, r.bpb(), r.seconds,
                        duration(pr.elapsed()).c_str(), pr.eta().c_str());
            std::fflush(stdout);
        });
    }
    csv_file csv(o.csv, csv_header);
    for (const run_spec& s : runs) csv.row(csv_row(results.at(s.key())));
    csv.finish();

    const std::vector<cell> cells = paired_cells(runs, results, g, o.first_seed);
    csv_file gaps(o.gaps_csv, "design,placement,format,rounding,lr,batch,steps,seeds,mean_bpb,gap,gap_low,gap_high");
    for (const cell& c : cells)
        gaps.row(c.design + "," + c.placement + "," + c.format + "," + c.rounding + "," + fmt("%.6g", c.lr) + "," +
                 std::to_string(c.batch) + "," + std::to_string(c.steps) + "," + std::to_string(c.value.n) + "," +
                 fmt("%.6f", c.value.mean) + "," + fmt("%.6f", c.gap.mean) + "," + fmt("%.6f", c.gap.low) + "," +
                 fmt("%.6f", c.gap.high));
    gaps.finish();
    std::string report;
    for (const auto& design : g.designs)
        report += "\n### " + std::string(design == "tokens" ? "Equal training tokens" : "Equal steps") +
                  ": mean validation bits per byte over " + std::to_string(g.seeds) +
                  " seeds; in brackets the mean paired gap to FP32 and its 95% t interval (* when it excludes 0)\n\n" +
                  gap_table(cells, g, design);
    report += "\n## The claims\n" + claims(cells, g, o.full);
    std::printf("%s", report.c_str());
    if (!o.markdown.empty()) {
        csv_file md(o.markdown, "# Batch against precision on the byte-level GPT (C " + std::to_string(g.model.channels) + ", L " +
                                    std::to_string(g.model.layers) + ", H " + std::to_string(g.model.heads) + ", T " +
                                    std::to_string(g.model.context) + "; " + std::to_string(g.tokens) +
                                    " tokens per run at the smallest batch; AdamW)");
        md.row(report);
        md.finish();
        std::printf("\nwrote %s, %s and %s\n", o.csv.c_str(), o.gaps_csv.c_str(), o.markdown.c_str());
    }
    if (!o.curves_csv.empty()) curves_stage(o, g, runs, results, corpus);
    if (!o.variance_csv.empty()) variance_stage(o, g, corpus);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return run_main(argc, argv, print_usage, parse, run);
}
