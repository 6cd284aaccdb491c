// The byte-level GPT (gpt.hpp) checked like llm.c checks its trainer: against a state that
// PyTorch computed in double precision (scripts/gpt_reference.py -> tests/data/gpt_reference.bin:
// parameters, a batch, logits, loss, every gradient, and the losses of 10 AdamW steps), with
// stated tolerances; plus 1 vs 2 threads (same bits) and bad input.
#include "fewbits_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <fewbits/training.hpp>
#include <fewbits/models/gpt.hpp>
#include <fewbits/io/lm_state.hpp>
#include <fewbits/data/text_batch.hpp>

namespace {

using namespace fewbits::training;
using namespace fewbits::io;

const std::string reference_path = std::string(FEWBITS_TEST_DATA_DIR) + "/gpt_reference.bin";

gpt_options micro_options(const lm_state& s)
{
    gpt_options o;
    o.vocab = s.shape.vocab;
    o.context = s.shape.context;
    o.channels = s.shape.channels;
    o.heads = s.shape.heads;
    o.layers = s.shape.layers;
    return o;
}

// Sets the model's parameters from the state's, in the pinned order.
void load_parameters(gpt& model, const lm_state& s)
{
    std::size_t at = 0;
    for (parameter* p : model.parameters()) {
        REQUIRE(at + p->size() <= s.parameters.size());
        p->assign(std::span<const float>(s.parameters).subspan(at, p->size()));
        at += p->size();
    }
    REQUIRE(at == s.parameters.size());
}

double max_abs(std::span<const float> v)
{
    double m = 0.0;
    for (float x : v) m = std::max(m, std::fabs(double(x)));
    return m;
}

double max_abs_difference(std::span<const float> a, std::span<const float> b)
{
    double m = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
}

// Thread counts for the 1 vs N checks (emulated builds stay on one thread: see test_sgd.cpp).
unsigned threads(unsigned n) { return std::getenv("FEWBITS_TEST_ONE_THREAD") != nullptr ? 1u : n; }

// The pinned model written out once more, independently of the library, in double: the loss
// as a function of the flat parameters (pinned order), for finite differences.
double reference_loss(const std::vector<double>& p, const gpt_options& o, const std::vector<std::int32_t>& inputs,
                      const std::vector<std::int32_t>& targets, std::size_t batch)
{
    const std::size_t V = o.vocab, T = o.context, C = o.channels, H = o.heads, L = o.layers, hs = C / H;
    const std::size_t n = inputs.size() / batch;
    std::size_t at = 0;
    auto take = [&](std::size_t count) {
        const double* q = p.data() + at;
        at += count;
        return q;
    };
    const double* wte = take(V * C);
    const double* wpe = take(T * C);
    auto ln = [&](const std::vector<double>& x, const double* w, const double* b) {
        std::vector<double> y(x.size());
        for (std::size_t r = 0; r < x.size() / C; ++r) {
            double mean = 0, var = 0;
            for (std::size_t j = 0; j < C; ++j) mean += x[r * C + j] / double(C);
            for (std::size_t j = 0; j < C; ++j) var += (x[r * C + j] - mean) * (x[r * C + j] - mean) / double(C);
            for (std::size_t j = 0; j < C; ++j) y[r * C + j] = (x[r * C + j] - mean) / std::sqrt(var + 1e-5) * w[j] + b[j];
        }
        return y;
    };
    auto matmul = [](const std::vector<double>& x, std::size_t in, const double* w, const double* b, std::size_t out) {
        const std::size_t rows = x.size() / in;
        std::vector<double> y(rows * out);
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t j = 0; j < out; ++j) {
                double acc = b[j];
                for (std::size_t i = 0; i < in; ++i) acc += x[r * in + i] * w[i * out + j];
                y[r * out + j] = acc;
            }
        return y;
    };
    const std::size_t rows = inputs.size();
    std::vector<double> x(rows * C);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < C; ++j) x[r * C + j] = wte[std::size_t(inputs[r]) * C + j] + wpe[(r % n) * C + j];
    for (std::size_t l = 0; l < L; ++l) {
        const double *ln1w = take(C), *ln1b = take(C), *qkvw = take(C * 3 * C), *qkvb = take(3 * C), *pw = take(C * C),
                     *pb = take(C), *ln2w = take(C), *ln2b = take(C), *fw = take(C * 4 * C), *fb = take(4 * C),
                     *fpw = take(4 * C * C), *fpb = take(C);
        const auto qkv = matmul(ln(x, ln1w, ln1b), C, qkvw, qkvb, 3 * C);
        std::vector<double> y(rows * C, 0.0);
        for (std::size_t g = 0; g < batch; ++g)
            for (std::size_t h = 0; h < H; ++h)
                for (std::size_t t = 0; t < n; ++t) {
                    std::vector<double> a(t + 1);
                    double m = -1e300, sum = 0;
                    for (std::size_t s = 0; s <= t; ++s) {
                        double d = 0;
                        for (std::size_t j = 0; j < hs; ++j)
                            d += qkv[(g * n + t) * 3 * C + h * hs + j] * qkv[(g * n + s) * 3 * C + C + h * hs + j];
                        a[s] = d / std::sqrt(double(hs));
                        m = std::max(m, a[s]);
                    }
                    for (auto& v : a) sum += (v = std::exp(v - m));
                    for (std::size_t j = 0; j < hs; ++j)
                        for (std::size_t s = 0; s <= t; ++s)
                            y[(g * n + t) * C + h * hs + j] += a[s] / sum * qkv[(g * n + s) * 3 * C + 2 * C + h * hs + j];
                }
        const auto proj = matmul(y, C, pw, pb, C);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
        auto u = matmul(ln(x, ln2w, ln2b), C, fw, fb, 4 * C);
        for (auto& v : u) v = 0.5 * v * (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
        const auto mlp = matmul(u, 4 * C, fpw, fpb, C);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += mlp[i];
    }
    const double *lnfw = take(C), *lnfb = take(C);
    const auto hf = ln(x, lnfw, lnfb);
    double loss = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        std::vector<double> z(V);
        double m = -1e300, sum = 0;
        for (std::size_t v = 0; v < V; ++v) {
            for (std::size_t j = 0; j < C; ++j) z[v] += hf[r * C + j] * wte[v * C + j];
            m = std::max(m, z[v]);
        }
        for (double v : z) sum += std::exp(v - m);
        loss += m + std::log(sum) - z[std::size_t(targets[r])];
    }
    return loss / double(rows);
}

}  // namespace

