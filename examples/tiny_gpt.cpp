// tiny_gpt: trains the byte-level GPT (fewbits/models/gpt.hpp) on the Jargon File with AdamW, in
// FP32 or with fewer bits, prints progress and the validation loss in bits per byte, and can
// write text from a prompt; or, with --dump-state, trains the FP32 model and writes the FBLM
// state of the next batch (fewbits/io/lm_state.hpp) for outside tools to check.
//
// Checkpoints: --checkpoint PATH writes the whole training state (fewbits/io/checkpoint.hpp)
// every --checkpoint-every steps (default: at each progress line) and at the end; --resume
// PATH continues such a run bit for bit (the same options; --steps is the total). The last
// line is "state digest <16 hex digits>", equal for runs that reached the same state.
//
// Low-precision placements (any mix):
//   --backward FMT:RND   x, W and dy of every linear layer's backward pass and the operands of
//                        attention's two backward products rounded to FMT (per-tensor
//                        power-of-two scaling below bf16), with SR or RTN; or a block-scaled
//                        FMT (mxfp4, nvfp4, ...; --rht N or FMT+rhtN for a random Hadamard
//                        transform) for the linear layers only (docs/block_formats.md)
//   --weights FMT        every parameter stored in FMT (no FP32 copy), updated by AdamW
//   --moments bf16|fp16  AdamW's two moments stored in that format
//   --update SR|RTN      the rounding of every stored value in AdamW's update (default SR)
//
// Memory (docs/memory.md): --update-in-backward updates each parameter as soon as its gradient
// is complete (train/lm_step.hpp; the same bits, no gradient buffer for the whole model);
// --clip-grad-norm X clips the global gradient norm (only with the updates after backward);
// --accumulate K runs K micro-batches of --batch sequences per step (a step's batch is K x B),
// their gradients summed in FP32 or, with --accumulator bf16, in BF16 with SR
// (train/gradient_accumulator.hpp).
// Data parallel (docs/distributed.md): --shards S cuts each step's batch into S shards whose
// gradients are added in a fixed tree (train/shard_tree.hpp); under `mpirun -np P` (P <= S)
// the processes share the shards, and the run ends in the same state digest for every P and
// without mpirun. Only process 0 prints progress and writes files.
// At the end the program prints the memory it holds by category and its peak resident memory;
// when an allocation fails it says what did not fit and exits with status 1, before writing
// any checkpoint of the step it was in.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "experiment.hpp"
#include "lm_experiment.hpp"
#include "processes.hpp"

#include <fewbits/data/text_corpus.hpp>
#include <fewbits/io/lm_state.hpp>
#include <fewbits/nn/memory.hpp>
#include <fewbits/train/lm_step.hpp>

