// The layer library of fewbits::sgd: the MLP's results pinned bit for bit across the move
// from hard-coded linear + ReLU to a composition of layers (hashes recorded before the
// refactor, for the builds whose matrix products do or do not fuse multiply-adds).
#include "fewbits_catch.hpp"

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include <fewbits/fewbits.hpp>
#include <fewbits/sgd.hpp>

namespace {

using namespace fewbits::sgd;
using fewbits::policy;
using fewbits::rounding;

struct fnv1a {
    std::uint64_t h = 0xCBF29CE484222325ull;
    void u32(std::uint32_t v)
    {
        for (int k = 0; k < 4; ++k) {
            h ^= (v >> (8 * k)) & 0xFFu;
            h *= 0x100000001B3ull;
        }
    }
};

// Whether this build's GEMM fuses its multiply-adds (gemm.hpp: multiply_add), which is all
// that makes one build's bits differ from another's.
constexpr bool gemm_fuses =
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    true;
#else
    false;
#endif

// Trains 3 small steps of one configuration and hashes every parameter and loss.
std::uint64_t pinned_run(int config)
{
    const bool regression = config == 5;
    const dataset data = regression ? make_regression(96, 12, 0.1f, 3) : make_gaussian_mixture(96, 12, 5, 3.0f, 3);
    mlp_options o;
    o.sizes = {12, 16, 9, regression ? std::size_t{4} : std::size_t{5}};
    if (regression) o.sizes.back() = data.targets.cols();
    o.loss = regression ? loss_kind::squared_error : loss_kind::softmax_cross_entropy;
    o.seed = 21;
    o.init_seed = 4;
    sgd_options s;
    s.lr = 0.05f;
    const policy sr{rounding::stochastic};
    const quantizer e4m3 = quantizer::to<fewbits::float8_e4m3fn>(sr, scaling::power_of_two);
    switch (config) {
    case 0: break;  // FP32
    case 1: o.quantization = {linear_quantization::backward_only(e4m3)}; break;
    case 2:
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
        s.update = sr;
        break;
    case 3:
        s.momentum = 0.9f;
        s.weight_decay = 1e-3f;
        break;
    case 4: {
        o.threads = 2;
        linear_quantization q = linear_quantization::everywhere(e4m3);
        q.reuse_forward = true;
        o.quantization = {q, linear_quantization::everywhere(e4m3), linear_quantization::backward_only(e4m3)};
        o.weights = weight_storage::stored_as<fewbits::bfloat16>();
        s.update = sr;
        s.momentum = 0.5f;
        break;
    }
    default: break;  // 5: squared error, FP32
    }
    mlp model(o);
    fnv1a d;
    for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
        const epoch_result r = train_epoch(model, data, s, 32, 8, epoch);
        d.u32(std::bit_cast<std::uint32_t>(static_cast<float>(r.mean_loss)));
    }
    for (float x : model.flat_parameters()) d.u32(std::bit_cast<std::uint32_t>(x));
    return d.h;
}

}  // namespace

TEST_CASE("mlp training gives the bits it gave before the layer library", "[layers][pinned]")
{
    // Recorded with the hard-coded MLP (linear.hpp + mlp.hpp before the layer library). Without
    // fused multiply-adds g++ 12 and clang 14 agree (default x86-64 flags); with them
    // (-march=x86-64-v3 or -v4) each compiler contracts the products its own way. A build not
    // recorded here (another compiler or CPU family with FMA) prints its hashes and checks none.
    const std::uint64_t unfused[] = {0x2E378CF058118781ull, 0x169BBDB67C56C388ull, 0x4AC6988DC2347B2Cull,
                                     0xE239BA0A559111EAull, 0x75A008F1A7B6F1FCull, 0xDAFF537EBB707C79ull};
    [[maybe_unused]] const std::uint64_t gcc_fused[] = {0x85446EBD3A3A31B5ull, 0x169BBDB67C56C388ull,
                                                        0x4AC6988DC2347B2Cull, 0x37D57BE078F6B05Dull,
                                                        0x75A008F1A7B6F1FCull, 0xBC966C2D8B42E590ull};
    [[maybe_unused]] const std::uint64_t clang_fused[] = {0xC27BB531D5A0F8A0ull, 0x169BBDB67C56C388ull,
                                                          0x4AC6988DC2347B2Cull, 0xB244015FE7EA6336ull,
                                                          0x75A008F1A7B6F1FCull, 0x737D382C174AB38Bull};
    const std::uint64_t* expected = gemm_fuses ? nullptr : unfused;
#if defined(__x86_64__) && defined(__clang__)
    if (gemm_fuses) expected = clang_fused;
#elif defined(__x86_64__) && defined(__GNUC__)
    if (gemm_fuses) expected = gcc_fused;
#endif
    for (int config = 0; config < 6; ++config) {
        const std::uint64_t h = pinned_run(config);
        INFO("config " << config << " hash " << fewbits_test::hex(h, 16) << (gemm_fuses ? " (fused)" : " (unfused)"));
        if (expected)
            CHECK(h == expected[config]);
        else
            WARN("no recorded hashes for this build");
    }
}
