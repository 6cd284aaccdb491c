// Block-scaled formats (block_formats.hpp, block_scale.hpp, e8m0.hpp, hadamard.hpp): the scale
// rules against a double-precision reference, every element against the scalar core, every
// E8M0 x element code decoded exactly, stochastic rounding enumerated and averaged, the edge
// cases, golden vectors from microxcaling and torchao's rules, every instruction set bit for
// bit against the scalar path, chunking, the Hadamard transform and the bad arguments.
#include "fewbits_catch.hpp"

#include <fewbits/block_formats.hpp>
#include <fewbits/format_names.hpp>
#include <fewbits/hadamard.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace fewbits;
using fewbits_test::failure_log;
using fewbits_test::hex;
using fewbits_test::show;

namespace {

using u32 = std::uint32_t;
using u8 = std::uint8_t;

float from_bits(u32 b) { return fewbits_test::float_from_bits(b); }
u32 bits_of(float x) { return fewbits_test::float_bits(x); }

// The element types' facts, written down here independently of the format descriptors.
struct element_facts {
    int emax;
    double max;
    int mantissa_bits;
};
template <class E>
element_facts facts()
{
    if constexpr (std::is_same_v<E, float8_e4m3fn>) return {8, 448.0, 3};
    if constexpr (std::is_same_v<E, float8_e5m2>) return {15, 57344.0, 2};
    if constexpr (std::is_same_v<E, float6_e3m2fn>) return {4, 28.0, 2};
    if constexpr (std::is_same_v<E, float6_e2m3fn>) return {2, 7.5, 3};
    if constexpr (std::is_same_v<E, float4_e2m1fn>) return {2, 6.0, 1};
    if constexpr (std::is_same_v<E, std::int8_t>) return {0, 127.0 / 64.0, 6};
}
template <class E>
std::string type_name()
{
    if constexpr (std::is_same_v<E, std::int8_t>)
        return "int8";
    else
        return format_name<E>();
}

int floor_log2(double a)
{
    int e = 0;
    std::frexp(a, &e);
    return e - 1;
}

// The scale rules in double arithmetic (every quantity is a float times a power of two: exact).
int reference_scale_code(float amax_f, mx_scale_rule rule, element_facts f)
{
    const double amax = std::fabs(static_cast<double>(amax_f));
    if (!std::isfinite(amax)) return 255;
    if (amax == 0) return 0;
    int s = 0;
    if (rule == mx_scale_rule::floor) {
        s = floor_log2(amax) - f.emax;
    } else if (rule == mx_scale_rule::rceil) {
        s = floor_log2(amax) - floor_log2(f.max) - 2;
        while (amax > f.max * std::ldexp(1.0, s)) ++s;
    } else {
        // amax rounded (ties away) to mantissa_bits on float's grid (subnormals on 2^-126's).
        const double q = std::ldexp(1.0, std::max(floor_log2(amax), -126) - f.mantissa_bits);
        const double r = std::floor(amax / q + 0.5) * q;
        s = (r < std::ldexp(1.0, -126) ? -127 : floor_log2(r)) - f.emax;
    }
    return std::clamp(s, -127, 127) + 127;
}

struct xorshift32 {
    u32 state;
    u32 operator()()
    {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        return state;
    }
    double uniform() { return static_cast<double>((*this)() >> 8) * 0x1p-24; }
};

// Blocks of 32 of eight kinds (zero, subnormal, narrow, wide, inf, NaN, huge, tiny) in turn,
// with some block maxima placed on and next to powers of two and element maxima.
std::vector<float> block_inputs(std::size_t blocks, u32 seed)
{
    xorshift32 rng{seed | 1u};
    std::vector<float> x(blocks * 32);
    for (std::size_t b = 0; b < blocks; ++b) {
        float* v = x.data() + b * 32;
        const auto log_uniform = [&](double lo, double hi) {
            for (int j = 0; j < 32; ++j) {
                const double m = std::exp2(lo + (hi - lo) * rng.uniform());
                v[j] = static_cast<float>((rng() & 1u) ? -m : m);
            }
        };
        switch (b % 8) {
        case 0:
            for (int j = 0; j < 32; ++j) v[j] = (j & 1) ? -0.0f : 0.0f;
            break;
        case 1:
            for (int j = 0; j < 32; ++j) v[j] = from_bits((rng() & 0x807FFFFFu));
            break;
        case 2: log_uniform(-4, 4); break;
        case 3: log_uniform(-30, 30); break;
        case 4:
            log_uniform(-3, 3);
            v[rng() % 32] = (rng() & 1u) ? -INFINITY : INFINITY;
            break;
        case 5:
            log_uniform(-3, 3);
            v[rng() % 32] = from_bits(0x7FC00000u | (rng() & 0x803FFFFFu));
            break;
        case 6: log_uniform(100, 127.99); break;
        default: log_uniform(-140, -110); break;
        }
        if (b % 8 >= 2 && b % 8 <= 3 && b % 3 == 0) {
            // The block's maximum exactly at a power of two, one ulp below it, or at 7.5 / 6 * 2^k.
            const float specials[] = {8.0f, std::nextafter(8.0f, 0.0f), 7.5f, 6.0f, 448.0f, 464.0f, 57344.0f};
            v[rng() % 32] = specials[rng() % 7] * ((rng() & 1u) ? 1.0f : 0.25f);
        }
    }
    return x;
}

template <class F>
void for_each_simd(F&& f)
{
    for (const std::string& arch : simd_architectures()) {
        set_simd_architecture(arch);
        f(arch);
    }
    set_simd_architecture("best");
}

template <class E>
u32 element_bits(E e)
{
    if constexpr (std::is_same_v<E, std::int8_t>)
        return static_cast<u8>(e);
    else
        return e.bits();
}

const policy modes[] = {
    {rounding::nearest_even, overflow::saturate},   {rounding::nearest_away, overflow::saturate},
    {rounding::toward_zero, overflow::saturate},    {rounding::stochastic, overflow::saturate, 32},
    {rounding::stochastic, overflow::saturate, 8},  {rounding::nearest_even, overflow::non_saturating},
    {rounding::stochastic, overflow::non_saturating, 16},
};
const mx_scale_rule rules[] = {mx_scale_rule::floor, mx_scale_rule::rceil, mx_scale_rule::even};

// Every scale code against the reference, and every element against the scalar core on the
// exactly scaled value: convert<E>(double(x) * 2^-s) (MXINT8: convert_int8 with scale 2^(s-6)).
template <class E>
void check_mx_against_core()
{
    const element_facts f = facts<E>();
    const std::vector<float> x = block_inputs(8 * 9, 0xB10C5u);
    std::vector<E> q(x.size());
    std::vector<float8_e8m0fnu> scales(x.size() / 32);
    for (const mx_scale_rule rule : rules)
        for (const policy& p : modes)
            for (const float pre : {1.0f, 0.75f}) {
                const mx_options o{rule, p, pre};
                const stream s{0x5EEDull + static_cast<std::uint64_t>(rule), 77};
                mx_quantize<E>(x, q, scales, o, s);
                failure_log log;
                for (std::size_t b = 0; b < scales.size(); ++b) {
                    float amax = 0.0f;
                    bool special = false;
                    for (std::size_t j = 0; j < 32; ++j) {  // the scale comes from the unscaled inputs
                        const float v = x[b * 32 + j];
                        special = special || !std::isfinite(v);
                        amax = std::max(amax, std::fabs(v));
                    }
                    const int code = special ? 255 : reference_scale_code(amax, rule, f);
                    if (scales[b].bits() != code)
                        log.add(type_name<E>() + " block " + std::to_string(b) + ": scale " + hex(scales[b].bits()) +
                                ", expected " + hex(static_cast<u32>(code)));
                    for (std::size_t j = 0; j < 32; ++j) {
                        const std::size_t i = b * 32 + j;
                        const float v = x[i] * pre;
                        const u32 word = random_word(s.seed, s.offset + i);
                        u32 want = 0;  // a NaN block stores +0
                        if (code != 255) {
                            if constexpr (std::is_same_v<E, std::int8_t>) {
                                want = static_cast<u8>(convert_int8(v, static_cast<float>(std::ldexp(1.0, code - 133)),
                                                                    p, word));
                            } else {
                                want = convert<E>(static_cast<double>(v) * std::ldexp(1.0, 127 - code), p, word).bits();
                            }
                        }
                        if (element_bits(q[i]) != want)
                            log.add(type_name<E>() + " rule " + std::to_string(static_cast<int>(rule)) + " mode " +
                                    std::to_string(static_cast<int>(p.mode)) + "/" + std::to_string(p.random_bits) +
                                    " pre " + std::to_string(pre) + " element " + std::to_string(i) + " " + show(x[i]) +
                                    ": " + hex(element_bits(q[i])) + ", expected " + hex(want));
                    }
                }
                FEWBITS_REQUIRE_CLEAN(log);
            }
}

// Every element code under every scale code, dequantized, against double(element) * 2^(c-127).
template <class E>
void check_dequantize_exhaustive()
{
    std::vector<E> codes;
    if constexpr (std::is_same_v<E, std::int8_t>) {
        for (int v = -127; v <= 127; ++v) codes.push_back(static_cast<std::int8_t>(v));
    } else {
        constexpr u32 count = 1u << E::format_type::total_bits;
        for (u32 c = 0; c < count; ++c) codes.push_back(E::from_bits(static_cast<typename E::storage_type>(c)));
    }
    while (codes.size() % 32 != 0) codes.push_back(codes.front());
    const std::size_t per_scale = codes.size();
    std::vector<E> in(per_scale * 256);
    std::vector<float8_e8m0fnu> scales(in.size() / 32);
    for (std::size_t c = 0; c < 256; ++c) {
        std::copy(codes.begin(), codes.end(), in.begin() + static_cast<std::ptrdiff_t>(c * per_scale));
        for (std::size_t b = 0; b < per_scale / 32; ++b)
            scales[c * per_scale / 32 + b] = float8_e8m0fnu::from_bits(static_cast<u8>(c));
    }
    std::vector<float> out(in.size());
    for_each_simd([&](const std::string& arch) {
        mx_dequantize<E>(in, scales, out);
        failure_log log;
        for (std::size_t i = 0; i < in.size(); ++i) {
            const int c = static_cast<int>(i / per_scale);
            double element;
            if constexpr (std::is_same_v<E, std::int8_t>)
                element = in[i] / 64.0;
            else
                element = static_cast<double>(static_cast<float>(in[i]));
            const float want = c == 255 ? NAN : static_cast<float>(element * std::ldexp(1.0, c - 127));
            const bool same = std::isnan(want) ? std::isnan(out[i]) : bits_of(out[i]) == bits_of(want);
            if (!same)
                log.add(arch + " " + type_name<E>() + " code " + hex(element_bits(in[i])) + " scale " +
                        hex(static_cast<u32>(c)) + ": " + show(out[i]) + ", expected " + show(want));
        }
        FEWBITS_REQUIRE_CLEAN(log);
    });
}

// Every instruction set gives the scalar path's bits, at odd block counts (partial last chunk).
template <class E>
void check_targets_agree()
{
    for (const std::size_t blocks : {1u, 3u, 16u, 17u, 41u}) {
        const std::vector<float> x = block_inputs(blocks, 0xD1FFu + static_cast<u32>(blocks));
        for (const mx_scale_rule rule : rules)
            for (const policy& p : {modes[0], modes[3], modes[4]}) {
                const mx_options o{rule, p, 1.0f};
                set_simd_architecture("scalar");
                std::vector<E> q0(x.size());
                std::vector<float8_e8m0fnu> s0(blocks);
                std::vector<float> d0(x.size());
                mx_quantize<E>(x, q0, s0, o, stream{blocks, 3});
                mx_dequantize<E>(q0, s0, d0);
                for_each_simd([&](const std::string& arch) {
                    std::vector<E> q(x.size());
                    std::vector<float8_e8m0fnu> s(blocks);
                    std::vector<float> d(x.size());
                    mx_quantize<E>(x, q, s, o, stream{blocks, 3});
                    mx_dequantize<E>(q, s, d);
                    failure_log log;
                    for (std::size_t i = 0; i < x.size(); ++i)
                        if (element_bits(q[i]) != element_bits(q0[i]) || bits_of(d[i]) != bits_of(d0[i]) ||
                            s[i / 32].bits() != s0[i / 32].bits())
                            log.add(arch + " " + type_name<E>() + " blocks " + std::to_string(blocks) + " element " +
                                    std::to_string(i) + " " + show(x[i]) + ": " + hex(element_bits(q[i])) + " vs scalar " +
                                    hex(element_bits(q0[i])));
                    FEWBITS_REQUIRE_CLEAN(log);
                });
            }
    }
}

}  // namespace

