// Batch size against precision on a language model: trains the byte-level GPT (gpt.hpp) on the
// Jargon File with AdamW over a grid of
//   format     bf16, e5m2, e4m3 (backward, weights), bf16 and fp16 (optimizer_state)
//   rounding   RTN or SR
//   placement  none (FP32); backward: x, W and dy of every linear layer and the operands of
//              attention's backward products rounded, per-token draws, power-of-two scaling
//              below bf16; weights: every parameter stored in the format and updated by AdamW
//              with the rounding (no FP32 copy); optimizer_state: AdamW's moments stored in the
//              format and updated with the rounding
//   batch      sequences per step; every run sees the same number of tokens (--tokens), so a
//              batch of b takes tokens / (b * seq) steps at the same learning rate
// and writes a CSV (format,rounding,placement,batch,lr,steps,tokens,train_loss,val_loss,val_bpb,
// seconds), a markdown table of validation bits per byte against the batch size, and a
// progress line per run. Every run at one batch size starts from the same weights and sees the
// same batches, so its gap to FP32 is a paired comparison. What the paper predicts is in
// docs/paper.md (facts 4, 6, 8); docs/language_model.md says what we measured.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "experiment.hpp"
#include "lm_experiment.hpp"

namespace {

using namespace experiment;

struct options {
    bool full = false;
    std::string csv, markdown, variance_csv, data = jargon_file_default_path;
    std::uint64_t seed = 1, tokens = 0;
    unsigned threads = default_threads();
    std::vector<std::string> formats, roundings, placements;
    std::vector<std::size_t> batches;
    double lr = 3e-3;
};

struct run_spec {
    std::string format, rounding, placement;
    std::size_t batch;
};

struct model_shape {
    std::size_t context, channels, heads, layers;
};

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(to,
                 "usage: %s [--quick | --full] [--csv PATH] [--markdown PATH] [--seed N] [--threads N]\n"
                 "          [--data PATH] [--formats LIST] [--roundings RTN,SR] [--placements LIST]\n"
                 "          [--batches LIST] [--tokens N] [--lr X (default 0.003)] [--variance PATH]\n"
                 "--quick (default): GPT with C 64, L 2, H 4, T 32; e4m3 backward, bf16 weights, bf16 optimizer\n"
                 "  state, SR and RTN; batches 4, 16; 196608 training tokens per run (about 2.5 minutes on 2 cores).\n"
                 "--full: C 128, L 4, H 4, T 64; bf16, e5m2, e4m3 backward and weights, bf16 and fp16 optimizer\n"
                 "  state; batches 4, 8, 16, 32; 262144 tokens per run (estimated at 50 minutes on 2 cores, not yet run).\n"
                 "placements: none, backward, weights, optimizer_state (none is always run as the baseline).\n"
                 "--csv columns: format,rounding,placement,batch,lr,steps,tokens,train_loss,val_loss,val_bpb,\n"
                 "  seconds. --markdown defaults to the CSV path with .md.\n"
                 "--variance PATH: also the 1/b law on this model (the FP32 model after the first batch size's\n"
                 "  tokens): the gradient variance of e4m3 and bf16 SR and RTN in the backward pass and on the\n"
                 "  forward weights, batches 1..64 of a pool of 128 training sequences; CSV\n"
                 "  config,format,rounding,batch,quant_var,sample_var (normalised) and the fits on stdout.\n",
                 prog);
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
        else if (a == "--csv") o.csv = value();
        else if (a == "--markdown") o.markdown = value();
        else if (a == "--variance") o.variance_csv = value();
        else if (a == "--data") o.data = value();
        else if (a == "--seed") o.seed = parse_count(a, v, 0, UINT64_MAX), ++i;
        else if (a == "--threads") o.threads = static_cast<unsigned>(parse_count(a, v, 1, 256)), ++i;
        else if (a == "--tokens") o.tokens = parse_count(a, v, 1, 1ull << 40), ++i;
        else if (a == "--batches") o.batches = parse_sizes(a, v, 1, 4096), ++i;
        else if (a == "--formats") o.formats = parse_names(a, v, format_names()), ++i;
        else if (a == "--roundings") o.roundings = parse_names(a, v, {"RTN", "SR"}), ++i;
        else if (a == "--placements") o.placements = parse_names(a, v, {"none", "backward", "weights", "optimizer_state"}), ++i;
        else if (a == "--lr") {
            const std::string text = value();
            char* end = nullptr;
            o.lr = std::strtod(text.c_str(), &end);
            if (*end != '\0' || !(o.lr > 0.0) || !std::isfinite(o.lr)) throw usage_error("--lr needs a positive number, got '" + text + "'");
        } else throw usage_error("unknown option '" + a + "'");
    }
    if (o.markdown.empty() && !o.csv.empty())
        o.markdown = (o.csv.size() > 4 && o.csv.ends_with(".csv") ? o.csv.substr(0, o.csv.size() - 4) : o.csv) + ".md";
    for (const auto& f : o.formats)
        if (f == "fp32" || f == "int8") throw usage_error("--formats: '" + f + "' is not a minifloat format");
    return o;
}

