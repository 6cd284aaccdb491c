// Block-scaled quantizers in training (nn/quantizer.hpp: quantizer::mx, quantizer::nvfp4; the
// linear layer's block axes): every row bit for bit against the block kernels with its stream,
// columns as the rows of the transpose, micro-batches as the whole batch, the Hadamard variant
// as T^-1 Q(T x), SR unbiased (MX) or biased only where NVFP4's rounded scale clips, thread
// counts invisible, a linear layer's output and gradients as the products of its rounded
// operands along the right axes, and the bad arguments.
#include "fewbits_catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <fewbits/block_formats.hpp>
#include <fewbits/hadamard.hpp>
#include <fewbits/training.hpp>

namespace {

using namespace fewbits::training;
using fewbits::float4_e2m1fn;
using fewbits::float8_e4m3fn;
using fewbits::policy;
using fewbits::rounding;
using fewbits::stream;

unsigned threads(unsigned n) { return std::getenv("FEWBITS_TEST_ONE_THREAD") ? 1u : n; }

// rows x cols, values spread over several binades (and an outlier per 37 values), from seed.
tensor spread(std::size_t rows, std::size_t cols, std::uint64_t seed)
{
    tensor t(rows, cols);
    std::vector<std::uint32_t> w(rows * cols);
    fewbits::fill_random_words(stream{seed}, w);
    for (std::size_t i = 0; i < w.size(); ++i) {
        const float u = static_cast<float>(w[i] >> 8) * 0x1p-24f;  // [0, 1)
        const float magnitude = std::ldexp(0.5f + u, static_cast<int>(w[i] & 7u) - 6);
        t.values()[i] = ((w[i] >> 3) & 1u ? -magnitude : magnitude) * (i % 37 == 5 ? 40.0f : 1.0f);
    }
    return t;
}

tensor transposed(const tensor& t)
{
    tensor o(t.cols(), t.rows());
    for (std::size_t r = 0; r < t.rows(); ++r)
        for (std::size_t c = 0; c < t.cols(); ++c) o(c, r) = t(r, c);
    return o;
}

bool same_bits(std::span<const float> a, std::span<const float> b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

fewbits::mx_options mx_sr() { return {fewbits::mx_scale_rule::floor, policy{rounding::stochastic}, 0.75f}; }
fewbits::nvfp4_options nvfp4_sr() { return {fewbits::nvfp4_scale_rule::transformer_engine, policy{rounding::stochastic}, {}}; }

std::vector<quantizer> block_quantizers()
{
    return {quantizer::mx<float4_e2m1fn>(mx_sr()),
            quantizer::mx<float8_e4m3fn>({}),
            quantizer::mx<std::int8_t>(mx_sr()),
            quantizer::nvfp4(nvfp4_sr()),
            quantizer::mx<float4_e2m1fn>(mx_sr(), 64),
            quantizer::nvfp4({}, 32)};
}

// The quantizer's contract for row r of `in` (stream row_stream(r), the transform's signs from
// `signs`), written with the library's block kernels and transform directly.
template <class RowStream>
tensor reference_rows(const quantizer& q, const tensor& in, stream signs, RowStream row_stream)
{
    tensor out = in;
    if (q.rht_block() > 0) fewbits::random_hadamard_transform(out.values(), in.cols(), q.rht_block(), signs);
    const bool nv = q.name().starts_with("nvfp4");
    const bool sr = q.name().find(" SR") != std::string::npos;
    float amax = 0.0f;
    for (float v : out.values()) amax = std::max(amax, std::fabs(v));
    for (std::size_t r = 0; r < in.rows(); ++r) {
        const std::span<float> row = out.row(r);
        if (nv) {
            fewbits::nvfp4_options o = sr ? nvfp4_sr() : fewbits::nvfp4_options{};
            o.tensor_amax = amax;
            fewbits::nvfp4_fake_quantize(row, row, o, row_stream(r));
        } else {
            const fewbits::mx_options o = sr ? mx_sr() : fewbits::mx_options{};
            if (q.name().starts_with("mxfp4")) fewbits::mx_fake_quantize<float4_e2m1fn>(row, row, o, row_stream(r));
            else if (q.name().starts_with("mxint8")) fewbits::mx_fake_quantize<std::int8_t>(row, row, o, row_stream(r));
            else fewbits::mx_fake_quantize<float8_e4m3fn>(row, row, o, row_stream(r));
            for (float& v : row) v /= o.pre_scale;
        }
    }
    if (q.rht_block() > 0) fewbits::inverse_random_hadamard_transform(out.values(), in.cols(), q.rht_block(), signs);
    return out;
}

}  // namespace

TEST_CASE("block quantizers: names and block sizes", "[block_quantizer]")
{
    const auto qs = block_quantizers();
    CHECK(qs[0].name() == "mxfp4 SR");
    CHECK(qs[1].name() == "mxfp8_e4m3 RTN");
    CHECK(qs[2].name() == "mxint8 SR");
    CHECK(qs[3].name() == "nvfp4 SR");
    CHECK(qs[4].name() == "mxfp4 SR rht64");
    CHECK(qs[5].name() == "nvfp4 RTN rht32");
    CHECK(qs[0].block_size() == 32);
    CHECK(qs[3].block_size() == 16);
    CHECK(qs[4].rht_block() == 64);
    CHECK(qs[0].block_scaled());
    const quantizer e4m3 = quantizer::to<float8_e4m3fn>(policy{rounding::stochastic});
    CHECK_FALSE(e4m3.block_scaled());
    CHECK(e4m3.block_size() == 1);
}

TEST_CASE("block quantizers round each row as the block kernels do, with the row's stream", "[block_quantizer]")
{
    const tensor x = spread(5, 128, 1);
    const stream base = derive(stream{42}, 9);
    const stream signs = derive(base, ~0ull);
    for (const quantizer& q : block_quantizers()) {
        INFO(q.name());
        tensor rows;
        q.apply_rows(x, rows, base, 1, 3);
        CHECK(same_bits(rows.values(), reference_rows(q, x, signs, [&](std::size_t r) { return derive(base, 3 + r); }).values()));
        // apply: the whole span as one row, with the stream itself.
        const tensor first(1, 128);
        tensor one = first;
        std::copy(x.row(0).begin(), x.row(0).end(), one.values().begin());
        const tensor expect = reference_rows(q, one, signs, [&](std::size_t) { return base; });
        q.apply(one.values(), one.values(), base);
        CHECK(same_bits(one.values(), expect.values()));
        // The rounding changed something (the inputs are not on any of these grids).
        CHECK_FALSE(same_bits(rows.values(), x.values()));
    }
}

TEST_CASE("blocks down the columns are the rows of the transpose, and a weight takes either axis", "[block_quantizer]")
{
    const tensor x = spread(128, 48, 2);
    const stream base = derive(stream{7}, 1);
    for (const quantizer& q : block_quantizers()) {
        INFO(q.name());
        tensor columns, rows_of_transpose;
        q.apply_columns(x, columns, base, 1, 0);
        q.apply_rows(transposed(x), rows_of_transpose, base, 1, 0);
        CHECK(same_bits(columns.values(), transposed(rows_of_transpose).values()));
        // A weight: line k draws derive(s, k) along either axis.
        std::vector<float> w(x.values().begin(), x.values().end());
        q.apply_weight(x.values(), w, 48, block_axis::column, base);
        CHECK(same_bits(w, columns.values()));
        const tensor xt = transposed(x);  // 48 x 128: rows of 128 along the blocks
        std::vector<float> wr(xt.values().begin(), xt.values().end());
        q.apply_weight(xt.values(), wr, 128, block_axis::row, base);
        CHECK(same_bits(wr, rows_of_transpose.values()));
    }
}

TEST_CASE("micro-batches round their columns as the whole batch does (MX)", "[block_quantizer]")
{
    const tensor x = spread(256, 24, 3);
    const stream base = derive(stream{11}, 4);
    for (const quantizer& q : {quantizer::mx<float4_e2m1fn>(mx_sr()), quantizer::mx<float4_e2m1fn>(mx_sr(), 128)}) {
        INFO(q.name());
        tensor whole;
        q.apply_columns(x, whole, base);
        for (std::size_t rows : {std::size_t{128}, std::size_t{64}}) {
            if (rows % std::max<std::size_t>(32, q.rht_block()) != 0) continue;
            INFO("micro-batches of " << rows << " rows");
            for (std::size_t first = 0; first < x.rows(); first += rows) {
                tensor part(rows, x.cols()), rounded;
                for (std::size_t r = 0; r < rows; ++r)
                    std::copy(x.row(first + r).begin(), x.row(first + r).end(), part.row(r).begin());
                q.apply_columns(part, rounded, base, 1, first);
                bool same = true;
                for (std::size_t r = 0; r < rows; ++r)
                    same = same && same_bits(rounded.row(r), whole.row(first + r));
                CHECK(same);
            }
        }
    }
}

TEST_CASE("thread counts do not change a block quantizer's bits", "[block_quantizer]")
{
    const tensor x = spread(128, 256, 4);
    const stream base = derive(stream{5}, 2);
    for (const quantizer& q : block_quantizers()) {
        INFO(q.name());
        tensor r1, r3, c1, c3;
        q.apply_rows(x, r1, base, 1);
        q.apply_rows(x, r3, base, threads(3));
        q.apply_columns(x, c1, base, 1);
        q.apply_columns(x, c3, base, threads(3));
        CHECK(same_bits(r1.values(), r3.values()));
        CHECK(same_bits(c1.values(), c3.values()));
    }
}

namespace {

// Per value over `draws` seeds: the mean and its distance from the input in standard errors
// (the spread estimated from the draws; a value that comes out the same in every draw has
// none, so any distance is infinitely many).
struct averaged {
    std::vector<double> mean, z;
};

averaged average_of_draws(const quantizer& q, const tensor& x, std::size_t draws)
{
    std::vector<double> sum(x.size()), sum2(x.size());
    std::vector<bool> varies(x.size());
    tensor out, first;
    for (std::size_t d = 0; d < draws; ++d) {
        q.apply_rows(x, out, stream{1000 + d});
        if (d == 0) first = out;
        for (std::size_t i = 0; i < x.size(); ++i) {
            sum[i] += out.values()[i];
            sum2[i] += static_cast<double>(out.values()[i]) * out.values()[i];
            varies[i] = varies[i] || out.values()[i] != first.values()[i];
        }
    }
    averaged a{std::vector<double>(x.size()), std::vector<double>(x.size())};
    for (std::size_t i = 0; i < x.size(); ++i) {
        a.mean[i] = sum[i] / static_cast<double>(draws);
        const double var = std::max(0.0, sum2[i] / static_cast<double>(draws) - a.mean[i] * a.mean[i]);
        const double err = std::fabs(a.mean[i] - x.values()[i]);
        a.z[i] = err == 0.0 ? 0.0 : !varies[i] ? INFINITY : err / std::sqrt(var / static_cast<double>(draws));
    }
    return a;
}

// Entries of got (m x n) farther than 1e-5 of the terms' magnitude from
// scale * (c(j) + sum_p a(i, p) b(p, j)), k terms summed in double: a float matrix product
// checked against its operands.
template <class A, class B, class C>
std::size_t off_products(const tensor& got, std::size_t k, A a, B b, C c, double scale)
{
    std::size_t off = 0;
    for (std::size_t i = 0; i < got.rows(); ++i)
        for (std::size_t j = 0; j < got.cols(); ++j) {
            double sum = c(j), magnitude = std::fabs(c(j));
            for (std::size_t p = 0; p < k; ++p) {
                const double term = static_cast<double>(a(i, p)) * static_cast<double>(b(p, j));
                sum += term;
                magnitude += std::fabs(term);
            }
            if (std::fabs(got(i, j) - scale * sum) > 1e-5 * scale * magnitude) ++off;
        }
    return off;
}

}  // namespace

TEST_CASE("stochastic MX quantizers keep every value on average, with and without the transform",
          "[block_quantizer][statistics]")
{
    // 4000 draws: the mean of every value within 5 standard errors of the input (the 3/4
    // pre-scale keeps every block maximum below E2M1's 6, so nothing clips); RTN, for contrast,
    // misses that for most values.
    const tensor x = spread(2, 128, 6);
    for (const quantizer& q : {quantizer::mx<float4_e2m1fn>(mx_sr()), quantizer::mx<float4_e2m1fn>(mx_sr(), 64),
                               quantizer::mx<float4_e2m1fn>({})}) {
        INFO(q.name());
        const averaged a = average_of_draws(q, x, 4000);
        const std::size_t outside = static_cast<std::size_t>(std::count_if(a.z.begin(), a.z.end(), [](double z) { return z > 5.0; }));
        INFO("values beyond 5 standard errors: " << outside << " of " << x.size());
        if (q.name().find(" SR") != std::string::npos) CHECK(outside == 0);
        else CHECK(outside > x.size() / 2);
    }
}

TEST_CASE("stochastic NVFP4 keeps every value on average but the block maxima its rounded scale clips",
          "[block_quantizer][statistics]")
{
    // NVFP4's E4M3 block scale is rounded to nearest (Transformer Engine's chain): when it rounds
    // down, the block's largest elements land above E2M1's 6 and saturate, every draw, so SR
    // cannot keep them on average. Those values come out at most 1/16 smaller in magnitude (half
    // an E4M3 step); every other value is unbiased.
    const tensor x = spread(2, 128, 6);
    const averaged a = average_of_draws(quantizer::nvfp4(nvfp4_sr()), x, 4000);
    std::size_t clipped = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (a.z[i] <= 5.0) continue;
        const double v = std::fabs(x.values()[i]), m = std::fabs(a.mean[i]);
        ++clipped;
        if (!(std::isinf(a.z[i]) && m < v && m >= v * (1.0 - 1.0 / 16)))
            FAIL_CHECK("value " << i << ": " << x.values()[i] << ", mean " << a.mean[i] << ", z " << a.z[i]);
    }
    INFO("values that clip: " << clipped << " of " << x.size());
    CHECK(clipped > 0);  // this input has blocks whose scale rounds down
    CHECK(clipped <= x.size() / fewbits::nvfp4_block_size * 2);
}