TEST_CASE("e8m0 decodes every code to 2^(c-127) exactly, 0xFF to NaN", "[block][e8m0]")
{
    for (int c = 0; c < 255; ++c) {
        const float8_e8m0fnu s = float8_e8m0fnu::from_bits(static_cast<u8>(c));
        INFO("code " << c);
        REQUIRE(static_cast<float>(s) == static_cast<float>(std::ldexp(1.0, c - 127)));
        REQUIRE(s.exponent() == c - 127);
        REQUIRE(float8_e8m0fnu::from_exponent(c - 127).bits() == c);
        REQUIRE(s == s);
    }
    const float8_e8m0fnu nan = float8_e8m0fnu::from_bits(0xFF);
    REQUIRE(std::isnan(static_cast<float>(nan)));
    REQUIRE(nan.is_nan());
    REQUIRE_FALSE(nan == nan);
    REQUIRE(float8_e8m0fnu::from_exponent(128).is_nan());
    REQUIRE(float8_e8m0fnu::from_exponent(-128).is_nan());
    REQUIRE(bits_of(static_cast<float>(float8_e8m0fnu::from_bits(0))) == 0x00400000u);  // 2^-127, a float subnormal
}

TEST_CASE("every scale rule equals the double-precision reference on powers of two, their neighbours, subnormals "
          "and random amax, for every element type",
          "[block][scale]")
{
    std::vector<float> amax = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min()};
    for (int e = -149; e <= 127; ++e) {
        const float p = std::ldexp(1.0f, e);
        for (const float m : {1.0f, 1.5f, 1.875f, 1.9375f, 1.75f, 1.25f, 1.984375f})
            if (std::isfinite(p * m)) {
                amax.push_back(p * m);
                amax.push_back(std::nextafter(p * m, 0.0f));
                amax.push_back(std::nextafter(p * m, INFINITY));
            }
    }
    for (const double m : {448.0, 57344.0, 28.0, 7.5, 6.0, 127.0 / 64.0})
        for (int e = -140; e <= 120; ++e) {
            const float v = static_cast<float>(std::ldexp(m, e));
            amax.push_back(v);
            amax.push_back(std::nextafter(v, INFINITY));
            amax.push_back(std::nextafter(v, 0.0f));
        }
    xorshift32 rng{12345u};
    for (int i = 0; i < 20000; ++i) amax.push_back(from_bits(rng() & 0x7F7FFFFFu));
    failure_log log;
    const auto check = [&](auto tag) {
        using E = decltype(tag);
        for (const mx_scale_rule rule : rules)
            for (const float a : amax) {
                const int got = mx_block_scale<E>(a, rule).bits();
                const int want = reference_scale_code(a, rule, facts<E>());
                if (got != want)
                    log.add(type_name<E>() + " rule " + std::to_string(static_cast<int>(rule)) + " amax " + show(a) +
                            ": " + std::to_string(got) + ", expected " + std::to_string(want));
            }
    };
    check(float8_e4m3fn{});
    check(float8_e5m2{});
    check(float6_e3m2fn{});
    check(float6_e2m3fn{});
    check(float4_e2m1fn{});
    check(std::int8_t{});
    FEWBITS_REQUIRE_CLEAN(log);
}