std::vector<run_spec> plan(const options& o)
{
    const std::vector<std::string> placements =
        o.placements.empty() ? std::vector<std::string>{"backward", "weights", "optimizer_state"} : o.placements;
    const std::vector<std::string> roundings = o.roundings.empty() ? std::vector<std::string>{"SR", "RTN"} : o.roundings;
    std::vector<run_spec> runs;
    for (std::size_t b : o.batches) {
        runs.push_back({"fp32", "-", "none", b});
        for (const auto& p : placements) {
            if (p == "none") continue;
            std::vector<std::string> formats = o.formats;
            if (formats.empty()) {
                if (p == "optimizer_state") formats = o.full ? std::vector<std::string>{"bf16", "fp16"} : std::vector<std::string>{"bf16"};
                else if (p == "weights") formats = o.full ? std::vector<std::string>{"bf16", "e5m2", "e4m3"} : std::vector<std::string>{"bf16"};
                else formats = o.full ? std::vector<std::string>{"bf16", "e5m2", "e4m3"} : std::vector<std::string>{"e4m3"};
            }
            for (const auto& f : formats) {
                if (p == "optimizer_state" && f != "bf16" && f != "fp16") continue;  // AdamW's moment formats
                for (const auto& r : roundings) runs.push_back({f, r, p, b});
            }
        }
    }
    return runs;
}

struct run_result {
    run_spec spec;
    std::uint64_t steps = 0, tokens = 0;
    double train_loss = NAN, val_loss = NAN, seconds = 0.0;
};

// The GPT of shape m, initialised from seed, in FP32 (a run sets its quantizers and storage).
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