TEST_CASE("a linear layer's block-scaled output and gradients are products of operands blocked along their reduction axes",
          "[block_quantizer][layers]")
{
    const std::size_t in = 64, out = 32, batch = 64;
    for (const quantizer& q : {quantizer::mx<float4_e2m1fn>(mx_sr()), quantizer::nvfp4(nvfp4_sr(), 16)}) {
        INFO(q.name());
        linear l(in, out, 3, weight_storage::fp32(), linear_quantization::backward_only(q), 17);
        const tensor x = spread(batch, in, 8), dy = spread(batch, out, 9);
        pass_context ctx;
        ctx.seed = 21;
        ctx.step = 4;
        l.forward(x, ctx);
        const tensor dx = l.backward(dy, ctx, true);
        const tensor dw = l.weight_grad();

        // The operands, rounded as the contract says.
        tensor xb, dyw, dyi;
        q.apply_columns(x, xb, ctx.tensor_stream(3, tensor_id::backward_input));
        q.apply_columns(dy, dyw, ctx.tensor_stream(3, tensor_id::output_grad_for_weight));
        q.apply_rows(dy, dyi, ctx.tensor_stream(3, tensor_id::output_grad_for_input));
        const tensor w = l.weight();
        tensor wb = w;
        q.apply_weight(w.values(), wb.values(), out, block_axis::row, ctx.tensor_stream(3, tensor_id::backward_weight));

        // dW = x^T dy / b and dx = dy W^T in double, against the layer's float products.
        const double inv_batch = 1.0 / static_cast<double>(batch);
        const auto none = [](std::size_t) { return 0.0; };
        CHECK(off_products(dw, batch, [&](std::size_t i, std::size_t r) { return xb(r, i); },
                           [&](std::size_t r, std::size_t j) { return dyw(r, j); }, none, inv_batch) == 0);
        CHECK(off_products(dx, out, [&](std::size_t r, std::size_t j) { return dyi(r, j); },
                           [&](std::size_t j, std::size_t i) { return wb(i, j); }, none, 1.0) == 0);

        // Forward with every tensor rounded: y = Q_fi(x) Q_fw(W) + b, x's blocks along in (rows),
        // W's along in (down its columns).
        linear lf(in, out, 3, weight_storage::fp32(), linear_quantization::everywhere(q), 17);
        const tensor y = lf.forward(x, ctx);
        tensor xf;
        q.apply_rows(x, xf, ctx.tensor_stream(3, tensor_id::forward_input));
        tensor wf = w;
        q.apply_weight(w.values(), wf.values(), out, block_axis::column, ctx.tensor_stream(3, tensor_id::forward_weight));
        const tensor bias = lf.bias();
        CHECK(off_products(y, in, [&](std::size_t r, std::size_t i) { return xf(r, i); },
                           [&](std::size_t i, std::size_t j) { return wf(i, j); },
                           [&](std::size_t j) { return static_cast<double>(bias(0, j)); }, 1.0) == 0);

        // The same bits on 3 threads.
        linear l3(in, out, 3, weight_storage::fp32(), linear_quantization::backward_only(q), 17);
        pass_context ctx3 = ctx;
        ctx3.threads = threads(3);
        l3.forward(x, ctx3);
        const tensor dx3 = l3.backward(dy, ctx3, true);
        CHECK(same_bits(dx3.values(), dx.values()));
        CHECK(same_bits(l3.weight_grad().values(), dw.values()));
    }
}