namespace {

using namespace fewbits::training;
using namespace fewbits::io;
using experiment::usage_error;

struct options {
    std::size_t context = 64, channels = 128, heads = 4, layers = 4, batch = 16, seq = 64;
    std::uint64_t steps = 200, seed = 1, log_every = 25, eval_batches = 8, sample_bytes = 0;
    float lr = 1e-3f;
    unsigned threads = experiment::default_threads();
    std::string data = jargon_file_default_path, dump_state, prompt = "The ";
    std::optional<std::string> backward, weights, moments;
    std::size_t rht = 0;  // --rht N: folded into --backward as FMT+rhtN
    std::string update = "SR";
    bool update_in_backward = false;
    float clip_grad_norm = 0.0f;
    std::size_t accumulate = 1;
    std::size_t shards = 1;
    std::string exchange = "fp32";
    std::string accumulator = "fp32";
    experiment::checkpoint_options checkpoint;
};

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(to, "usage: %s [options]\n"
                "  --context T --channels C --heads H --layers L   model (default 64, 128, 4, 4)\n"
                "  --batch B --seq N      B sequences of N <= T bytes per step (default 16, 64)\n"
                "  --steps K              AdamW steps (default 200)       --lr X   (default 0.001)\n"
                "  --backward FMT:RND     round the backward pass (e.g. e4m3:SR, mxfp4:SR, nvfp4:SR; SR8:\n"
                "                         SR with 8 random bits, any of 1..32; SR is 32)\n"
                "  --rht N                with a block-scaled --backward: a random Hadamard transform of N\n"
                "                         around each rounding (same as FMT+rhtN)\n"
                "  --weights FMT          store every parameter in FMT (e.g. bf16)\n"
                "  --moments bf16|fp16    store AdamW's moments in that format\n"
                "  --update SR|SR<r>|RTN  rounding of the stored weights and moments (default SR)\n"
                "  --update-in-backward   update each parameter as soon as its gradient is complete\n"
                "                         (same bits; no gradient buffer for the whole model)\n"
                "  --clip-grad-norm X     clip the global gradient norm to X (not with --update-in-backward)\n"
                "  --accumulate K         K micro-batches of --batch sequences per step (default 1)\n"
                "  --accumulator fp32|bf16  the sum of the micro-batch gradients: FP32, or BF16 with SR\n"
                "  --shards S             cut the batch into S shards added in a fixed order: the same bits\n"
                "                         under mpirun -np P for every P <= S (default 1)\n"
                "  --exchange fp32|bf16|e4m3|e4m3-rtn|e5m2  with --shards: the shards' gradients sent in FP32,\n"
                "                         BF16 with SR, or MXFP8 (a power-of-two scale per 32 values): E4M3\n"
                "                         with SR or round-to-nearest-even (e4m3-rtn), E5M2 with SR\n"
                "  --data PATH            text file, gzip or plain (default the Jargon File)\n"
                "  --log-every K          progress and validation every K steps (default 25)\n"
                "  --sample BYTES         afterwards, write BYTES bytes after --prompt TEXT\n"
                "  --dump-state PATH      train the FP32 model K steps (random bytes without the data),\n"
                "                         then write the FBLM state of the next batch\n"
                "  --checkpoint PATH      write the training state to PATH (atomically) every\n"
                "                         --checkpoint-every K steps (default --log-every) and at the end\n"
                "  --resume PATH          continue the run of that checkpoint (same options; K = total steps)\n"
                "  --seed N  --threads N\n",
                prog);
}