TEST_CASE("mx_quantize gives the reference scale and the scalar core's element for every element type, rule, mode, "
          "overflow policy and pre-scale",
          "[block][mx]")
{
    check_mx_against_core<float8_e4m3fn>();
    check_mx_against_core<float8_e5m2>();
    check_mx_against_core<float6_e3m2fn>();
    check_mx_against_core<float6_e2m3fn>();
    check_mx_against_core<float4_e2m1fn>();
    check_mx_against_core<std::int8_t>();
}

TEST_CASE("mx_dequantize is exact for every element code under every e8m0 code, on every instruction set",
          "[block][mx][exhaustive]")
{
    check_dequantize_exhaustive<float8_e4m3fn>();
    check_dequantize_exhaustive<float8_e5m2>();
    check_dequantize_exhaustive<float6_e3m2fn>();
    check_dequantize_exhaustive<float6_e2m3fn>();
    check_dequantize_exhaustive<float4_e2m1fn>();
    check_dequantize_exhaustive<std::int8_t>();
}

TEST_CASE("every instruction set gives the scalar path's bits for mx_quantize and mx_dequantize at odd lengths",
          "[block][mx][differential]")
{
    check_targets_agree<float8_e4m3fn>();
    check_targets_agree<float8_e5m2>();
    check_targets_agree<float6_e2m3fn>();
    check_targets_agree<float4_e2m1fn>();
    check_targets_agree<std::int8_t>();
}