TEST_CASE("gpt: every parameter tensor's gradient matches finite differences of the model in double")
{
    const lm_state s = read_lm_state(reference_path);
    gpt_options o = micro_options(s);
    o.init_seed = 9;  // the model's own initialisation, not the reference's parameters
    gpt model(o);
    pass_context ctx;
    (void)model.compute_gradients(s.inputs, s.targets, s.batch, ctx);
    std::vector<double> flat;
    for (parameter* p : model.parameters()) {
        const tensor value = p->value();
        for (float v : value.values()) flat.push_back(v);
    }
    const auto& names = model.parameter_names();
    const auto params = model.parameters();
    std::size_t offset = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto g = params[i]->grad().values();
        // The entry with the largest gradient and two more spread over the tensor.
        const std::size_t largest = static_cast<std::size_t>(
            std::max_element(g.begin(), g.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); }) - g.begin());
        for (std::size_t e : {largest, g.size() / 3, g.size() - 1}) {
            const double h = 1e-5;
            std::vector<double> plus = flat, minus = flat;
            plus[offset + e] += h;
            minus[offset + e] -= h;
            const double fd = (reference_loss(plus, o, s.inputs, s.targets, s.batch) -
                               reference_loss(minus, o, s.inputs, s.targets, s.batch)) / (2 * h);
            INFO(names[i] << "[" << e << "]: analytic " << g[e] << ", finite difference " << fd);
            // central differences in double: truncation and cancellation near 1e-9; the
            // analytic gradient is float arithmetic: 1e-5 of the tensor's largest gradient.
            CHECK(std::fabs(g[e] - fd) <= 1e-5 * std::fabs(g[largest]) + 1e-8);
        }
        offset += g.size();
    }
}


