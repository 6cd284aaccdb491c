// The end-to-end check of AdamW with no FP32 copies: the Fashion-MNIST MLP (784-128-10)
// trained with AdamW at PyTorch's defaults reaches FP32 AdamW's test accuracy within 0.5 points
// when its weights and both moments are stored in bfloat16 with stochastic rounding. Two
// epochs, one seed, the same initial weights and data order for both runs (docs/adamw.md has
// the 10-epoch, 5-seed table made by examples/adamw_precision). Label long: about 10 s.
#include "fewbits_catch.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>

#include <fewbits/training.hpp>
#include <fewbits/data/fashion_mnist.hpp>

using namespace fewbits::training;

TEST_CASE("fashion-mnist: bf16 weights and bf16 moments with SR reach FP32 AdamW's accuracy within 0.5 points")
{
    if (!fashion_mnist_available()) {
        std::printf("SKIPPED: Fashion-MNIST not found in %s; %s\n", fashion_mnist_default_dir,
                    fashion_mnist_install_hint);
        return;
    }
    const dataset train = load_fashion_mnist(fashion_mnist_split::train);
    const dataset test = load_fashion_mnist(fashion_mnist_split::test);
    auto accuracy = [&](const weight_storage& storage, moment_format moments, fewbits::rounding mode) {
        mlp_options o;
        o.sizes = {784, 128, 10};
        o.weights = storage;
        o.threads = 2;
        mlp model(o);
        adamw_optimizer a;  // PyTorch's defaults
        a.moments = moments;
        a.update = fewbits::policy{mode};
        for (std::uint64_t e = 0; e < 2; ++e) train_epoch(model, train, a, 64, 1, e);
        return evaluate(model, test).accuracy;
    };
    const double fp32 = accuracy(weight_storage::fp32(), moment_format::fp32, fewbits::rounding::nearest_even);
    const double bf16 = accuracy(weight_storage::stored_as<fewbits::bfloat16>(), moment_format::bf16,
                                 fewbits::rounding::stochastic);
    INFO("test accuracy: FP32 AdamW " << 100 * fp32 << " %, BF16 weights + BF16 moments with SR " << 100 * bf16 << " %");
    CHECK(fp32 > 0.80);
    CHECK(std::fabs(bf16 - fp32) <= 0.005);
}