TEST_CASE("the edge cases of the table in docs/block_formats.md", "[block][mx][edge]")
{
    std::vector<float> x(32, 0.0f);
    std::vector<float8_e4m3fn> q(32);
    std::vector<float4_e2m1fn> q4(32);
    std::vector<float8_e8m0fnu> s(1);
    std::vector<float> d(32);
    const auto run4 = [&](mx_scale_rule rule) {
        mx_quantize<float4_e2m1fn>(x, q4, s, {rule});
        mx_dequantize<float4_e2m1fn>(q4, s, d);
    };
    SECTION("an all-zero block: scale 2^-127, signed zeros kept")
    {
        x[3] = -0.0f;
        for (const mx_scale_rule rule : rules) {
            run4(rule);
            REQUIRE(s[0].bits() == 0);
            REQUIRE(q4[3].bits() == 0x8);
            REQUIRE(q4[4].bits() == 0x0);
            REQUIRE(bits_of(d[3]) == 0x80000000u);
        }
    }
    SECTION("an all-subnormal block: the scale clamps at 2^-127 and the elements scale exactly")
    {
        for (std::size_t j = 0; j < 32; ++j) x[j] = from_bits(static_cast<u32>(0x00200000u >> (j % 4)));
        mx_quantize<float8_e4m3fn>(x, q, s);
        mx_dequantize<float8_e4m3fn>(q, s, d);
        REQUIRE(s[0].bits() == 0);
        for (std::size_t j = 0; j < 32; ++j) REQUIRE(bits_of(d[j]) == bits_of(x[j]));  // 2^-128 .. 2^-131: on the grid
    }
    SECTION("amax at and one ulp below a power of two")
    {
        x[0] = 8.0f;
        mx_quantize<float8_e4m3fn>(x, q, s);
        REQUIRE(s[0].exponent() == 3 - 8);
        x[0] = std::nextafter(8.0f, 0.0f);
        mx_quantize<float8_e4m3fn>(x, q, s);
        REQUIRE(s[0].exponent() == 2 - 8);
        mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::even});
        REQUIRE(s[0].exponent() == 3 - 8);  // rounds up to 8 at E4M3's precision
    }
    SECTION("a block maximum that clips under floor but not under rceil")
    {
        x[0] = 7.5f;
        run4(mx_scale_rule::floor);
        REQUIRE(s[0].exponent() == 0);
        REQUIRE(d[0] == 6.0f);  // saturated
        run4(mx_scale_rule::rceil);
        REQUIRE(s[0].exponent() == 1);
        REQUIRE(d[0] == 8.0f);  // 3.75 rounds to 4
        run4(mx_scale_rule::even);
        REQUIRE(s[0].exponent() == 1);  // 7.5 rounds to 8 at E2M1's precision
    }
    SECTION("NaN or infinity anywhere makes the scale NaN, the elements +0 and the whole block NaN")
    {
        for (const float bad : {NAN, -NAN, INFINITY, -INFINITY})
            for (const std::size_t at : {std::size_t{0}, std::size_t{17}, std::size_t{31}}) {
                std::fill(x.begin(), x.end(), 1.0f);
                x[at] = bad;
                for (const mx_scale_rule rule : rules) {
                    run4(rule);
                    REQUIRE(s[0].is_nan());
                    for (std::size_t j = 0; j < 32; ++j) {
                        REQUIRE(q4[j].bits() == 0);
                        REQUIRE(std::isnan(d[j]));
                    }
                }
            }
    }
    SECTION("the largest float amax keeps a finite scale; no finite block can need more than 2^127")
    {
        x[0] = std::numeric_limits<float>::max();
        run4(mx_scale_rule::floor);
        REQUIRE(s[0].exponent() == 125);
        REQUIRE(d[0] == 6.0f * 0x1p125f);  // 1.99.. * 2^127 / 2^125 saturates to 6
        run4(mx_scale_rule::rceil);
        REQUIRE(s[0].exponent() == 126);
        run4(mx_scale_rule::even);
        REQUIRE(s[0].exponent() == 126);  // the rounding carries past float's max: exponent 128 - 2
        std::vector<std::int8_t> qi(32);
        mx_quantize<std::int8_t>(x, qi, s);
        REQUIRE(s[0].exponent() == 127);
        REQUIRE(qi[0] == 127);
    }
    SECTION("a block scale that underflows: elements below the clamped 2^-127 scale's grid round to zero")
    {
        x[0] = 0x1p-140f;
        x[1] = -0x1p-136f;
        mx_quantize<float8_e4m3fn>(x, q, s);
        mx_dequantize<float8_e4m3fn>(q, s, d);
        REQUIRE(s[0].bits() == 0);
        REQUIRE(bits_of(d[0]) == 0u);              // 2^-13 in element units: below half of 2^-9
        REQUIRE(d[1] == -0x1p-136f);               // 2^-9 in element units: the smallest E4M3 subnormal, kept
    }
}

