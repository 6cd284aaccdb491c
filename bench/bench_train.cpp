// Training throughput of the training library: a 784-128-10 MLP (ReLU, softmax cross-entropy),
// plain SGD, in FP32 and with E4M3 stochastic rounding on the backward pass (x, dy and W for
// the input gradient; per-tensor power-of-two scaling).
//   BM_train_step/Q/B/T     one optimizer step (Q: 0 fp32, 1 e4m3 SR backward; batch B; T
//                           threads) on synthetic Fashion-MNIST-shaped data; the counter
//                           epoch_s is the time of one 60000-sample epoch at that batch size.
//                           Batch 128 with 1 and 2 threads shows what the thread pool buys.
//   BM_epoch_fashion_mnist/* one real epoch over the 60000 training images, batch 32, one
//                           thread (skipped with a message when the Debian package
//                           dataset-fashion-mnist is missing)
// Every run checks that the loss is finite, so the work cannot be optimised away.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <fewbits/training.hpp>
#include <fewbits/data/fashion_mnist.hpp>

namespace {

using namespace fewbits::training;

constexpr std::size_t batch_size = 32;
constexpr std::size_t train_size = 60000;

mlp make_model(bool e4m3_backward, unsigned threads = 1)
{
    mlp_options o;
    o.sizes = {784, 128, 10};
    o.threads = threads;
    if (e4m3_backward)
        o.quantization = {linear_quantization::backward_only(
            quantizer::to<fewbits::float8_e4m3fn>({fewbits::rounding::stochastic}, scaling::power_of_two))};
    return mlp(o);
}

// 4096 images shaped like Fashion-MNIST (pixels in [0, 1], 10 classes) from a Gaussian teacher.
const dataset& synthetic()
{
    static const dataset d = [] {
        dataset g = make_gaussian_mixture(4096, 784, 10, 4.0f, 3);
        for (float& v : g.inputs.values()) v = std::fmin(1.0f, std::fmax(0.0f, 0.5f + 0.15f * v));
        return g;
    }();
    return d;
}

void BM_train_step(benchmark::State& state)
{
    const bool quantized = state.range(0) != 0;
    const auto batch_size = static_cast<std::size_t>(state.range(1));
    const auto threads = static_cast<unsigned>(state.range(2));
    mlp model = make_model(quantized, threads);
    const dataset& data = synthetic();
    sgd_options s;
    s.lr = 0.05f;
    batch b;
    std::size_t start = 0;
    double last = 0.0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<std::size_t> idx(batch_size);
        for (std::size_t i = 0; i < batch_size; ++i) idx[i] = (start + i) % data.size();
        start += batch_size;
        gather(data, idx, b);
        state.ResumeTiming();
        last = model.train_step(b, s).sum / static_cast<double>(batch_size);
    }
    if (!std::isfinite(last)) state.SkipWithError("non-finite loss");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
    state.counters["epoch_s"] =
        benchmark::Counter(static_cast<double>(state.iterations()) / static_cast<double>(train_size / batch_size),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.SetLabel(std::string(quantized ? "e4m3 SR backward" : "fp32") + ", batch " + std::to_string(batch_size) +
                   ", " + std::to_string(threads) + " thread(s), gemm " + gemm_backend);
}
BENCHMARK(BM_train_step)
    ->Args({0, 32, 1})
    ->Args({1, 32, 1})
    ->Args({0, 128, 1})
    ->Args({0, 128, 2})
    ->Args({1, 128, 1})
    ->Args({1, 128, 2})
    ->UseRealTime()  // wall time: the point of threads (CPU time would count the caller's only)
    ->Unit(benchmark::kMicrosecond);

void BM_epoch_fashion_mnist(benchmark::State& state)
{
    if (!fashion_mnist_available()) {
        state.SkipWithError((std::string("Fashion-MNIST not found: ") + fashion_mnist_install_hint).c_str());
        return;
    }
    static const dataset train = load_fashion_mnist(fashion_mnist_split::train);
    const bool quantized = state.range(0) != 0;
    sgd_options s;
    s.lr = 0.05f;
    double loss = 0.0;
    for (auto _ : state) {
        state.PauseTiming();
        mlp model = make_model(quantized);
        state.ResumeTiming();
        loss = train_epoch(model, train, s, batch_size, 1, 0).mean_loss;
    }
    if (!(loss < 1.0)) state.SkipWithError("the epoch did not train (mean loss >= 1)");
    state.counters["train_loss"] = loss;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * train.size()));
    state.SetLabel(std::string(quantized ? "e4m3 SR backward" : "fp32") + ", gemm " + gemm_backend);
}
BENCHMARK(BM_epoch_fashion_mnist)->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->Iterations(1)->Repetitions(3)
    ->ReportAggregatesOnly(false);

}  // namespace