TEST_CASE("gpt: logits, loss and every gradient match PyTorch's float64 reference")
{
    const lm_state s = read_lm_state(reference_path);
    gpt model(micro_options(s));
    load_parameters(model, s);
    pass_context ctx;
    const double loss = model.compute_gradients(s.inputs, s.targets, s.batch, ctx);
    const tensor& logits = model.forward(s.inputs, s.batch, ctx);  // forward again: the logits of these parameters
    std::printf("gpt vs PyTorch: loss %.9f vs %.9f\n", loss, double(s.loss));
    // float arithmetic against a float64 reference rounded once: the loss within 1e-6, logits
    // and gradients within 1e-5 of each tensor's largest magnitude (measured: about 1e-7).
    CHECK(std::fabs(loss - s.loss) <= 1e-6 * s.loss);
    const double logit_error = max_abs_difference(logits.values(), s.logits);
    INFO("logits: max error " << logit_error << " of max " << max_abs(s.logits));
    CHECK(logit_error <= 1e-5 * max_abs(s.logits));

    std::size_t at = 0;
    const auto& names = model.parameter_names();
    const auto params = model.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
        const std::span<const float> reference = std::span<const float>(s.gradients).subspan(at, params[i]->size());
        at += params[i]->size();
        const double error = max_abs_difference(params[i]->grad().values(), reference);
        const double scale = max_abs(reference);
        std::printf("  %-14s grad max |ref| %.3e, max error %.3e\n", names[i].c_str(), scale, error);
        INFO(names[i] << ": max error " << error << " of max " << scale);
        CHECK(error <= 1e-5 * scale);
    }
}

TEST_CASE("gpt: 10 AdamW steps follow PyTorch's loss trajectory")
{
    const lm_state s = read_lm_state(reference_path);
    std::ifstream f(reference_path + ".adamw");
    REQUIRE(f);
    std::vector<double> expected;
    for (std::string line; std::getline(f, line);)
        if (!line.empty() && line[0] != '#') expected.push_back(std::stod(line));
    REQUIRE(expected.size() == 10);
    gpt model(micro_options(s));
    load_parameters(model, s);
    adamw_optimizer opt;
    opt.options.lr = 1e-2f;
    opt.options.weight_decay = 0.01f;  // betas and eps: PyTorch's defaults, as the script
    pass_context ctx;
    for (std::size_t step = 0; step < expected.size(); ++step) {
        ctx.step = step;
        const double loss = model.compute_gradients(s.inputs, s.targets, s.batch, ctx);
        std::printf("AdamW step %zu: loss %.7f, PyTorch %.7f\n", step, loss, expected[step]);
        CHECK(std::fabs(loss - expected[step]) <= 1e-6 * expected[step]);  // measured: 1e-7
        for (parameter* p : model.parameters()) opt.step(*p, ctx.update_stream(*p));
    }
}

TEST_CASE("gpt: 1 and 2 threads give the same bits, with and without SR in the backward pass")
{
    const lm_state s = read_lm_state(reference_path);
    for (bool rounded : {false, true}) {
        gpt_options o = micro_options(s);
        if (rounded) {
            const quantizer e4m3 = quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic},
                                                                         scaling::power_of_two);
            o.quantization = linear_quantization::backward_only(e4m3);
            o.attention_backward = e4m3;
        }
        gpt one(o), two(o);
        pass_context c1, c2;
        c1.seed = c2.seed = 5;
        c2.threads = threads(2);
        const double l1 = one.compute_gradients(s.inputs, s.targets, s.batch, c1);
        const double l2 = two.compute_gradients(s.inputs, s.targets, s.batch, c2);
        CHECK(l1 == l2);
        const auto p1 = one.parameters(), p2 = two.parameters();
        for (std::size_t i = 0; i < p1.size(); ++i) CHECK(p1[i]->grad() == p2[i]->grad());
        if (rounded) {  // the rounding is on: the gradient differs from the exact one
            gpt exact(micro_options(s));
            (void)exact.compute_gradients(s.inputs, s.targets, s.batch, pass_context{});
            CHECK_FALSE(exact.parameters()[2]->grad() == p1[2]->grad());
        }
    }
}