TEST_CASE("sr in mx: every output is one of the two bracketing grid points and, over all 2^8 words, exactly "
          "floor(f * 2^8) round up (e2m1 and e4m3, with and without the 3/4 pre-scale)",
          "[block][mx][sr]")
{
    const std::vector<float> base = block_inputs(4, 0x5151u);
    std::vector<float> x(base.begin() + 64, base.begin() + 128);  // a narrow and a wide block
    const auto check = [&](auto tag, float pre) {
        using E = decltype(tag);
        const std::size_t n = x.size();
        std::vector<E> q(n);
        std::vector<float8_e8m0fnu> s(n / 32);
        std::vector<int> ups(n, 0);
        std::vector<u32> words(n);
        const policy sr{rounding::stochastic, overflow::saturate, 8};
        failure_log log;
        for (u32 r = 0; r < 256; ++r) {
            std::fill(words.begin(), words.end(), r << 24);
            mx_quantize<E>(x, q, s, {mx_scale_rule::floor, sr, pre}, words);
            for (std::size_t i = 0; i < n; ++i) {
                const double y = static_cast<double>(x[i] * pre) * std::ldexp(1.0, -s[i / 32].exponent());
                const float lo = static_cast<float>(convert<E>(y, {rounding::toward_zero, overflow::saturate}));
                const double step_up = static_cast<float>(
                    convert<E>(y, {rounding::up, overflow::saturate})) - static_cast<double>(lo);  // signed
                const float got = static_cast<float>(q[i]);
                if (got == lo) continue;
                ++ups[i];
                if (static_cast<double>(got) != static_cast<double>(lo) + (y < 0 ? -std::fabs(step_up) : std::fabs(step_up)) &&
                    static_cast<double>(got) !=
                        static_cast<double>(static_cast<float>(convert<E>(y, {rounding::down, overflow::saturate}))))
                    log.add("element " + std::to_string(i) + ": " + std::to_string(got) + " is no neighbour of " +
                            std::to_string(y));
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            const double y = static_cast<double>(x[i] * pre) * std::ldexp(1.0, -s[i / 32].exponent());
            const double lo = std::fabs(static_cast<float>(convert<E>(y, {rounding::toward_zero, overflow::saturate})));
            const double hi_away = std::fabs(static_cast<float>(
                convert<E>(y, {y < 0 ? rounding::down : rounding::up, overflow::saturate})));
            const int want = hi_away == lo ? 0 : static_cast<int>(std::floor((std::fabs(y) - lo) / (hi_away - lo) * 256.0));
            if (ups[i] != want)
                log.add(type_name<E>() + " pre " + std::to_string(pre) + " element " + std::to_string(i) + " y=" +
                        std::to_string(y) + ": " + std::to_string(ups[i]) + " of 256 up, expected " + std::to_string(want));
        }
        FEWBITS_REQUIRE_CLEAN(log);
    };
    check(float4_e2m1fn{}, 1.0f);
    check(float4_e2m1fn{}, 0.75f);
    check(float8_e4m3fn{}, 1.0f);
    check(float6_e2m3fn{}, 0.75f);
}

TEST_CASE("sr in mx is unbiased: the mean over n seeds converges to the input (rceil) or to 3/4 of it (floor with the "
          "3/4 pre-scale) at every element, its error falling as 1/sqrt(n)",
          "[block][mx][sr][stats]")
{
    const std::vector<float> base = block_inputs(4, 0xAB5u);
    std::vector<float> x(base.begin() + 64, base.begin() + 128);  // a narrow and a wide block
    // Block maxima with mantissas 1.875 and 1.25: floor clips the first without the pre-scale;
    // the pre-scale must come after the scale is chosen, or 3/4 of the second drops a binade and
    // its scaled maximum (6 x 1.25) clips instead.
    for (std::size_t b = 0; b < 2; ++b) {
        float amax = 0.0f;
        for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
        x[32 * b + 7] = std::ldexp(b == 0 ? 1.875f : 1.25f, floor_log2(amax) + 1);
    }
    const policy sr{rounding::stochastic, overflow::saturate, 32};
    for (const auto& [rule, pre] : {std::pair{mx_scale_rule::rceil, 1.0f}, std::pair{mx_scale_rule::floor, 0.75f}}) {
        std::vector<float4_e2m1fn> q(64);
        std::vector<float8_e8m0fnu> s(2);
        std::vector<float> d(64);
        std::vector<double> sum(64, 0.0);
        double rms_small = 0.0, rms_large = 0.0;
        const int small = 64, large = 16384;
        for (int k = 1; k <= large; ++k) {
            mx_quantize<float4_e2m1fn>(x, q, s, {rule, sr, pre}, stream{static_cast<std::uint64_t>(k), 0});
            mx_dequantize<float4_e2m1fn>(q, s, d);
            for (std::size_t j = 0; j < 64; ++j) sum[j] += d[j];
            if (k == small || k == large) {
                double rms = 0.0;
                for (std::size_t j = 0; j < 64; ++j) {
                    const double target = static_cast<double>(x[j] * pre);
                    const double e = sum[j] / k - target;
                    rms += e * e / (std::ldexp(1.0, 2 * s[j / 32].exponent()));  // in units of the block's 2^s
                    if (k == large) {
                        // the sd of one rounding is at most half the step, at most 2 x 2^s here
                        const double bound =
                            5.0 * std::ldexp(1.0, s[j / 32].exponent()) / std::sqrt(static_cast<double>(k));
                        INFO("rule " << static_cast<int>(rule) << " element " << j << " x " << x[j] << " mean "
                                     << sum[j] / k << " target " << target);
                        REQUIRE(std::fabs(sum[j] / k - target) <= bound);
                    }
                }
                (k == small ? rms_small : rms_large) = std::sqrt(rms / 64);
            }
        }
        INFO("rms error of the mean, in units of 2^s: " << rms_small << " at n = 64, " << rms_large
                                                        << " at n = 16384 (1/sqrt(n): 16x less)");
        REQUIRE(rms_large < rms_small / 8);
    }
    // Without the pre-scale, floor clips the first maximum: it saturates to 6 x 2^s.
    std::vector<float4_e2m1fn> q(64);
    std::vector<float8_e8m0fnu> s(2);
    mx_quantize<float4_e2m1fn>(x, q, s, {mx_scale_rule::floor, sr}, stream{1, 0});
    REQUIRE((q[7].bits() & 7u) == 7u);
}

TEST_CASE("mx results do not depend on chunking: two calls at offsets equal one call", "[block][mx][chunks]")
{
    const std::vector<float> x = block_inputs(40, 0xC4u);
    const mx_options o{mx_scale_rule::floor, {rounding::stochastic, overflow::saturate, 8}};
    std::vector<float8_e4m3fn> whole(x.size()), parts(x.size());
    std::vector<float8_e8m0fnu> sw(40), sp(40);
    mx_quantize<float8_e4m3fn>(x, whole, sw, o, stream{9, 100});
    const std::size_t cut = 32 * 23;
    mx_quantize<float8_e4m3fn>(std::span<const float>(x).first(cut), std::span(parts).first(cut), std::span(sp).first(23), o,
                               stream{9, 100});
    mx_quantize<float8_e4m3fn>(std::span<const float>(x).subspan(cut), std::span(parts).subspan(cut),
                               std::span(sp).subspan(23), o, stream{9, 100 + cut});
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(whole[i].bits() == parts[i].bits());
    // The caller's words give the stream's bits.
    std::vector<u32> words(x.size());
    fill_random_words(stream{9, 100}, words);
    mx_quantize<float8_e4m3fn>(x, parts, sp, o, words);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(whole[i].bits() == parts[i].bits());
    // Packed MXFP4 and NVFP4 too: the caller's words give the stream's bytes.
    std::vector<u8> p1(x.size() / 2), p2(x.size() / 2);
    mxfp4_quantize(x, p1, sw, o, stream{9, 100});
    mxfp4_quantize(x, p2, sp, o, words);
    REQUIRE(p1 == p2);
    std::vector<float8_e4m3fn> n1(x.size() / 16), n2(x.size() / 16);
    nvfp4_options no;
    no.elements = o.elements;
    REQUIRE(nvfp4_quantize(x, p1, n1, no, stream{9, 100}) == nvfp4_quantize(x, p2, n2, no, words));
    REQUIRE(p1 == p2);
}

TEST_CASE("mx_fake_quantize and nvfp4_fake_quantize equal quantize then dequantize, in place too", "[block][fake]")
{
    const std::vector<float> x = block_inputs(21, 0xFA4Eu);
    const mx_options o{mx_scale_rule::rceil, {rounding::stochastic, overflow::saturate, 8}, 0.75f};
    std::vector<float8_e5m2> q(x.size());
    std::vector<float8_e8m0fnu> s(x.size() / 32);
    std::vector<float> want(x.size()), got(x.size());
    mx_quantize<float8_e5m2>(x, q, s, o, stream{8, 3});
    mx_dequantize<float8_e5m2>(q, s, want);
    mx_fake_quantize<float8_e5m2>(x, got, o, stream{8, 3});
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(bits_of(got[i]) == bits_of(want[i]));
    got = x;
    mx_fake_quantize<float8_e5m2>(got, got, o, stream{8, 3});
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(bits_of(got[i]) == bits_of(want[i]));
    std::vector<u8> packed(x.size() / 2);
    std::vector<float8_e4m3fn> ns(x.size() / 16);
    nvfp4_options no;
    no.elements = {rounding::stochastic, overflow::saturate, 16};
    const float t = nvfp4_quantize(x, packed, ns, no, stream{2});
    nvfp4_dequantize(packed, ns, t, want);
    got = x;
    REQUIRE(nvfp4_fake_quantize(got, got, no, stream{2}) == t);
    for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(bits_of(got[i]) == bits_of(want[i]));
}

TEST_CASE("packed fp4: low nibble first, mxfp4_quantize/dequantize equal mx_quantize<e2m1> plus pack_fp4", "[block][fp4]")
{
    const std::vector<float> x = block_inputs(19, 0xF4u);
    const mx_options o{mx_scale_rule::even, {rounding::stochastic, overflow::saturate, 8}};
    std::vector<float4_e2m1fn> q(x.size()), unpacked(x.size());
    std::vector<float8_e8m0fnu> s(19), sp(19);
    std::vector<u8> packed(x.size() / 2), packed2(x.size() / 2);
    mx_quantize<float4_e2m1fn>(x, q, s, o, stream{4, 5});
    pack_fp4(q, packed);
    for (std::size_t j = 0; j < packed.size(); ++j) REQUIRE(packed[j] == (q[2 * j].bits() | (q[2 * j + 1].bits() << 4)));
    unpack_fp4(packed, unpacked);
    for (std::size_t i = 0; i < q.size(); ++i) REQUIRE(unpacked[i].bits() == q[i].bits());
    for_each_simd([&](const std::string& arch) {
        INFO(arch);
        mxfp4_quantize(x, packed2, sp, o, stream{4, 5});
        REQUIRE(packed2 == packed);
        for (std::size_t b = 0; b < s.size(); ++b) REQUIRE(sp[b].bits() == s[b].bits());
        std::vector<float> d1(x.size()), d2(x.size());
        mx_dequantize<float4_e2m1fn>(q, s, d1);
        mxfp4_dequantize(packed2, sp, d2);
        for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(bits_of(d1[i]) == bits_of(d2[i]));
    });
}

namespace {

std::vector<u32> parse_hex_words(std::istringstream& line, std::vector<bool>* skip = nullptr)
{
    std::vector<u32> v;
    std::string tok;
    while (line >> tok && tok != "|") {
        const bool missing = tok == "skip" || tok == "--";
        if (skip) skip->push_back(missing);
        v.push_back(missing ? 0u : static_cast<u32>(std::strtoul(tok.c_str(), nullptr, 16)));
    }
    return v;
}

std::vector<float> as_floats(const std::vector<u32>& w)
{
    std::vector<float> f;
    for (const u32 b : w) f.push_back(from_bits(b));
    return f;
}

template <class E>
void golden_mx(const std::vector<float>& x, const std::string& source, const std::string& how, std::istringstream& line,
               failure_log& log)
{
    if (source == "microxcaling") {
        std::vector<bool> skip;
        const std::vector<u32> want = parse_hex_words(line, &skip);
        const rounding mode = how == "even" ? rounding::nearest_even
                              : how == "nearest" ? rounding::nearest_away
                                                 : rounding::toward_zero;
        std::vector<E> q(x.size());
        std::vector<float8_e8m0fnu> s(x.size() / 32);
        std::vector<float> d(x.size());
        mx_quantize<E>(x, q, s, {mx_scale_rule::floor, {mode, overflow::saturate}});
        mx_dequantize<E>(q, s, d);
        REQUIRE(want.size() == x.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (skip[i]) continue;
            const float w = from_bits(want[i]);
            // microxcaling multiplies by sign(x), which drops the sign of a zero: zeros compare as values.
            const bool same = std::isnan(w) ? std::isnan(d[i]) : (w == 0.0f ? d[i] == 0.0f : bits_of(d[i]) == want[i]);
            if (!same)
                log.add("microxcaling " + type_name<E>() + " " + how + " element " + std::to_string(i) + " " + show(x[i]) +
                        ": " + show(d[i]) + ", expected " + show(w));
        }
    } else {
        const mx_scale_rule rule = how == "floor" ? mx_scale_rule::floor
                                   : how == "rceil" ? mx_scale_rule::rceil
                                                    : mx_scale_rule::even;
        const std::vector<u32> want_scales = parse_hex_words(line);
        std::vector<bool> skip;
        const std::vector<u32> want = parse_hex_words(line, &skip);
        std::vector<E> q(x.size());
        std::vector<float8_e8m0fnu> s(x.size() / 32);
        mx_quantize<E>(x, q, s, {rule});
        REQUIRE(want_scales.size() == s.size());
        REQUIRE(want.size() == x.size());
        for (std::size_t b = 0; b < s.size(); ++b)
            if (s[b].bits() != want_scales[b])
                log.add("torchao " + type_name<E>() + " " + how + " block " + std::to_string(b) + ": scale " +
                        hex(s[b].bits()) + ", expected " + hex(want_scales[b]));
        for (std::size_t i = 0; i < x.size(); ++i)
            if (!skip[i] && element_bits(q[i]) != want[i])
                log.add("torchao " + type_name<E>() + " " + how + " element " + std::to_string(i) + " " + show(x[i]) +
                        ": " + hex(element_bits(q[i])) + ", expected " + hex(want[i]));
    }
}

}  // namespace

TEST_CASE("golden vectors: microxcaling's _quantize_mx (run) and torchao's to_mx and NVFP4 rules (re-derived), "
          "bit for bit",
          "[block][golden]")
{
    std::ifstream file(std::string(FEWBITS_TEST_DATA_DIR) + "/block_formats_golden.txt");
    REQUIRE(file.good());
    std::vector<float> x, xn;
    std::string text;
    int mx_lines = 0, nvfp4_lines = 0;
    failure_log log;
    while (std::getline(file, text)) {
        if (text.empty() || text[0] == '#') continue;
        std::istringstream line(text);
        std::string kind;
        line >> kind;
        if (kind == "input") {
            x = as_floats(parse_hex_words(line));
        } else if (kind == "nvfp4_input") {
            xn = as_floats(parse_hex_words(line));
        } else if (kind == "mx") {
            std::string source, elem, how;
            line >> source >> elem >> how;
            ++mx_lines;
            if (elem == "e4m3") golden_mx<float8_e4m3fn>(x, source, how, line, log);
            else if (elem == "e5m2") golden_mx<float8_e5m2>(x, source, how, line, log);
            else if (elem == "e3m2") golden_mx<float6_e3m2fn>(x, source, how, line, log);
            else if (elem == "e2m3") golden_mx<float6_e2m3fn>(x, source, how, line, log);
            else if (elem == "e2m1") golden_mx<float4_e2m1fn>(x, source, how, line, log);
            else if (elem == "int8") golden_mx<std::int8_t>(x, source, how, line, log);
            else FAIL("unknown element " << elem);
        } else if (kind == "nvfp4") {
            std::string chain, t;
            line >> chain >> t;
            ++nvfp4_lines;
            const std::vector<u32> want_scales = parse_hex_words(line);
            const std::vector<u32> want_packed = parse_hex_words(line);
            nvfp4_options o;
            o.scale = chain == "torchao" ? nvfp4_scale_rule::torchao : nvfp4_scale_rule::transformer_engine;
            std::vector<u8> packed(xn.size() / 2);
            std::vector<float8_e4m3fn> scales(xn.size() / 16);
            const float tensor_scale = nvfp4_quantize(xn, packed, scales, o);
            if (bits_of(tensor_scale) != std::strtoul(t.c_str(), nullptr, 16))
                log.add("nvfp4 " + chain + " tensor scale " + show(tensor_scale) + ", expected " + t);
            REQUIRE(want_scales.size() == scales.size());
            REQUIRE(want_packed.size() == packed.size());
            for (std::size_t b = 0; b < scales.size(); ++b)
                if (scales[b].bits() != want_scales[b])
                    log.add("nvfp4 " + chain + " block " + std::to_string(b) + ": scale " + hex(scales[b].bits()) +
                            ", expected " + hex(want_scales[b]));
            for (std::size_t j = 0; j < packed.size(); ++j)
                if (packed[j] != want_packed[j])
                    log.add("nvfp4 " + chain + " byte " + std::to_string(j) + " (elements " + show(xn[2 * j]) + ", " +
                            show(xn[2 * j + 1]) + "): " + hex(packed[j]) + ", expected " + hex(want_packed[j]));
        }
    }
    REQUIRE(mx_lines == 18 + 15);
    REQUIRE(nvfp4_lines == 2);
    FEWBITS_REQUIRE_CLEAN(log);
}

TEST_CASE("nvfp4: dequantize is (e2m1 * block scale) * tensor scale, the edge cases, and every instruction set agrees",
          "[block][nvfp4]")
{
    const std::vector<float> base = block_inputs(8, 0x4F4u);
    std::vector<float> x(base.begin() + 64, base.begin() + 192);  // narrow, wide, inf, NaN blocks
    std::vector<u8> packed(x.size() / 2);
    std::vector<float8_e4m3fn> scales(x.size() / 16);
    std::vector<float> d(x.size());
    SECTION("dequantize and the NaN blocks, on every instruction set")
    {
        for_each_simd([&](const std::string& arch) {
        INFO(arch);
        for (const auto chain : {nvfp4_scale_rule::transformer_engine, nvfp4_scale_rule::torchao}) {
            nvfp4_options o;
            o.scale = chain;
            const float t = nvfp4_quantize(x, packed, scales, o);
            nvfp4_dequantize(packed, scales, t, d);
            for (std::size_t i = 0; i < x.size(); ++i) {
                const std::size_t b = i / 16;
                bool special = false;
                for (std::size_t j = 0; j < 16; ++j) special = special || !std::isfinite(x[b * 16 + j]);
                const u8 code = static_cast<u8>((packed[i / 2] >> (4 * (i % 2))) & 15u);
                if (special) {
                    REQUIRE(scales[b].bits() == 0x7F);
                    REQUIRE(code == 0);
                    REQUIRE(std::isnan(d[i]));
                } else {
                    const double want = static_cast<double>(static_cast<float>(float4_e2m1fn::from_bits(code))) *
                                        static_cast<double>(static_cast<float>(scales[b]));
                    REQUIRE(bits_of(d[i]) == bits_of(static_cast<float>(want * static_cast<double>(t))));
                }
            }
        }
        });
    }
    SECTION("a zero tensor amax: tensor scale 1, zero block scales, zeros")
    {
        std::fill(x.begin(), x.end(), 0.0f);
        for (const auto chain : {nvfp4_scale_rule::transformer_engine, nvfp4_scale_rule::torchao}) {
            nvfp4_options o;
            o.scale = chain;
            const float t = nvfp4_quantize(x, packed, scales, o);
            REQUIRE(t == 1.0f);
            nvfp4_dequantize(packed, scales, t, d);
            for (const float v : d) REQUIRE(v == 0.0f);
        }
    }
    SECTION("an infinite element leaves the tensor amax finite: only its block is NaN")
    {
        std::fill(x.begin(), x.end(), 1.0f);
        x[20] = INFINITY;
        const float t = nvfp4_quantize(x, packed, scales);
        REQUIRE(t == 1.0f / (2688.0f / 1.0f));
        nvfp4_dequantize(packed, scales, t, d);
        REQUIRE(scales[1].bits() == 0x7F);
        REQUIRE(d[0] == 1.0f);
        REQUIRE(std::isnan(d[16]));
    }
    SECTION("a block scale that underflows E4M3: the block decodes to zero")
    {
        std::fill(x.begin(), x.end(), 1e-9f);
        x[0] = 1e6f;
        const float t = nvfp4_quantize(x, packed, scales);
        nvfp4_dequantize(packed, scales, t, d);
        REQUIRE(scales[1].bits() == 0);
        REQUIRE(d[16] == 0.0f);
    }
    SECTION("every instruction set, both chains, sr")
    {
        nvfp4_options o;
        o.elements = {rounding::stochastic, overflow::saturate, 8};
        std::vector<u8> p0(packed.size());
        set_simd_architecture("scalar");
        const float t0 = nvfp4_quantize(x, p0, scales, o, stream{1, 2});
        for_each_simd([&](const std::string& arch) {
            INFO(arch);
            REQUIRE(nvfp4_quantize(x, packed, scales, o, stream{1, 2}) == t0);
            REQUIRE(packed == p0);
        });
    }
}

TEST_CASE("the random hadamard transform is orthogonal, inverts, keeps A B^T and depends only on the stream",
          "[block][hadamard]")
{
    xorshift32 rng{0x4AD4u};
    for (const std::size_t block : {16u, 32u, 64u, 128u, 256u}) {
        const std::size_t k = 2 * block, rows = 3;
        std::vector<float> a(rows * k), b(rows * k);
        for (float& v : a) v = static_cast<float>(rng.uniform() * 2 - 1);
        for (float& v : b) v = static_cast<float>(rng.uniform() * 2 - 1);
        a[5] = 40.0f;  // an outlier
        std::vector<float> ta = a, tb = b;
        const stream s{31, 7};
        random_hadamard_transform(ta, k, block, s);
        random_hadamard_transform(tb, k, block, s);
        INFO("block " << block);
        for (std::size_t r = 0; r < rows; ++r) {
            double na = 0, nta = 0;
            for (std::size_t j = 0; j < k; ++j) {
                na += static_cast<double>(a[r * k + j]) * a[r * k + j];
                nta += static_cast<double>(ta[r * k + j]) * ta[r * k + j];
            }
            REQUIRE(std::fabs(nta - na) <= 1e-5 * na);
            for (std::size_t c = 0; c < rows; ++c) {
                double ab = 0, tab = 0, scale = 0;
                for (std::size_t j = 0; j < k; ++j) {
                    ab += static_cast<double>(a[r * k + j]) * b[c * k + j];
                    tab += static_cast<double>(ta[r * k + j]) * tb[c * k + j];
                    scale += std::fabs(static_cast<double>(a[r * k + j]) * b[c * k + j]);
                }
                REQUIRE(std::fabs(tab - ab) <= 1e-5 * scale);
            }
        }
        // the outlier is spread: no transformed element of its block keeps most of it
        float biggest = 0;
        for (std::size_t j = 0; j < block; ++j) biggest = std::max(biggest, std::fabs(ta[j]));
        REQUIRE(biggest < 40.0f / std::sqrt(static_cast<float>(block)) + 2.0f);
        std::vector<float> back = ta;
        inverse_random_hadamard_transform(back, k, block, s);
        for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::fabs(back[i] - a[i]) <= 1e-5f * (1 + std::fabs(a[i])));
        // the signs come from the stream: another seed gives another result, the same seed the same bits
        std::vector<float> again = a, other = a;
        random_hadamard_transform(again, k, block, s);
        random_hadamard_transform(other, k, block, stream{32, 7});
        REQUIRE(again == ta);
        REQUIRE(other != ta);
    }
    // block 16: by hand, x = e0 with sign +1 or -1 gives +-1/4 everywhere
    std::vector<float> e(16, 0.0f);
    e[0] = 1.0f;
    random_hadamard_transform(e, 16, 16, stream{5, 0});
    const float sign0 = (random_word(5, 0) >> 31) ? -1.0f : 1.0f;
    for (const float v : e) REQUIRE(v == 0.25f * sign0);
}

