// gradient_variance: the 1/b law and the weight-quantization floor (docs/paper.md, facts 3-6),
// measured on a realistic model state.
//
// The state: the Fashion-MNIST MLP 784-128-10 (the synthetic teacher 32-64-4 when the data set
// is absent) after one FP32 epoch (batch 32, lr 0.05). On the first 2048 (--quick) or 4096
// (--full) training samples, fewbits::train::gradient_variance measures for every batch size b
//   quant_var  = E||g~_B - g_B||^2 / M   (quantized vs exact mini-batch gradient)
//   sample_var = E||g_B - G||^2 / M      (exact mini-batch vs full-data gradient)
// where M = mean_i ||g_i||^2 is the mean per-sample squared gradient norm of the exact model:
// both are normalised, so the formats and the sampling noise share one scale.
// Two configs (the `config` column), each with stochastic rounding (SR) and round-to-nearest
// (RTN):
//   backward  the per-sample tensors of the backward pass are rounded (x for dW, dy for dW and
//             for dx), with independent draws per sample: with SR, quant_var = C u^2 / b, a
//             log-log slope of -1 and no floor (facts 3, 4). RTN's per-sample errors are
//             deterministic, so their mean does not shrink with b: a floor may appear.
//   weights   only W in the forward pass is rounded: one draw shared by the batch, so quant_var
//             keeps a floor that no batch size removes (fact 6).
// Each series is fitted with var(b) = a/b + c (fitted floor c) and a least-squares log-log
// slope; a/u^2 with u = 2^-p (p = mantissa bits + 1) should be about equal across formats.
//
// Output: a table on stdout; --csv PATH writes config,format,rounding,batch,quant_var,sample_var
// and --fits PATH config,format,rounding,slope,a,floor,a_over_u2 (nan where a fit is undefined).
// A separate gnuplot script draws the log-log panels from the first CSV.
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "experiment.hpp"

namespace {

using namespace fewbits::training;

struct options {
    bool full = false;
    experiment::data_choice data = experiment::data_choice::automatic;
    std::optional<std::vector<std::string>> formats;
    std::optional<std::vector<std::size_t>> batches;
    std::optional<std::size_t> draws;
    std::string csv, fits;
    std::uint64_t seed = 1;
    unsigned threads = experiment::default_threads();

    // Sizes of the two grids: training images for the model state, diagnostic samples.
    std::size_t train_images() const { return full ? 60000 : 10000; }
    std::size_t diag_samples() const { return full ? 4096 : 2048; }
};

void print_usage(std::FILE* to, const char* prog)
{
    std::fprintf(to,
                 "usage: %s [--quick | --full] [--data auto|fashion-mnist|synthetic] [--formats LIST]\n"
                 "          [--batches LIST] [--draws N] [--csv PATH] [--fits PATH] [--seed N] [--threads N]\n"
                 "  --quick         the default: bf16,e5m2,e4m3,e4m1; batches 1,4,16,...,1024; 12 draws;\n"
                 "                  model state from 10000 training images, 2048 diagnostic samples\n"
                 "  --full          bf16,e5m2,e4m3,e4m2,e5m1,e4m1; batches 1,2,4,...,1024; 32 draws;\n"
                 "                  all 60000 training images, 4096 diagnostic samples\n"
                 "  --formats LIST  comma-separated format names (fewbits/format_names.hpp)\n"
                 "  --batches LIST  comma-separated batch sizes, at most the number of diagnostic samples\n"
                 "  --draws N       draws per point, 2..10000\n"
                 "  --csv PATH      config,format,rounding,batch,quant_var,sample_var (normalised by M)\n"
                 "  --fits PATH     config,format,rounding,slope,a,floor,a_over_u2\n"
                 "  --seed N        model, data and rounding seed (default 1)\n"
                 "  --threads N     1..256 (default: the hardware's)\n",
                 prog);
}

options parse(int argc, char** argv)
{
    options o;
    const std::vector<std::string> allowed(fewbits::format_names.begin(), fewbits::format_names.end());
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
        auto path = [&] {
            if (value == nullptr || *value == '\0') throw experiment::usage_error(a + " needs a path, got nothing");
            ++i;
            return std::string(value);
        };
        if (a == "--quick") o.full = false;
        else if (a == "--full") o.full = true;
        else if (a == "--data") o.data = experiment::parse_data(value), ++i;
        else if (a == "--formats") o.formats = experiment::parse_names(a, value, allowed), ++i;
        else if (a == "--batches") o.batches = experiment::parse_sizes(a, value, 1, 1u << 20), ++i;
        else if (a == "--draws") o.draws = experiment::parse_count(a, value, 2, 10000), ++i;
        else if (a == "--seed") o.seed = experiment::parse_count(a, value, 0, UINT64_MAX), ++i;
        else if (a == "--threads") o.threads = static_cast<unsigned>(experiment::parse_count(a, value, 1, 256)), ++i;
        else if (a == "--csv") o.csv = path();
        else if (a == "--fits") o.fits = path();
        else throw experiment::usage_error("unknown option '" + a + "'");
    }
    // Checked after the loop: --full may come after --batches.
    if (o.batches && o.batches->back() > o.diag_samples())
        throw experiment::usage_error("--batches: batch size " + std::to_string(o.batches->back()) + " exceeds the " +
                                      std::to_string(o.diag_samples()) + " diagnostic samples of " +
                                      (o.full ? "--full" : "--quick"));
    return o;
}