TEST_CASE("gpt: bad shapes and tokens throw std::invalid_argument naming them")
{
    gpt_options o;
    o.context = 8;
    o.channels = 16;
    o.heads = 3;
    CHECK_THROWS_AS(gpt(o), std::invalid_argument);
    o.heads = 2;
    gpt model(o);
    const std::vector<std::int32_t> ok(16, 65), bad_token = {65, 300}, too_long(18, 65);
    pass_context ctx;
    auto message = [](auto&& f) {
        try {
            f();
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no exception");
    };
    CHECK(message([&] { (void)model.forward(bad_token, 1, ctx); }).find("tokens[1] = 300 is outside 0..255") !=
          std::string::npos);
    CHECK(message([&] { (void)model.forward(too_long, 1, ctx); }).find("exceed the context (8)") != std::string::npos);
    CHECK(message([&] { (void)model.forward(ok, 3, ctx); }).find("equal non-empty sequences") != std::string::npos);
    CHECK(message([&] { (void)model.compute_gradients(ok, bad_token, 2, ctx); }).find("targets.size()") !=
          std::string::npos);
}

TEST_CASE("gpt: per-sequence backward SR noise falls as 1/b, and rounded weights leave a floor")
{
    // A pool of 64 sequences of 8 bytes from the model's own initial state (init seed 3).
    const lm_state s = read_lm_state(reference_path);
    std::vector<std::uint8_t> text(4096);
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::uint8_t>(s.inputs[i % s.inputs.size()] + i % 7);
    token_batch pool;
    sample_windows(text, 64, 8, 11, 0, pool);
    variance_options vo;
    vo.batch_sizes = {1, 2, 4, 8, 16, 32};
    vo.draws = 8;
    vo.min_samples = 64;
    const quantizer e4m3 = quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two);

    gpt_options backward = micro_options(s);
    backward.init_seed = 3;
    backward.quantization = linear_quantization::backward_only(e4m3);
    backward.attention_backward = e4m3;
    gpt bm(backward);
    const auto bp = gradient_variance(bm, pool, vo, threads(2));
    const inverse_batch_fit bf = fit_inverse_batch(bp);
    std::printf("gpt 1/b law, e4m3 SR backward: slope %.3f, a %.3e, c %.3e\n", bf.slope, bf.a, bf.c);
    CHECK(bf.slope < -0.9);
    CHECK(bf.slope > -1.1);

    gpt_options weights = micro_options(s);
    weights.init_seed = 3;
    weights.quantization.forward_weight = e4m3;  // one draw of every weight, shared by the batch
    gpt wm(weights);
    const auto wp = gradient_variance(wm, pool, vo, threads(2));
    const inverse_batch_fit wf = fit_inverse_batch(wp);
    std::printf("gpt weights, e4m3 SR forward: slope %.3f, a %.3e, c %.3e\n", wf.slope, wf.a, wf.c);
    // The shared draw does not average out: a floor c > 0 that is a sizeable part of the
    // variance even at the largest batch. (Each sequence also sees the weight error through its
    // own activations, an a/b part, so the curve still falls at small b: measured slope -0.84,
    // as on the MLP.)
    const double b_max = static_cast<double>(vo.batch_sizes.back());
    CHECK(wf.c > 0.0);
    CHECK(wf.c / (wf.a / b_max + wf.c) > 0.25);  // measured: 0.46 (backward SR: 0.12)
}