TEST_CASE("bad arguments throw invalid_argument naming the argument and the value, and nothing is written",
          "[block][args]")
{
    std::vector<float> x(64, 1.0f), d(64, -7.0f);
    std::vector<float8_e4m3fn> q(64, float8_e4m3fn::from_bits(0x55));
    std::vector<float8_e8m0fnu> s(2, float8_e8m0fnu::from_bits(0x33));
    const auto untouched = [&] {
        for (const auto& v : q) REQUIRE(v.bits() == 0x55);
        for (const auto& v : s) REQUIRE(v.bits() == 0x33);
    };
    const auto throws = [&](auto&& f, const std::string& text) {
        try {
            f();
            FAIL("no exception; expected one mentioning " << text);
        } catch (const std::invalid_argument& e) {
            INFO(e.what());
            REQUIRE(std::string(e.what()).find(text) != std::string::npos);
        }
        untouched();
    };
    throws([&] { mx_quantize<float8_e4m3fn>(std::span<const float>(x).first(40), std::span(q).first(40), s); },
           "in.size() (40) must be a multiple of 32");
    throws([&] { mx_quantize<float8_e4m3fn>(x, std::span(q).first(32), s); }, "out.size() (32)");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, std::span(s).first(1)); }, "scales.size() (1)");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::floor, {rounding::up}}); },
           "options.elements.mode must be nearest_even, nearest_away, toward_zero or stochastic, got 3");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::floor, {rounding::stochastic, overflow::saturate, 0}}); },
           "random_bits must be in 1..32, got 0");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {static_cast<mx_scale_rule>(7)}); }, "options.scale");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::floor, {}, 0.0f}); },
           "options.pre_scale must be in (0, 1], got 0");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::floor, {}, 1.5f}); },
           "options.pre_scale must be in (0, 1], got 1.5");
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {mx_scale_rule::floor, {}, NAN}); }, "options.pre_scale");
    std::vector<u32> words(63);
    throws([&] { mx_quantize<float8_e4m3fn>(x, q, s, {}, words); }, "words.size() (63)");
    throws([&] { mx_dequantize<float8_e4m3fn>(std::span<const float8_e4m3fn>(q).first(32), s, d); }, "out.size() (64)");
    std::vector<u8> packed(31, 0x55);
    throws([&] { mxfp4_quantize(x, packed, s); }, "packed.size() (31) must be in.size() / 2");
    std::vector<float8_e4m3fn> ns(4);
    throws([&] { nvfp4_quantize(x, packed, ns); }, "packed.size() (31)");
    packed.assign(32, 0x55);
    nvfp4_options bad;
    bad.tensor_amax = -1.0f;
    throws([&] { nvfp4_quantize(x, packed, ns, bad); }, "options.tensor_amax must be finite and not negative, got -1");
    bad.tensor_amax = INFINITY;
    throws([&] { nvfp4_quantize(x, packed, ns, bad); }, "options.tensor_amax must be finite and not negative, got inf");
    for (const u8 v : packed) REQUIRE(v == 0x55);
    throws([&] { random_hadamard_transform(x, 64, 24); }, "block must be a power of two in 16..256, got 24");
    throws([&] { random_hadamard_transform(x, 64, 512); }, "got 512");
    throws([&] { random_hadamard_transform(x, 48, 32); }, "row_length (48) must be a positive multiple of block (32)");
    throws([&] { random_hadamard_transform(std::span(x).first(48), 32, 16); }, "data.size() (48) must be a multiple of row_length (32)");
    for (const float v : x) REQUIRE(v == 1.0f);
    for (const float v : d) REQUIRE(v == -7.0f);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <xmmintrin.h>