TEST_CASE("block quantizers reject bad arguments naming them, before anything is written", "[block_quantizer][errors]")
{
    CHECK_THROWS_WITH(quantizer::mx<float4_e2m1fn>({}, 24),
                      "fewbits: rht_block must be 0 (no transform) or a power of two in 16..256, got 24");
    CHECK_THROWS_WITH(quantizer::mx<float4_e2m1fn>({}, 512),
                      "fewbits: rht_block must be 0 (no transform) or a power of two in 16..256, got 512");
    fewbits::mx_options bad_pre = mx_sr();
    bad_pre.pre_scale = 1.5f;
    CHECK_THROWS_AS(quantizer::mx<float4_e2m1fn>(bad_pre), std::invalid_argument);

    const quantizer q = quantizer::mx<float4_e2m1fn>(mx_sr(), 64);
    const tensor x = spread(64, 48, 10);
    tensor out(3, 3, 7.0f);
    CHECK_THROWS_WITH(q.apply_rows(x, out, stream{1}),
                      "fewbits: mxfp4 SR rht64: the length along the blocks (48) must be a multiple of 64");
    CHECK((out.rows() == 3 && out.cols() == 3 && out(0, 0) == 7.0f));
    CHECK_THROWS_WITH(q.apply_columns(x, out, stream{1}, 1, 32),
                      "fewbits: mxfp4 SR rht64: first_row (32) must be a multiple of 64 for blocks down the columns");
    CHECK((out.rows() == 3 && out.cols() == 3 && out(0, 0) == 7.0f));
    CHECK_THROWS_WITH(q.apply_columns(spread(96, 4, 1), out, stream{1}),
                      "fewbits: mxfp4 SR rht64: the length along the blocks (96) must be a multiple of 64");
    std::vector<float> w(64 * 48, 7.0f);
    CHECK_THROWS_WITH(q.apply_weight(x.values(), w, 50, block_axis::row, stream{1}),
                      "fewbits: cols (50) must divide in.size() (3072)");
    CHECK(w[0] == 7.0f);
    const quantizer nv = quantizer::nvfp4(nvfp4_sr());
    std::vector<float> v(24, 1.0f);
    CHECK_THROWS_WITH(nv.apply(v, v, stream{1}), "fewbits: nvfp4 SR: the length along the blocks (24) must be a multiple of 16");
    CHECK(v[0] == 1.0f);

    // Nothing to round is no error: an empty span, a tensor without rows or without columns.
    std::vector<float> none;
    CHECK_NOTHROW(q.apply(none, none, stream{1}));
    tensor empty_out;
    CHECK_NOTHROW(q.apply_rows(tensor(0, 64), empty_out, stream{1}));
    CHECK((empty_out.rows() == 0 && empty_out.cols() == 64));
    CHECK_NOTHROW(q.apply_columns(tensor(64, 0), empty_out, stream{1}));
    CHECK((empty_out.rows() == 64 && empty_out.cols() == 0));

    linear_quantization reuse = linear_quantization::everywhere(q);
    reuse.reuse_forward = true;
    CHECK_THROWS_WITH(linear(64, 64, 0, weight_storage::fp32(), reuse, 1),
                      Catch::Contains("reuse_forward with a block-scaled forward quantizer (mxfp4 SR rht64)"));
}