std::pair<std::string, fewbits::policy> parse_format_rounding(const std::string& option, const std::string& text,
                                                                bool block_scaled)
{
    const auto colon = text.find(':');
    const std::string f = text.substr(0, colon), r = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (r.empty() || r == "-") throw usage_error(option + " needs FORMAT:SR, FORMAT:SR<r> or FORMAT:RTN, got '" + text + "'");
    (void)experiment::parse_roundings(option, r.c_str());
    (void)experiment::parse_formats(option, f.c_str(), block_scaled);
    if (f == "fp32" || f == "int8") throw usage_error(option + ": '" + f + "' is not a minifloat format");
    return {f, experiment::parse_rounding(r)};
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        auto value = [&] { return std::string(experiment::option_value(argc, argv, i)); };
        auto count = [&](std::uint64_t lo, std::uint64_t hi) {
            const auto n = experiment::parse_count(a, v, lo, hi);
            ++i;
            return n;
        };
        if (o.checkpoint.parse(a, v, i)) continue;
        if (a == "--context") o.context = count(1, 4096);
        else if (a == "--channels") o.channels = count(1, 4096);
        else if (a == "--heads") o.heads = count(1, 256);
        else if (a == "--layers") o.layers = count(1, 64);
        else if (a == "--batch") o.batch = count(1, 4096);
        else if (a == "--seq") o.seq = count(1, 4096);
        else if (a == "--steps") o.steps = count(0, 100000000);
        else if (a == "--seed") o.seed = count(0, UINT64_MAX);
        else if (a == "--threads") o.threads = static_cast<unsigned>(count(1, 256));
        else if (a == "--log-every") o.log_every = count(1, 100000000);
        else if (a == "--sample") o.sample_bytes = count(1, 1000000);
        else if (a == "--prompt") o.prompt = value();
        else if (a == "--data") o.data = value();
        else if (a == "--dump-state") o.dump_state = value();
        else if (a == "--backward") o.backward = value();
        else if (a == "--rht") o.rht = count(16, 256);
        else if (a == "--weights") o.weights = value();
        else if (a == "--moments") o.moments = value();
        else if (a == "--update") o.update = value();
        else if (a == "--update-in-backward") o.update_in_backward = true;
        else if (a == "--accumulate") o.accumulate = count(1, 4096);
        else if (a == "--accumulator") o.accumulator = value();
        else if (a == "--shards") o.shards = count(1, 4096);
        else if (a == "--exchange") o.exchange = value();
        else if (a == "--clip-grad-norm") {
            const std::string text = value();
            char* end = nullptr;
            const float x = std::strtof(text.c_str(), &end);
            if (*end != '\0' || !(x > 0.0f) || !std::isfinite(x))
                throw usage_error("--clip-grad-norm needs a positive number, got '" + text + "'");
            o.clip_grad_norm = x;
        }
        else if (a == "--lr") {
            const std::string text = value();
            char* end = nullptr;
            const float lr = std::strtof(text.c_str(), &end);
            if (*end != '\0' || !(lr > 0.0f) || !std::isfinite(lr)) throw usage_error("--lr needs a positive number, got '" + text + "'");
            o.lr = lr;
        } else throw usage_error("unknown option '" + a + "'");
    }
    if (o.channels % o.heads != 0)
        throw usage_error("--channels (" + std::to_string(o.channels) + ") must be a multiple of --heads (" +
                          std::to_string(o.heads) + ")");
    if (o.seq > o.context)
        throw usage_error("--seq (" + std::to_string(o.seq) + ") must be at most --context (" + std::to_string(o.context) + ")");
    if (o.update == "-") throw usage_error("--update needs SR, SR<r> or RTN, got '-'");
    (void)experiment::parse_roundings("--update", o.update.c_str());
    if (o.moments && *o.moments != "bf16" && *o.moments != "fp16")
        throw usage_error("--moments needs bf16 or fp16, got '" + *o.moments + "'");
    if (o.weights) (void)parse_format_rounding("--weights", *o.weights + ":SR", false);
    // --rht N is FMT+rhtN: parse_format_rounding then refuses a format that cannot take it.
    if (o.rht > 0) {
        if (!o.backward) throw usage_error("--rht needs --backward with a block-scaled format (e.g. mxfp4:SR)");
        const auto colon = o.backward->find(':');
        o.backward = o.backward->substr(0, colon) + "+rht" + std::to_string(o.rht) +
                     (colon == std::string::npos ? "" : o.backward->substr(colon));
    }
    if (o.batch % o.shards != 0)
        throw usage_error("--batch (" + std::to_string(o.batch) + ") must be a multiple of --shards (" +
                          std::to_string(o.shards) + "): each shard holds the same number of sequences");
    if (!exchange_format_of(o.exchange))
        throw usage_error(std::string("--exchange needs ") + exchange_format_words + ", got '" + o.exchange + "'");
    if (o.exchange != "fp32" && o.shards < 2)
        throw usage_error("--exchange " + o.exchange + " rounds the shards' gradients: it needs --shards 2 or more");
    if (o.shards > 1 && o.accumulate > 1)
        throw usage_error("--shards and --accumulate both cut the batch: use --shards alone (each shard's gradient "
                          "is computed on its own)");
    if (o.shards > 1 && o.update_in_backward)
        throw usage_error("--shards needs every shard's gradient before the update, which --update-in-backward "
                          "does not wait for: use one or the other");
    if (o.backward) {
        const auto [f, r] = parse_format_rounding("--backward", *o.backward, true);
        // Block-scaled: blocks run along the channels and (for the weight gradients) along the
        // tokens of a pass (a shard's, with --shards), so both must hold whole blocks (and whole
        // transform blocks).
        const std::size_t line = experiment::make_quantizer(f, r).block_multiple();
        const std::size_t pass = o.batch / o.shards * o.seq;
        if (o.channels % line != 0 || pass % line != 0)
            throw usage_error("--backward " + *o.backward + " needs --channels (" + std::to_string(o.channels) +
                              ") and the tokens of a pass, --batch " + (o.shards > 1 ? "/ --shards " : "") +
                              "x --seq (" + std::to_string(pass) + "), to be multiples of " + std::to_string(line));
    }
    if (o.accumulator != "fp32" && o.accumulator != "bf16")
        throw usage_error("--accumulator needs fp32 or bf16, got '" + o.accumulator + "'");
    if (o.update_in_backward && o.clip_grad_norm > 0.0f)
        throw usage_error("--clip-grad-norm needs every gradient before the first update, and --update-in-backward "
                          "updates each parameter before the next gradient exists: use one or the other");
    o.checkpoint.validate();
    if (!o.dump_state.empty() && (o.backward || o.weights || o.moments))
        throw usage_error("--dump-state writes the FP32 model's state: leave out --backward, --weights and --moments");
    return o;
}