namespace {

// Every stored byte of the model's parameters and moments.
std::vector<std::byte> state_bytes(gpt& model)
{
    std::vector<std::byte> out;
    for (parameter* p : model.parameters()) {
        const auto raw = p->store().raw();
        out.insert(out.end(), raw.begin(), raw.end());
        p->moments.visit([&](auto m, auto v) {
            const auto mb = std::as_bytes(m), vb = std::as_bytes(v);
            out.insert(out.end(), mb.begin(), mb.end());
            out.insert(out.end(), vb.begin(), vb.end());
        });
    }
    return out;
}

gpt_options small_gpt(bool low_precision)
{
    gpt_options o;
    o.context = 8;
    o.channels = 16;
    o.heads = 2;
    o.layers = 2;
    if (low_precision) {
        const quantizer e4m3 = quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two);
        o.quantization = linear_quantization::backward_only(e4m3);
        o.attention_backward = e4m3;
        o.weights = weight_storage::stored_as<fewbits::float8_e4m3fn>();
    }
    return o;
}

}  // namespace

TEST_CASE("gpt: updates in the backward pass give the bits of updates after it, and hold no gradients")
{
    for (bool low : {false, true}) {
        INFO((low ? "e4m3 weights, bf16 moments, e4m3 SR backward" : "fp32"));
        gpt buffered(small_gpt(low)), lean(small_gpt(low));
        adamw_optimizer opt;
        opt.options.lr = 0.01f;
        if (low) {
            opt.moments = moment_format::bf16;
            opt.update.mode = fewbits::rounding::stochastic;
        }
        lm_step_options in_backward;
        in_backward.timing = update_timing::in_backward;
        const std::string text = "The quick brown fox jumps over the lazy dog, again and again and again.";
        const std::vector<std::uint8_t> bytes(text.begin(), text.end());
        token_batch b;
        for (std::uint64_t step = 0; step < 3; ++step) {
            pass_context ctx;
            ctx.seed = 9;
            ctx.step = step;
            sample_windows(bytes, 3, 8, 4, step, b);
            const double l1 = lm_train_step(buffered, b, opt, ctx);
            const double l2 = lm_train_step(lean, b, opt, ctx, in_backward);
            CHECK(l1 == l2);
        }
        CHECK(state_bytes(buffered) == state_bytes(lean));
        const memory_usage held = parameter_memory(lean.parameters());
        CHECK(held.gradients == 0);
        CHECK(parameter_memory(buffered.parameters()).gradients > 0);
        std::size_t n = 0;
        for (parameter* p : lean.parameters()) n += p->size();
        CHECK(held.parameters == n * (low ? 1 : 4));
        CHECK(held.optimizer_state == n * 2 * (low ? 2 : 4));
        CHECK(lean.activation_bytes() > 0);
    }
}

TEST_CASE("gpt: clipping the global gradient norm is refused with updates in the backward pass")
{
    lm_step_options s;
    s.timing = update_timing::in_backward;
    s.clip_grad_norm = 1.0f;
    try {
        s.validate();
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("clip_grad_norm (1)") != std::string::npos);
        CHECK(std::string(e.what()).find("after_backward") != std::string::npos);
    }
    s.timing = update_timing::after_backward;
    CHECK_NOTHROW(s.validate());
    s.clip_grad_norm = -1.0f;
    CHECK_THROWS_AS(s.validate(), std::invalid_argument);
}

TEST_CASE("gpt: clip_grad_norm scales every gradient to the global norm asked for, and no further")
{
    gpt model(small_gpt(false));
    const std::vector<std::int32_t> in = {65, 66, 67, 68, 69, 70, 71, 72}, tg = {66, 67, 68, 69, 70, 71, 72, 73};
    (void)model.compute_gradients(in, tg, 1, pass_context{});
    const auto params = model.parameters();
    const double before = global_grad_norm(params);
    REQUIRE(before > 0.1);
    CHECK(clip_grad_norm(params, 10.0f * static_cast<float>(before)) == before);
    CHECK(global_grad_norm(params) == before);  // below the limit: untouched
    (void)clip_grad_norm(params, 0.1f);
    CHECK(std::abs(global_grad_norm(params) - 0.1) < 1e-6);
    CHECK_THROWS_AS(clip_grad_norm(params, 0.0f), std::invalid_argument);
    params[3]->release_grad();
    try {
        (void)global_grad_norm(params);
        FAIL("no exception");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find(params[3]->name()) != std::string::npos);
    }
}

