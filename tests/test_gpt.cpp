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