gpt_options model_options(const options& o)
{
    gpt_options m;
    m.context = o.context;
    m.channels = o.channels;
    m.heads = o.heads;
    m.layers = o.layers;
    m.init_seed = o.seed;
    if (o.backward) {
        const auto [f, r] = parse_format_rounding("--backward", *o.backward, true);
        const quantizer q = experiment::make_quantizer(f, r);
        m.quantization = linear_quantization::backward_only(q);
        // Block formats round the linear layers only: attention's head (16 channels by default)
        // is shorter than an MX block, and hardware recipes keep attention in higher precision.
        if (!experiment::is_block_format(f)) m.attention_backward = q;
    }
    if (o.weights) m.weights = experiment::make_storage(*o.weights);
    return m;
}

// Writes n bytes after the prompt: each drawn from the model's distribution (temperature 1)
// with the words of derive({seed}, position).
std::string sample_text(gpt& model, const options& o, std::size_t n)
{
    std::vector<std::int32_t> context(o.prompt.begin(), o.prompt.end());
    std::string out = o.prompt;
    pass_context ctx;
    ctx.exact = true;
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t start = context.size() > o.context ? context.size() - o.context : 0;
        const std::vector<std::int32_t> window(context.begin() + static_cast<long>(start), context.end());
        const tensor& logits = model.forward(window, 1, ctx);
        const auto z = logits.row(window.size() - 1);
        double max = z[0], total = 0.0;
        for (float v : z) max = std::max(max, double(v));
        for (float v : z) total += std::exp(v - max);
        std::uint32_t w[2];
        fewbits::fill_random_words(fewbits::derive(fewbits::stream{o.seed}, i), w);
        double u = (double(w[0]) + double(w[1]) * 0x1p-32) * 0x1p-32 * total;
        std::int32_t next = 255;
        for (std::size_t v = 0; v < z.size(); ++v)
            if ((u -= std::exp(z[v] - max)) < 0) {
                next = static_cast<std::int32_t>(v);
                break;
            }
        context.push_back(next);
        out += static_cast<char>(next);
    }
    return out;
}

// An allocation that failed, as the message a user needs: what did not fit, and what was held.
std::runtime_error out_of_memory(const std::string& what, const std::string& held)
{
    return std::runtime_error("out of memory: " + what + " did not fit (held: " + held +
                              "); no checkpoint of the unfinished step was written");
}

std::string megabytes(double bytes) { return experiment::fmt("%.1f MB", bytes / 1e6); }

// The gradients include the accumulator's sums (--accumulate).
memory_usage memory_of(gpt& model, const gradient_accumulator& acc)
{
    memory_usage m = parameter_memory(model.parameters());
    m.gradients += acc.bytes();
    m.activations = model.activation_bytes();
    return m;
}

// The model's memory by category, in one line.
std::string memory_held(gpt& model, const gradient_accumulator& acc)
{
    const memory_usage m = memory_of(model, acc);
    return "parameters " + megabytes(double(m.parameters)) + ", optimizer state " + megabytes(double(m.optimizer_state)) +
           ", gradients " + megabytes(double(m.gradients)) + ", activations " + megabytes(double(m.activations)) +
           ", buffers " + megabytes(double(m.buffers));
}