// fit_inverse_batch throws on fewer than 2 points or a non-positive variance (e.g. a format
// that represents every value exactly): such a series has no fit, shown as n/a / nan.
std::optional<inverse_batch_fit> try_fit(const std::vector<variance_point>& pts, bool sampling = false)
{
    if (pts.size() < 2) return std::nullopt;
    for (const auto& p : pts)
        if (!((sampling ? p.sampling_normalised : p.quantization_normalised) > 0.0)) return std::nullopt;
    return fit_inverse_batch(pts, sampling);
}

struct series {
    std::string config, format;
    fewbits::rounding mode;
    std::vector<variance_point> points;
};

int run(const options& o)
{
    const std::vector<std::string> formats =
        o.formats ? *o.formats
        : o.full  ? std::vector<std::string>{"bf16", "e5m2", "e4m3", "e4m2", "e5m1", "e4m1"}
                  : std::vector<std::string>{"bf16", "e5m2", "e4m3", "e4m1"};
    variance_options vo;
    vo.batch_sizes = o.batches ? *o.batches
                     : o.full  ? std::vector<std::size_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
                               : std::vector<std::size_t>{1, 4, 16, 64, 256, 1024};
    vo.draws = o.draws ? *o.draws : (o.full ? 32 : 12);
    vo.seed = o.seed;
    // Batches below 64 get more draws (64 * draws samples per point): one draw of a small batch
    // is a few samples whose gradient norms vary a lot, and small batches cost little.
    vo.min_samples = 64 * vo.draws;

    // The model state: one FP32 epoch from the initial weights, a realistic mid-training point.
    experiment::progress clock(1.0);  // a stopwatch for the whole run
    const experiment::experiment_data data =
        experiment::load_data(o.data, o.full ? 0 : o.train_images(), o.train_images(), o.seed);
    mlp_options mo;
    mo.sizes = data.sizes;
    mo.init_seed = mo.seed = o.seed;
    mo.threads = o.threads;
    mlp model(mo);
    sgd_options sgd;
    sgd.lr = 0.05f;
    const epoch_result ep = train_epoch(model, data.train, sgd, 32, o.seed, 0);
    std::printf("data: %s, MLP", data.name.c_str());
    for (std::size_t k = 0; k < data.sizes.size(); ++k) std::printf("%s%zu", k ? "-" : " ", data.sizes[k]);
    std::printf("; state: one FP32 epoch on %zu images (train loss %.4f, accuracy %.3f), %s, %u thread(s)\n",
                data.train.size(), ep.mean_loss, ep.accuracy, experiment::duration(clock.elapsed()).c_str(), o.threads);

    // Diagnostic data: the first samples of the training set (the model has seen them once).
    const std::size_t n = std::min(o.diag_samples(), data.train.size());
    if (vo.batch_sizes.back() > n)
        throw std::runtime_error("batch size " + std::to_string(vo.batch_sizes.back()) + " exceeds the " +
                                 std::to_string(n) + " training samples");
    dataset diag;
    {
        std::vector<std::size_t> idx(n);
        for (std::size_t i = 0; i < n; ++i) idx[i] = i;
        batch b;
        gather(data.train, idx, b);
        diag.classes = data.train.classes, diag.inputs = b.x, diag.labels = b.labels;
    }
    std::printf("diagnostics: %zu samples, max(%zu, %zu / b) draws per point, batches", n, vo.draws, vo.min_samples);
    for (std::size_t b : vo.batch_sizes) std::printf(" %zu", b);
    std::printf("\n\n");

    std::vector<series> all;
    for (const char* config : {"backward", "weights"})
        for (fewbits::rounding mode : {fewbits::rounding::stochastic, fewbits::rounding::nearest_even})
            for (const auto& f : formats) all.push_back({config, f, mode, {}});

    // Work in sample passes: the exact per-sample and full-data passes, then 2 * draws * b per b.
    double per_series = 2.0 * static_cast<double>(n);
    for (std::size_t b : vo.batch_sizes)
        per_series += 2.0 * static_cast<double>(std::max(vo.draws, (vo.min_samples + b - 1) / b) * b);
    experiment::progress prog(per_series * static_cast<double>(all.size()));
    experiment::csv_file csv(o.csv, "config,format,rounding,batch,quant_var,sample_var");
    for (std::size_t k = 0; k < all.size(); ++k) {
        series& s = all[k];
        const quantizer q = experiment::make_quantizer(s.format, fewbits::policy{s.mode});
        linear_quantization lq;
        if (s.config == "backward")  // per-sample tensors only: W in dx = dy W^T would be a shared draw
            lq.backward_input = lq.output_grad_for_weight = lq.output_grad_for_input = q;
        else
            lq.forward_weight = q;
        mlp m = model;
        for (auto& layer : m.layers()) layer.set_quantization(lq);
        s.points = gradient_variance(m, diag, vo);
        for (const auto& p : s.points)
            csv.row(s.config + "," + s.format + "," + rounding_name(s.mode) + "," + std::to_string(p.batch_size) + "," +
                    experiment::fmt("%.6e", p.quantization_normalised) + "," + experiment::fmt("%.6e", p.sampling_normalised));
        prog.done(per_series);
        const auto& lo = s.points.front();
        const auto& hi = s.points.back();
        std::printf("[%2zu/%zu] %-8s %-4s %-3s  quant_var %.3e (b=%zu) .. %.3e (b=%zu)   elapsed %s, left %s\n", k + 1,
                    all.size(), s.config.c_str(), s.format.c_str(), rounding_name(s.mode), lo.quantization_normalised,
                    lo.batch_size, hi.quantization_normalised, hi.batch_size,
                    experiment::duration(prog.elapsed()).c_str(), prog.eta().c_str());
        std::fflush(stdout);
    }
    csv.finish();

    std::printf("\nFit of var(b) = a/b + c to quant_var (normalised by M = mean_i ||g_i||^2), log-log slope;\n"
                "u = 2^-p, p = mantissa bits + 1. Theory: backward SR slope -1, c ~ 0, a/u^2 alike across\n"
                "formats; weights: a floor c > 0 that no batch size removes.\n\n");
    std::printf("%-9s %-6s %-8s %8s %12s %12s %10s\n", "config", "format", "rounding", "slope", "a", "floor c", "a/u^2");
    experiment::csv_file fits(o.fits, "config,format,rounding,slope,a,floor,a_over_u2");
    for (const auto& s : all) {
        const auto fit = try_fit(s.points);
        const double u = std::ldexp(1.0, -experiment::significand_bits(s.format));
        const std::string head = s.config + "," + s.format + "," + rounding_name(s.mode) + ",";
        if (!fit) {
            std::printf("%-9s %-6s %-8s %8s %12s %12s %10s\n", s.config.c_str(), s.format.c_str(), rounding_name(s.mode),
                        "n/a", "n/a", "n/a", "n/a");
            fits.row(head + "nan,nan,nan,nan");
            continue;
        }
        std::printf("%-9s %-6s %-8s %8.3f %12.3e %12.3e %10.3f\n", s.config.c_str(), s.format.c_str(),
                    rounding_name(s.mode), fit->slope, fit->a, fit->c, fit->a / (u * u));
        fits.row(head + experiment::fmt("%.6e", fit->slope) + "," + experiment::fmt("%.6e", fit->a) + "," +
                 experiment::fmt("%.6e", fit->c) + "," + experiment::fmt("%.6e", fit->a / (u * u)));
    }
    fits.finish();
    // The batches are the same in every series (seeded by the diagnostic seed and b): one fit.
    if (const auto sf = try_fit(all.front().points, true))
        std::printf("\nsample_var (exact mini-batch vs full-data gradient, same normalisation): slope %.3f, "
                    "a %.3e, floor c %.3e\n", sf->slope, sf->a, sf->c);
    else
        std::printf("\nsample_var: no fit (n/a)\n");
    std::printf("total %s%s%s%s%s\n", experiment::duration(clock.elapsed()).c_str(), csv.enabled() ? "; wrote " : "",
                csv.path().c_str(), fits.enabled() ? ", " : "", fits.path().c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    return experiment::run_main(argc, argv, print_usage, parse, run);
}