namespace {

// An "optimizer" that records the gradient each parameter has when it is stepped.
struct gradient_recorder {
    mutable std::vector<std::pair<const parameter*, std::vector<float>>> seen;
    void validate() const {}
    void step(parameter& p, const fewbits::stream&) const
    {
        seen.emplace_back(&p, std::vector<float>(p.grad().values().begin(), p.grad().values().end()));
    }
    // The recorded gradients in the order of params.
    std::vector<float> flat(const std::vector<parameter*>& params) const
    {
        std::vector<float> out;
        for (const parameter* p : params)
            for (const auto& [q, g] : seen)
                if (q == p) out.insert(out.end(), g.begin(), g.end());
        return out;
    }
};

token_batch four_sequences()
{
    const std::string text = "It is a truth universally acknowledged, that a single man in possession of a fortune";
    const std::vector<std::uint8_t> bytes(text.begin(), text.end());
    token_batch b;
    sample_windows(bytes, 4, 8, 3, 0, b);
    return b;
}

}  // namespace

TEST_CASE("gpt: 2 micro-batches summed in fp32 give the whole batch's gradient to a few float roundings")
{
    const token_batch b = four_sequences();
    gpt whole(small_gpt(false)), parts(small_gpt(false)), parts_lean(small_gpt(false));
    gradient_recorder r_whole, r_parts, r_lean;
    pass_context ctx;
    ctx.seed = 3;
    const double l_whole = lm_train_step(whole, b, r_whole, ctx);
    lm_step_options two;
    two.accumulate = 2;
    gradient_accumulator acc, acc_lean;
    const double l_parts = lm_train_step(parts, b, r_parts, ctx, two, &acc);
    CHECK(std::abs(l_parts - l_whole) < 1e-6);
    const auto g_whole = r_whole.flat(whole.parameters()), g_parts = r_parts.flat(parts.parameters());
    REQUIRE(g_whole.size() == g_parts.size());
    float scale = 0.0f;
    for (float g : g_whole) scale = std::max(scale, std::abs(g));
    std::size_t bad = 0;
    for (std::size_t i = 0; i < g_whole.size(); ++i) bad += !(std::abs(g_whole[i] - g_parts[i]) <= 2e-6f * scale);
    CHECK(bad == 0);
    CHECK(acc.bytes() == 4 * g_whole.size());
    // Updating in the backward pass of the last micro-batch changes no bit of the sums.
    two.timing = update_timing::in_backward;
    (void)lm_train_step(parts_lean, b, r_lean, ctx, two, &acc_lean);
    CHECK(r_lean.flat(parts_lean.parameters()) == g_parts);
    two.accumulate = 3;  // does not divide 4 sequences
    CHECK_THROWS_AS(lm_train_step(parts, b, r_parts, ctx, two, &acc), std::invalid_argument);
    two.accumulate = 2;
    CHECK_THROWS_AS(lm_train_step(parts, b, r_parts, ctx, two, nullptr), std::invalid_argument);
}

TEST_CASE("gpt: micro-batches round their rows with the whole batch's streams")
{
    // BF16 SR in the backward pass has no per-tensor scale, so every rounding of a micro-batch
    // is the one the whole batch makes: the sums differ from the whole batch's gradient only by
    // float roundings, far less than one draw of the rounding noise.
    gpt_options o = small_gpt(false);
    const quantizer bf16 = quantizer::to<fewbits::bfloat16>({fewbits::rounding::stochastic});
    o.quantization = linear_quantization::backward_only(bf16);
    o.attention_backward = bf16;
    const token_batch b = four_sequences();
    gpt whole(o), parts(o), exact(small_gpt(false));
    gradient_recorder r_whole, r_parts, r_exact;
    pass_context ctx;
    ctx.seed = 8;
    (void)lm_train_step(whole, b, r_whole, ctx);
    (void)lm_train_step(exact, b, r_exact, ctx);
    lm_step_options two;
    two.accumulate = 2;
    gradient_accumulator acc;
    (void)lm_train_step(parts, b, r_parts, ctx, two, &acc);
    const auto gw = r_whole.flat(whole.parameters()), gp = r_parts.flat(parts.parameters()),
               ge = r_exact.flat(exact.parameters());
    double d_parts = 0.0, d_noise = 0.0;
    for (std::size_t i = 0; i < gw.size(); ++i) {
        d_parts += std::abs(double(gw[i]) - gp[i]);
        d_noise += std::abs(double(gw[i]) - ge[i]);
    }
    INFO("|whole - micro-batches| " << d_parts << ", |whole - exact| " << d_noise);
    CHECK(d_noise > 0.0);
    CHECK(d_parts < 0.01 * d_noise);
}