// What a training step allocates beyond the parameters, for the message when it does not fit.
std::string step_needs(const options& o, const adamw_optimizer& opt, std::size_t parameters)
{
    const double moment_bytes = 2.0 * double(parameters) * (opt.moments == moment_format::fp32 ? 4.0 : 2.0);
    std::string s = "AdamW's moments (" + std::string(moment_format_name(opt.moments)) + ", " + megabytes(moment_bytes) +
                    " for " + std::to_string(parameters) + " parameters, allocated at the first step)";
    if (!o.update_in_backward)
        s += ", the gradients of every parameter (fp32, " + megabytes(4.0 * double(parameters)) + ")";
    if (o.accumulate > 1)
        s += ", the accumulated gradients (" + o.accumulator + ", " +
             megabytes((o.accumulator == "fp32" ? 4.0 : 2.0) * double(parameters)) + ")";
    return s + " and the activations of " + std::to_string(o.batch) + " x " + std::to_string(o.seq) + " tokens";
}

gpt build_model(const options& o)
{
    try {
        return gpt(model_options(o));
    } catch (const std::bad_alloc&) {
        throw out_of_memory("the model's parameters (stored as " + o.weights.value_or("fp32") + ")", "nothing yet");
    }
}

// The memory the model holds by category (bytes and bytes per parameter), and the process's
// peak resident memory (getrusage).
void print_memory(gpt& model, const gradient_accumulator& acc, std::size_t parameters)
{
    const memory_usage m = memory_of(model, acc);
    const double n = double(parameters);
    auto line = [&](const char* what, double bytes) {
        std::printf("memory %-16s %12.0f bytes %9.1f MB %7.2f bytes/parameter\n", what, bytes, bytes / 1e6, bytes / n);
    };
    line("parameters", double(m.parameters));
    line("optimizer state", double(m.optimizer_state));
    line("gradients", double(m.gradients));
    line("activations", double(m.activations));
    line("buffers", double(m.buffers));
    line("total", double(m.total()));
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    line("peak resident", double(u.ru_maxrss) * 1024.0);  // ru_maxrss is in KiB on Linux
}

// Everything that decides the bits of a run (not --steps, --threads, logging or sampling).
std::string run_configuration(const options& o, const text_corpus& corpus)
{
    std::vector<std::uint8_t> text = corpus.train;
    text.insert(text.end(), corpus.validation.begin(), corpus.validation.end());
    experiment::configuration c("tiny_gpt 1");
    c.add("T", std::to_string(o.context)).add("C", std::to_string(o.channels)).add("H", std::to_string(o.heads));
    c.add("L", std::to_string(o.layers)).add("batch", std::to_string(o.batch)).add("seq", std::to_string(o.seq));
    c.add("lr", experiment::fmt("%.9g", double(o.lr))).add("seed", std::to_string(o.seed));
    c.add("backward", o.backward.value_or("fp32")).add("weights", o.weights.value_or("fp32"));
    c.add("moments", o.moments.value_or("fp32")).add("update", o.update);
    if (o.clip_grad_norm > 0.0f) c.add("clip_grad_norm", experiment::fmt("%.9g", double(o.clip_grad_norm)));
    if (o.accumulate > 1) c.add("accumulate", std::to_string(o.accumulate) + " " + o.accumulator);
    if (o.shards > 1) c.add("shards", std::to_string(o.shards));
    if (o.exchange != "fp32") c.add("exchange", o.exchange);
    c.add("data", std::to_string(text.size()) + " bytes, fnv1a " + experiment::hex64(experiment::fnv1a(text)));
    return c.text();
}

// What the shards' exchange costs per step (docs/distributed.md), for process 0 to print.
std::string exchange_cost(const options& o, std::size_t processes, std::size_t parameters)
{
    const std::size_t gradient = 4 * parameters,
                      sent = exchange_bytes(*exchange_format_of(o.exchange), o.shards, processes, parameters);
    return "exchange: " + std::to_string(o.shards) + " shards over " + std::to_string(processes) + " process(es), " +
           o.exchange + ": the gradients' exchange sends " + std::to_string(sent) +
           " bytes per step, all processes together (gradient " + std::to_string(gradient) +
           " bytes); an FP32 ring MPI_Allreduce sends " + std::to_string(2 * (processes - 1) * gradient);
}

