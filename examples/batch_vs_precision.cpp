// Batch size against precision: the "main job" of fewbits (see paper.md).
//  1. For a fixed model state, the variance of the quantized mini-batch gradient around the
//     exact FP32 one, normalised by the mean per-sample squared gradient norm, for batch sizes
//     4..256 and several formats with per-sample stochastic rounding in the backward pass. The
//     theory: C u^2 / b (u = 2^-p, p = mantissa bits + 1), so slope -1 and a / u^2 about constant.
//  2. A short training run: FP32, E4M3 SR backward, E4M3 round-to-nearest backward.
// Synthetic Gaussian-mixture teacher by default (a few seconds); --data fashion-mnist uses the
// Debian package dataset-fashion-mnist when it is installed.
//
// Usage: batch_vs_precision [--draws N] [--epochs N] [--seed S] [--data synthetic|fashion-mnist]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fewbits/sgd.hpp>
#if FEWBITS_EXAMPLE_HAVE_ZLIB
#include <fewbits/sgd/fashion_mnist.hpp>
#endif

namespace {

using namespace fewbits::sgd;
using fewbits::policy;
using fewbits::rounding;

struct options {
    std::size_t draws = 16;
    std::size_t epochs = 3;
    std::uint64_t seed = 1;
    bool fashion_mnist = false;
};

int usage(const char* prog, const std::string& error)
{
    if (!error.empty()) std::fprintf(stderr, "%s: %s\n", prog, error.c_str());
    std::fprintf(error.empty() ? stdout : stderr,
                 "usage: %s [--draws N (2..10000, default 16)] [--epochs N (1..100, default 3)] [--seed S]\n"
                 "          [--data synthetic|fashion-mnist (default synthetic)]\n",
                 prog);
    return error.empty() ? 0 : 2;
}

bool parse_count(const char* text, std::uint64_t lo, std::uint64_t hi, std::uint64_t& out)
{
    if (text == nullptr || *text == '\0' || *text == '-') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
    out = v;
    return true;
}

struct format_row {
    quantizer q;
    int mantissa_bits;
};

}  // namespace