run_result train_one(const run_spec& s, const text_corpus& corpus, const model_shape& m, const options& o,
                     std::uint64_t tokens)
{
    gpt_options g = gpt_shape(m, o.seed);
    adamw_optimizer opt;
    opt.options.lr = static_cast<float>(o.lr);
    opt.options.weight_decay = 0.0f;
    const fewbits::rounding mode = parse_rounding(s.rounding);
    opt.update.mode = mode;
    if (s.placement == "backward") {
        const quantizer q = make_quantizer(s.format, mode);
        g.quantization = linear_quantization::backward_only(q);
        g.attention_backward = q;
    } else if (s.placement == "weights") {
        g.weights = make_storage(s.format);
    } else if (s.placement == "optimizer_state") {
        opt.moments = s.format == "bf16" ? moment_format::bf16 : moment_format::fp16;
    }
    gpt model(g);
    run_result r{s};
    r.steps = std::max<std::uint64_t>(1, tokens / (s.batch * m.context));
    r.tokens = r.steps * s.batch * m.context;
    const auto start = std::chrono::steady_clock::now();
    pass_context ctx;
    ctx.seed = o.seed;
    ctx.threads = o.threads;
    token_batch b;
    double tail = 0.0;  // mean training loss over the last tenth of the steps
    std::uint64_t tail_n = 0;
    for (std::uint64_t step = 0; step < r.steps; ++step) {
        ctx.step = step;
        sample_windows(corpus.train, s.batch, m.context, o.seed, step, b);
        const double loss = model.compute_gradients(b.inputs, b.targets, b.sequences, ctx);
        if (!std::isfinite(loss)) break;  // diverged: train_loss and val_loss stay NaN
        for (parameter* p : model.parameters()) opt.step(*p, ctx.update_stream(*p));
        if (step >= r.steps - std::max<std::uint64_t>(1, r.steps / 10)) {
            tail += loss;
            ++tail_n;
        }
    }
    if (tail_n > 0) {
        r.train_loss = tail / static_cast<double>(tail_n);
        r.val_loss = lm_validation_loss(model, corpus.validation, 16, m.context, 8, o.threads);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

// The 1/b law on the language model: gradient-variance diagnostics (train/gradient_variance.hpp) of the
// FP32 model trained for `tokens` tokens at the first batch size, for backward and forward-
// weight rounding in e4m3 and bf16 with SR and RTN.
void variance_stage(const options& o, const text_corpus& corpus, const model_shape& m, std::uint64_t tokens)
{
    const run_spec fp32{"fp32", "-", "none", o.batches.front()};
    gpt trained(gpt_shape(m, o.seed));
    {  // the same training as the grid's FP32 run at that batch size
        adamw_optimizer opt;
        opt.options.lr = static_cast<float>(o.lr);
        opt.options.weight_decay = 0.0f;
        pass_context ctx;
        ctx.seed = o.seed;
        ctx.threads = o.threads;
        token_batch b;
        const std::uint64_t steps = std::max<std::uint64_t>(1, tokens / (fp32.batch * m.context));
        for (std::uint64_t step = 0; step < steps; ++step) {
            ctx.step = step;
            sample_windows(corpus.train, fp32.batch, m.context, o.seed, step, b);
            (void)trained.compute_gradients(b.inputs, b.targets, b.sequences, ctx);
            for (parameter* p : trained.parameters()) opt.step(*p, ctx.update_stream(*p));
        }
    }
    token_batch pool;
    sample_windows(corpus.train, 128, m.context, o.seed ^ 0x706F6F6Cull /* "pool" */, 0, pool);
    variance_options vo;
    vo.batch_sizes = {1, 2, 4, 8, 16, 32, 64};
    vo.draws = 8;
    vo.min_samples = 128;
    vo.seed = o.seed;
    csv_file csv(o.variance_csv, "config,format,rounding,batch,quant_var,sample_var");
    std::printf("\n1/b law on the language model (after %llu tokens of FP32 training; pool of 128 sequences)\n",
                static_cast<unsigned long long>(tokens));
    for (const char* config : {"backward", "weights"})
        for (const char* format : {"bf16", "e4m3"})
            for (const char* rounding : {"SR", "RTN"}) {
                const quantizer q = make_quantizer(format, parse_rounding(rounding));
                gpt model(trained);  // the trained state, with this rounding
                linear_quantization lq;
                if (std::string(config) == "backward") {
                    lq = linear_quantization::backward_only(q);
                } else {
                    lq.forward_weight = q;
                }
                model.set_quantization(lq, std::string(config) == "backward" ? q : quantizer{});
                const auto points = gradient_variance(model, pool, vo, o.threads);
                for (const auto& p : points)
                    csv.row(std::string(config) + "," + format + "," + rounding + "," + std::to_string(p.batch_size) + "," +
                            fmt("%.6e", p.quantization_normalised) + "," + fmt("%.6e", p.sampling_normalised));
                const inverse_batch_fit f = fit_inverse_batch(points);
                const double u = std::ldexp(1.0, -significand_bits(format));
                std::printf("  %-8s %-4s %-3s slope %.3f  a %.3e  floor %.3e  a/u^2 %.2f\n", config, format, rounding,
                            f.slope, f.a, f.c, f.a / (u * u));
                std::fflush(stdout);
            }
    csv.finish();
    std::printf("wrote %s\n", o.variance_csv.c_str());
}

// Validation bits per byte per configuration and batch size, and the gap to FP32 at that batch.
std::string markdown_table(const std::vector<run_result>& results, const std::vector<std::size_t>& batches)
{
    return grid_table(results, batches, [](const run_result& r, const run_result* fp32) {
        const double bpb = r.val_loss / std::log(2.0);
        if (!std::isfinite(bpb)) return std::string("diverged");
        std::string c = fmt("%.3f", bpb);
        if (r.spec.placement != "none" && fp32 != nullptr) {
            c += " (";
            c += fmt("%+.3f", bpb - fp32->val_loss / std::log(2.0));
            c += ')';
        }
        return c;
    });
}

int run(options o)
{
    if (o.batches.empty()) o.batches = o.full ? std::vector<std::size_t>{4, 8, 16, 32} : std::vector<std::size_t>{4, 16};
    const model_shape m = o.full ? model_shape{64, 128, 4, 4} : model_shape{32, 64, 4, 2};
    const std::uint64_t tokens = o.tokens > 0 ? o.tokens : o.full ? 262144 : 196608;
    const text_corpus corpus = load_corpus(o.data);
    const std::vector<run_spec> runs = plan(o);
    std::printf("data: %s (%zu training, %zu validation bytes); GPT C %zu, L %zu, H %zu, T %zu; %zu runs of %llu "
                "tokens, AdamW lr %.3g, seed %llu, %u thread(s)\n",
                o.data.c_str(), corpus.train.size(), corpus.validation.size(), m.channels, m.layers, m.heads,
                m.context, runs.size(), static_cast<unsigned long long>(tokens), o.lr,
                static_cast<unsigned long long>(o.seed), o.threads);
    csv_file csv(o.csv, "format,rounding,placement,batch,lr,steps,tokens,train_loss,val_loss,val_bpb,seconds");
    progress pr(static_cast<double>(runs.size()));
    std::vector<run_result> results;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const run_result r = train_one(runs[i], corpus, m, o, tokens);
        results.push_back(r);
        pr.done(1.0);
        std::printf("[%2zu/%zu] %-16s %-5s %-4s b=%-3zu steps %-5llu train %.4f  val %.4f (%.3f bits/byte)  %6.1fs"
                    "  | %s elapsed, ~%s left\n",
                    i + 1, runs.size(), r.spec.placement.c_str(), r.spec.format.c_str(), r.spec.rounding.c_str(),
                    r.spec.batch, static_cast<unsigned long long>(r.steps), r.train_loss, r.val_loss,
                    r.val_loss / std::log(2.0), r.seconds, duration(pr.elapsed()).c_str(), pr.eta().c_str());
        std::fflush(stdout);
        csv.row(r.spec.format + "," + r.spec.rounding + "," + r.spec.placement + "," + std::to_string(r.spec.batch) +
                "," + fmt("%.6g", o.lr) + "," + std::to_string(r.steps) + "," + std::to_string(r.tokens) + "," +
                fmt("%.6f", r.train_loss) + "," + fmt("%.6f", r.val_loss) + "," +
                fmt("%.6f", r.val_loss / std::log(2.0)) + "," + fmt("%.2f", r.seconds));
    }
    csv.finish();
    const std::string table = markdown_table(results, o.batches);
    std::printf("\nValidation bits per byte after %llu training tokens per run; in brackets: difference to FP32 at "
                "the same batch and steps\n\n%s",
                static_cast<unsigned long long>(tokens), table.c_str());
    if (!o.markdown.empty()) {
        csv_file md(o.markdown, "Validation bits per byte after " + std::to_string(tokens) +
                                    " training tokens per run (GPT C " + std::to_string(m.channels) + ", L " +
                                    std::to_string(m.layers) + ", T " + std::to_string(m.context) +
                                    ", AdamW); in brackets: difference to FP32 at the same batch size and steps.\n");
        md.row(table);
        md.finish();
        std::printf("\nwrote %s and %s\n", o.csv.c_str(), o.markdown.c_str());
    }
    if (!o.variance_csv.empty()) variance_stage(o, corpus, m, tokens);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return run_main(argc, argv, print_usage, parse, run);
}