int run(const options& o, communicator& comm)
{
    const bool first_process = comm.rank() == 0;
    experiment::require_shards_fit_processes(o.shards, comm, "--batch");
    // Before training, so that a path that cannot be written fails in a second, not after the run.
    if (!o.dump_state.empty()) experiment::create_parent_directory(o.dump_state);
    text_corpus corpus;
    if (std::filesystem::exists(o.data) || o.dump_state.empty()) {
        corpus = experiment::load_corpus(o.data);
    } else {
        std::printf("note: %s not found, so the state is of random bytes (%s)\n", o.data.c_str(), jargon_file_install_hint);
        std::vector<std::uint32_t> w(1 << 16);
        fewbits::fill_random_words(fewbits::stream{o.seed}, w);
        for (std::uint32_t x : w) corpus.train.push_back(static_cast<std::uint8_t>(x));
        corpus.validation = corpus.train;
    }
    gpt model = build_model(o);
    adamw_optimizer opt;
    opt.options.lr = o.lr;
    opt.options.weight_decay = 0.0f;
    opt.update = experiment::parse_rounding(o.update);
    if (o.moments) opt.moments = *o.moments == "bf16" ? moment_format::bf16 : moment_format::fp16;
    std::size_t parameters = 0;
    for (parameter* p : model.parameters()) parameters += p->size();
    lm_step_options step_options;
    step_options.timing = o.update_in_backward ? update_timing::in_backward : update_timing::after_backward;
    step_options.clip_grad_norm = o.clip_grad_norm;
    step_options.accumulate = o.accumulate;
    step_options.shards = o.shards;
    step_options.exchange = *exchange_format_of(o.exchange);
    gradient_accumulator accumulator(o.accumulator == "bf16" ? accumulator_format::bf16_sr : accumulator_format::fp32);
    std::printf("tiny_gpt: T %zu, C %zu, H %zu, L %zu, %zu parameters; batch %zu x %zu bytes, %llu steps, lr %g; "
                "%zu training and %zu validation bytes; backward %s, weights %s, moments %s, update %s; %u thread(s); %zu shard(s) over %zu process(es)\n",
                o.context, o.channels, o.heads, o.layers, parameters, o.batch, o.seq,
                static_cast<unsigned long long>(o.steps), double(o.lr), corpus.train.size(), corpus.validation.size(),
                o.backward ? o.backward->c_str() : "fp32", o.weights ? o.weights->c_str() : "fp32",
                o.moments ? o.moments->c_str() : "fp32", o.update.c_str(), o.threads, o.shards, comm.size());
    run_state state;
    state.configuration = run_configuration(o, corpus);
    std::uint64_t first = 0;
    if (!o.checkpoint.resume.empty()) {
        const run_state saved = load_checkpoint(o.checkpoint.resume, model.parameters(), {"step"});
        experiment::require_configuration(o.checkpoint.resume, saved.configuration, state.configuration);
        first = saved.counter("step");
        if (first > o.steps)
            throw checkpoint_error("fewbits: " + o.checkpoint.resume + ": the checkpoint is at step " +
                                   std::to_string(first) + ", past --steps " + std::to_string(o.steps));
        std::printf("resumed from %s at step %llu\n", o.checkpoint.resume.c_str(), static_cast<unsigned long long>(first));
    }
    const std::uint64_t checkpoint_every = o.checkpoint.every > 0 ? o.checkpoint.every : o.log_every;
    auto save = [&](std::uint64_t steps_done) {
        state.counters["step"] = steps_done;
        if (o.checkpoint.save.empty() || !first_process) return;
        try {
            save_checkpoint(o.checkpoint.save, model.parameters(), state);
        } catch (const std::bad_alloc&) {
            throw out_of_memory("the checkpoint of step " + std::to_string(steps_done) + " (" + o.checkpoint.save + ")",
                                memory_held(model, accumulator));
        }
    };
    token_batch b;
    experiment::progress progress(static_cast<double>(o.steps - first));
    pass_context ctx;
    ctx.seed = o.seed;
    ctx.threads = o.threads;
    double train_loss = 0.0;
    for (std::uint64_t step = first; step < o.steps; ++step) {
        ctx.step = step;
        sample_windows(corpus.train, o.batch * o.accumulate, o.seq, o.seed, step, b);
        double loss = 0.0;
        try {
            loss = lm_train_step(model, b, opt, ctx, step_options, &accumulator, &comm);
        } catch (const training_error&) {
            std::fprintf(stderr, "tiny_gpt: non-finite loss at step %llu\n", static_cast<unsigned long long>(step));
            return 1;
        } catch (const std::bad_alloc&) {
            throw out_of_memory("training step " + std::to_string(step + 1) + ": " + step_needs(o, opt, parameters),
                                memory_held(model, accumulator));
        }
        train_loss = loss;
        progress.done(1.0);
        if (first_process && ((step + 1) % o.log_every == 0 || step + 1 == o.steps)) {
            const double val = experiment::lm_validation_loss(model, corpus.validation, o.batch, o.seq, o.eval_batches, o.threads);
            std::printf("step %6llu  train loss %.4f  val loss %.4f (%.3f bits/byte)  %s elapsed, ~%s left\n",
                        static_cast<unsigned long long>(step + 1), train_loss, val, val / std::log(2.0),
                        experiment::duration(progress.elapsed()).c_str(), progress.eta().c_str());
            std::fflush(stdout);
        }
        if ((step + 1) % checkpoint_every == 0 && step + 1 < o.steps) save(step + 1);
    }
    save(o.steps);
    if (!o.dump_state.empty() && first_process) {
        ctx.step = o.steps;
        sample_windows(corpus.train, o.batch, o.seq, o.seed, o.steps, b);
        lm_state s;
        s.shape = {static_cast<std::uint32_t>(256), static_cast<std::uint32_t>(o.context),
                   static_cast<std::uint32_t>(o.channels), static_cast<std::uint32_t>(o.heads),
                   static_cast<std::uint32_t>(o.layers)};
        s.batch = static_cast<std::uint32_t>(o.batch);
        s.length = static_cast<std::uint32_t>(o.seq);
        s.loss = static_cast<float>(model.compute_gradients(b.inputs, b.targets, b.sequences, ctx));
        const tensor& logits = model.forward(b.inputs, b.sequences, ctx);
        s.logits.assign(logits.values().begin(), logits.values().end());
        s.inputs = b.inputs;
        s.targets = b.targets;
        for (parameter* p : model.parameters()) {
            const tensor value = p->value();
            s.parameters.insert(s.parameters.end(), value.values().begin(), value.values().end());
            s.gradients.insert(s.gradients.end(), p->grad().values().begin(), p->grad().values().end());
        }
        write_lm_state(o.dump_state, s);
        // Read it back: what an outside tool will see must be what was computed here.
        const lm_state back = read_lm_state(o.dump_state);
        if (back.parameters != s.parameters || back.gradients != s.gradients || back.logits != s.logits ||
            back.inputs != s.inputs || back.targets != s.targets || back.loss != s.loss)
            throw std::runtime_error(o.dump_state + ": reading the state back gave other values");
        std::printf("wrote the state of batch %llu to %s (loss %.6f)\n", static_cast<unsigned long long>(o.steps),
                    o.dump_state.c_str(), double(s.loss));
    }
    if (o.sample_bytes > 0 && first_process) std::printf("--- sample ---\n%s\n---\n", sample_text(model, o, o.sample_bytes).c_str());
    const std::uint64_t digest = state_digest(model.parameters(), state);
    experiment::require_same_digest(comm, digest);
    if (o.shards > 1) std::printf("%s\n", exchange_cost(o, comm.size(), parameters).c_str());
    std::printf("state digest %s\n", experiment::hex64(digest).c_str());
    if (first_process) print_memory(model, accumulator, parameters);
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return experiment::run_main_on_processes(argc, argv, print_usage, parse, run);
}