int main(int argc, char** argv)
{
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        std::uint64_t v = 0;
        if (a == "--help" || a == "-h") return usage(argv[0], "");
        if (a == "--draws") {
            if (!parse_count(value, 2, 10000, v)) return usage(argv[0], "--draws needs an integer in 2..10000");
            opt.draws = v, ++i;
        } else if (a == "--epochs") {
            if (!parse_count(value, 1, 100, v)) return usage(argv[0], "--epochs needs an integer in 1..100");
            opt.epochs = v, ++i;
        } else if (a == "--seed") {
            if (!parse_count(value, 0, UINT64_MAX, v)) return usage(argv[0], "--seed needs a non-negative integer");
            opt.seed = v, ++i;
        } else if (a == "--data") {
            if (value == nullptr || (std::strcmp(value, "synthetic") != 0 && std::strcmp(value, "fashion-mnist") != 0))
                return usage(argv[0], "--data needs synthetic or fashion-mnist");
            opt.fashion_mnist = std::strcmp(value, "fashion-mnist") == 0, ++i;
        } else {
            return usage(argv[0], "unknown option '" + a + "'");
        }
    }

    dataset train, test;
    std::vector<std::size_t> sizes = {32, 64, 4};
    if (opt.fashion_mnist) {
#if FEWBITS_EXAMPLE_HAVE_ZLIB
        if (fashion_mnist_available()) {
            train = load_fashion_mnist(fashion_mnist_split::train);
            test = load_fashion_mnist(fashion_mnist_split::test);
            sizes = {784, 128, 10};
            std::printf("data: Fashion-MNIST (%zu train, %zu test), MLP 784-128-10\n", train.size(), test.size());
        } else {
            std::printf("Fashion-MNIST not found in %s: %s.\nFalling back to the synthetic teacher.\n",
                        fashion_mnist_default_dir, fashion_mnist_install_hint);
        }
#else
        std::printf("this build has no zlib, so no Fashion-MNIST loader; falling back to the synthetic teacher.\n");
#endif
    }
    if (train.size() == 0) {
        const dataset all = make_gaussian_mixture(6144, 32, 4, 3.0f, opt.seed);
        std::vector<std::size_t> a(4096), b(2048);
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = i;
        for (std::size_t i = 0; i < b.size(); ++i) b[i] = 4096 + i;
        batch ba, bb;
        gather(all, a, ba);
        gather(all, b, bb);
        train.classes = test.classes = all.classes;
        train.inputs = ba.x, train.labels = ba.labels;
        test.inputs = bb.x, test.labels = bb.labels;
        std::printf("data: synthetic Gaussian mixture, 32 features, 4 classes (%zu train, %zu test), MLP 32-64-4\n",
                    train.size(), test.size());
    }

    // --- 1. Variance against batch size -------------------------------------------------------
    const policy sr{rounding::stochastic};
    const std::vector<format_row> formats = {
        {quantizer::to<fewbits::bfloat16>(sr), 7},
        {quantizer::to<fewbits::float16>(sr, scaling::power_of_two), 10},
        {quantizer::to<fewbits::float8_e4m3fn>(sr, scaling::power_of_two), 3},
        {quantizer::to<fewbits::float8_e5m2>(sr, scaling::power_of_two), 2},
        {quantizer::to<fewbits::float6_e3m2fn>(sr, scaling::power_of_two), 2},
    };
    variance_options vo;
    vo.draws = opt.draws;
    vo.seed = opt.seed;
    // The model state: one FP32 epoch from the initial weights (diagnostics use a subset).
    const std::size_t diag_n = std::min<std::size_t>(train.size(), 1024);
    dataset diag;
    {
        std::vector<std::size_t> idx(diag_n);
        for (std::size_t i = 0; i < diag_n; ++i) idx[i] = i;
        batch b;
        gather(train, idx, b);
        diag.classes = train.classes, diag.inputs = b.x, diag.labels = b.labels;
    }
    mlp_options base;
    base.sizes = sizes;
    base.seed = opt.seed;
    mlp warm(base);
    sgd_options s;
    s.lr = 0.05f;
    train_epoch(warm, diag, s, 32, opt.seed, 0);

    std::printf("\nNormalised backward quantization variance E||g~_B - g_B||^2 / mean_i ||g_i||^2\n"
                "(per-sample SR of x and dy; %zu draws per point; sampling variance for comparison)\n\n  b   ",
                opt.draws);
    for (const auto& f : formats) std::printf("%16s", f.q.name().c_str());
    std::printf("      sampling\n");
    std::vector<std::vector<variance_point>> results;
    for (const auto& f : formats) {
        linear_quantization lq;
        lq.backward_input = lq.output_grad_for_weight = lq.output_grad_for_input = f.q;
        mlp m = warm;
        for (auto& layer : m.layers()) layer.set_quantization(lq);
        results.push_back(gradient_variance(m, diag, vo));
    }
    for (std::size_t k = 0; k < vo.batch_sizes.size(); ++k) {
        std::printf("%4zu ", vo.batch_sizes[k]);
        for (const auto& r : results) std::printf("%16.3e", r[k].quantization_normalised);
        std::printf("%14.3e\n", results[0][k].sampling_normalised);
    }
    std::printf("\nFit var(b) = a/b + c and log-log slope (theory: slope -1, c = 0, a = C u^2):\n");
    std::printf("%16s %9s %12s %12s %10s\n", "format", "slope", "a", "c", "a/u^2");
    for (std::size_t f = 0; f < formats.size(); ++f) {
        const auto fit = fit_inverse_batch(results[f]);
        const double u = std::ldexp(1.0, -(formats[f].mantissa_bits + 1));
        std::printf("%16s %9.3f %12.3e %12.3e %10.3f\n", formats[f].q.name().c_str(), fit.slope, fit.a, fit.c,
                    fit.a / (u * u));
    }
    const auto sfit = fit_inverse_batch(results[0], true);
    std::printf("%16s %9.3f %12.3e %12.3e\n", "sampling", sfit.slope, sfit.a, sfit.c);

    // --- 2. Training ---------------------------------------------------------------------------
    std::printf("\nTraining %zu epoch(s), batch 32, lr 0.05 (test loss / accuracy after each epoch):\n", opt.epochs);
    const quantizer e4m3_sr = quantizer::to<fewbits::float8_e4m3fn>(sr, scaling::power_of_two);
    const quantizer e4m3_rtn = quantizer::to<fewbits::float8_e4m3fn>(policy{}, scaling::power_of_two);
    const std::vector<std::pair<std::string, linear_quantization>> runs = {
        {"fp32", linear_quantization{}},
        {"e4m3 SR backward", linear_quantization::backward_only(e4m3_sr)},
        {"e4m3 RTN backward", linear_quantization::backward_only(e4m3_rtn)},
    };
    for (const auto& [name, q] : runs) {
        mlp_options o = base;
        o.quantization = {q};
        mlp m(o);
        std::printf("%20s:", name.c_str());
        for (std::size_t e = 0; e < opt.epochs; ++e) {
            train_epoch(m, train, s, 32, opt.seed, e);
            const evaluation ev = evaluate(m, test);
            std::printf("  %.4f / %.3f", ev.mean_loss, ev.accuracy);
        }
        std::printf("\n");
    }
    return 0;
}