TEST_CASE("gpt: a bf16 SR gradient accumulator is unbiased")
{
    // The same two micro-batches summed 400 times with fresh SR draws (the step's stream): the
    // mean of the sums approaches the fp32 sum as unbiased rounding noise averages out, which
    // round-to-nearest could not do (its error is fixed, up to half a bf16 step).
    const token_batch b = four_sequences();
    gpt model(small_gpt(false));
    lm_step_options two;
    two.accumulate = 2;
    gradient_accumulator exact_acc;
    gradient_recorder r_exact;
    pass_context ctx;
    (void)lm_train_step(model, b, r_exact, ctx, two, &exact_acc);
    const auto exact = r_exact.flat(model.parameters());
    // The first micro-batch's gradient g1: the first SR rounding is of -g1 / 2.
    token_batch first = b;
    first.sequences = 2;
    first.inputs.resize(b.inputs.size() / 2);
    first.targets.resize(b.targets.size() / 2);
    gradient_recorder r_first;
    (void)lm_train_step(model, first, r_first, ctx);
    const auto g1 = r_first.flat(model.parameters());
    const int draws = 400;
    std::vector<double> mean(exact.size(), 0.0);
    gradient_accumulator acc(accumulator_format::bf16_sr);
    CHECK(acc.format() == accumulator_format::bf16_sr);
    std::size_t off_grid = 0;
    for (int d = 0; d < draws; ++d) {
        gradient_recorder r;
        ctx.step = static_cast<std::uint64_t>(d);
        (void)lm_train_step(model, b, r, ctx, two, &acc);
        const auto g = r.flat(model.parameters());
        for (std::size_t i = 0; i < g.size(); ++i) {
            mean[i] += double(g[i]) / draws;
            off_grid += g[i] != exact[i];
        }
    }
    CHECK(acc.bytes() == 2 * exact.size());
    CHECK(off_grid > 0);  // the sums are rounded
    // Each value's error of the mean over the standard deviation SR may have: two roundings,
    // of -g1 / 2 and of the sum, each of variance at most (its bf16 step)^2 / 4. Unbiased SR
    // makes the normalised error zero-mean with a variance of at most 1 / 400; round-to-nearest
    // would leave errors of about a third.
    auto step_at = [](double v) { return std::ldexp(1.0, std::ilogb(v) - 7); };  // bf16: 8 bits
    double sum = 0.0, sum_sq = 0.0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) {
        const float x = exact[i];
        if (!(std::abs(x) > 1e-6f) || !(std::abs(g1[i]) > 1e-6f)) continue;
        const double s1 = step_at(0.5 * g1[i]), s2 = step_at(x);
        const double e = (mean[i] - x) / std::sqrt((s1 * s1 + s2 * s2) / 4.0);
        sum += e;
        sum_sq += e * e;
        ++n;
    }
    REQUIRE(n > 1000);
    const double bound = 1.0 / draws;
    INFO(n << " values: mean error " << sum / double(n) << ", mean squared error " << sum_sq / double(n)
           << " (bound " << bound << ")");
    CHECK(sum_sq / double(n) <= 2.0 * bound);
    CHECK(std::abs(sum / double(n)) <= 6.0 * std::sqrt(bound / double(n)));
}
