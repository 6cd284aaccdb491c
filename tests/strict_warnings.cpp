// Instantiates every public header's templates once (every format family, the main rounding
// modes, the kernels, the training library, the loader) so that the strict warning build, -Wall
// -Wextra -Wconversion -Wshadow -Werror (tests/CMakeLists.txt), and clang-tidy and cppcheck
// (cmake/static-analysis.sh) see all of the library's code. Compiled, never run.
#include <cstdint>
#include <exception>
#include <limits>
#include <vector>

#include <fewbits/fewbits.hpp>
#include <fewbits/training.hpp>
#include <fewbits/io/checkpoint.hpp>
#if FEWBITS_STRICT_WITH_ZLIB
#include <fewbits/data/fashion_mnist.hpp>
#endif

namespace {

using namespace fewbits;

template <class T>
void instantiate_format()
{
    std::vector<float> in(100, 1.0f), out(100), velocity(100);
    std::vector<T> q(100);
    for (const rounding m : {rounding::nearest_even, rounding::nearest_away, rounding::toward_zero, rounding::up,
                             rounding::down, rounding::odd, rounding::stochastic}) {
        const policy p{m};
        quantize<T>(in, q, p, stream{1});
        dequantize<T>(q, out);
        fake_quantize<T>(in, out, p, stream{2});
        sgd_update<T>(q, in, 0.1f, p, stream{3});
        (void)convert<T>(0.3, p, 7u);
    }
    sgd_momentum_update<T, float>(q, velocity, in, 0.1f, 0.9f, policy{}, stream{4});
    sgd_momentum_update<T, T>(q, q, in, 0.1f, 0.9f, policy{rounding::stochastic}, stream{5});
    std::vector<bfloat16> m16(100), v16(100);
    std::vector<float> m32(100), v32(100);
    adamw_update<T, bfloat16>(q, m16, v16, in, adamw_options{}, 1, policy{rounding::stochastic}, stream{6});
    adamw_update<T, float>(q, m32, v32, in, adamw_options{}, 2, policy{}, stream{7});
    std::vector<float16> mh(100), vh(100);
    adamw_update<float, float16>(out, mh, vh, in, adamw_options{}, 3);
    const T a{1.0f};
    const T b = a + a * a - a / a;
    (void)(a < b);
    (void)std::numeric_limits<T>::max();
    (void)std::numeric_limits<T>::denorm_min();
    (void)static_cast<double>(b);
}

void instantiate_sgd()
{
    using namespace fewbits::training;
    using namespace fewbits::io;
    mlp_options o;
    o.sizes = {4, 8, 3};
    o.threads = 2;
    o.quantization = {
        linear_quantization::everywhere(quantizer::to<float8_e4m3fn>({rounding::stochastic}, scaling::power_of_two))};
    o.weights = weight_storage::stored_as<bfloat16>();
    mlp m(o);
    const dataset d = make_gaussian_mixture(64, 4, 3, 2.0f, 1);
    sgd_options s;
    s.momentum = 0.9f;
    (void)train_epoch(m, d, s, 8, 1, 0);
    (void)evaluate(m, d);
    variance_options vo;
    vo.batch_sizes = {2, 4};
    vo.draws = 2;
    const auto points = gradient_variance(m, d, vo);
    (void)fit_inverse_batch(points);
    (void)make_regression(32, 4, 0.1f, 1);
    (void)quantizer::int8({rounding::stochastic});
    {
        // Block-scaled quantizers through a linear layer: rows, columns and the weight axes.
        const mx_options mx_sr{mx_scale_rule::floor, policy{rounding::stochastic}, 0.75f};
        linear block_layer(32, 32, 0, weight_storage::fp32(),
                           linear_quantization::everywhere(quantizer::mx<float4_e2m1fn>(mx_sr, 32)), 1);
        pass_context ctx;
        const tensor x(32, 32, 0.5f);
        (void)block_layer.forward(x, ctx);
        (void)block_layer.backward(x, ctx, true);
        tensor out;
        quantizer::nvfp4({}).apply_columns(x, out, stream{1});
    }
    adamw_optimizer a;
    a.moments = moment_format::bf16;
    a.update = policy{rounding::stochastic};
    (void)train_epoch(m, d, a, 8, 1, 1);
    sequential net;
    net.add(linear(4, 4, 0, weight_storage::fp32(), {}, 1));
    net.add(layer_norm(4, 1, weight_storage::stored_as<float16>()));
    net.add(residual(relu()));
    net.add(softmax());
    const sequential copy = net;
    const pass_context ctx{};
    const tensor x = tensor::sequences(2, 3, 4);
    (void)net.backward(net.forward(x, ctx), ctx, true);
    for (parameter* p : net.parameters()) a.step(*p, ctx.update_stream(*p));
    tensor c(3, 3);
    gemm_batched(1, 3, 3, 4, x.data(), 4, 0, transpose::no, x.data(), 4, 0, transpose::yes, c.data(), 3, 0, false, 2);
    run_state state;
    state.counters["step"] = 1;
    (void)state_digest(net.parameters(), state);
    if (std::uint64_t{state.counters.size()} > 2u) {  // compiled, never taken
        save_checkpoint("strict.fbck", m, state);
        (void)load_checkpoint("strict.fbck", m);
    }
#if FEWBITS_STRICT_WITH_ZLIB
    (void)fashion_mnist_available();
#endif
}

// The block-scaled formats: every MX element type, packed FP4, NVFP4, the Hadamard transform.
template <class E>
void instantiate_mx()
{
    std::vector<float> in(64, 1.0f), out(64);
    std::vector<E> q(64);
    std::vector<float8_e8m0fnu> scales(2);
    mx_quantize<E>(in, q, scales, {mx_scale_rule::rceil, {rounding::stochastic, overflow::saturate, 8}}, stream{1});
    mx_dequantize<E>(q, scales, out);
    mx_fake_quantize<E>(in, out, {mx_scale_rule::floor, {rounding::toward_zero, overflow::saturate}, 0.75f});
    (void)mx_block_scale<E>(3.0f, mx_scale_rule::even);
}

void instantiate_block_formats()
{
    instantiate_mx<float8_e4m3fn>();
    instantiate_mx<float8_e5m2>();
    instantiate_mx<float6_e3m2fn>();
    instantiate_mx<float6_e2m3fn>();
    instantiate_mx<float4_e2m1fn>();
    instantiate_mx<std::int8_t>();
    std::vector<float> in(64, 1.0f), out(64);
    std::vector<std::uint8_t> packed(32);
    std::vector<float8_e8m0fnu> scales(2);
    mxfp4_quantize(in, packed, scales);
    mxfp4_dequantize(packed, scales, out);
    std::vector<float8_e4m3fn> nv(4);
    const float t = nvfp4_quantize(in, packed, nv);
    nvfp4_dequantize(packed, nv, t, out);
    (void)nvfp4_fake_quantize(in, out);
    random_hadamard_transform(in, 64, 32, stream{2});
    inverse_random_hadamard_transform(in, 64, 32, stream{2});
}

}  // namespace

int main()
try {
    instantiate_format<bfloat16>();
    instantiate_format<float16>();
    instantiate_format<float8_e4m3fn>();
    instantiate_format<float8_e5m2>();
    instantiate_format<float8_e4m3fnuz>();
    instantiate_format<float8_e5m2fnuz>();
    instantiate_format<float6_e3m2fn>();
    instantiate_format<float6_e2m3fn>();
    instantiate_format<float4_e2m1fn>();
    instantiate_format<minifloat<format<4, 0, encoding::fn>>>();
    std::vector<float> in(10, 0.5f);
    std::vector<std::int8_t> codes(10);
    quantize_int8(in, codes, 0.01f, policy{rounding::stochastic}, stream{1});
    dequantize_int8(codes, in, 0.01f);
    (void)convert_int8(0.3f, 0.01f);
    std::vector<std::uint32_t> words(17);
    fill_random_words(stream{1, 0, generator::philox}, words);
    (void)random_word(generator::counter_hash, 1, 2);
    instantiate_sgd();
    instantiate_block_formats();
    return 0;
} catch (const std::exception&) {
    return 1;
}