TEST_CASE("with FTZ and DAZ set, mx and mxfp4 quantize and dequantize give the same bits on every instruction set",
          "[block][mxcsr]")
{
    // Subnormal inputs, tiny elements beside huge ones, scales at 2^-127: every place a float
    // multiply would meet a subnormal.
    const std::vector<float> x = block_inputs(40, 0xF72u);
    const mx_options o{mx_scale_rule::floor, {rounding::stochastic, overflow::saturate, 32}};
    std::vector<float8_e5m2> q0(x.size()), q(x.size());
    std::vector<float8_e8m0fnu> s0(x.size() / 32), s(x.size() / 32);
    std::vector<float> d0(x.size()), d(x.size()), f0(x.size()), f(x.size());
    std::vector<u8> p0(x.size() / 2), p(x.size() / 2);
    for_each_simd([&](const std::string& arch) {
        mx_quantize<float8_e5m2>(x, q0, s0, o, stream{3});
        mx_dequantize<float8_e5m2>(q0, s0, d0);
        mxfp4_quantize(x, p0, s0, o, stream{3});
        mxfp4_dequantize(p0, s0, f0);
        const unsigned saved = _mm_getcsr();
        _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) and DAZ (bit 6)
        mx_quantize<float8_e5m2>(x, q, s, o, stream{3});
        mx_dequantize<float8_e5m2>(q, s, d);
        mxfp4_quantize(x, p, s, o, stream{3});
        mxfp4_dequantize(p, s, f);
        _mm_setcsr(saved);
        failure_log log;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (q[i].bits() != q0[i].bits() || bits_of(d[i]) != bits_of(d0[i]) || bits_of(f[i]) != bits_of(f0[i]) ||
                p[i / 2] != p0[i / 2])
                log.add(arch + " element " + std::to_string(i) + " " + show(x[i]) + ": " + show(d[i]) + " vs " + show(d0[i]));
        FEWBITS_REQUIRE_CLEAN(log);
    });
}
#endif
