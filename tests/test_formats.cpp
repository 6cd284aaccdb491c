// Formats: every encoding of every format decodes to the value of the textbook formula,
// converts back to itself, the named facts of design.md hold, and std::numeric_limits is
// specialised with every member equal to an independently computed value.
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

using fewbits_test::failure_log;
using fewbits_test::float_bits;
using fewbits_test::hex;

namespace {

std::string code_str(const ref::grid& g, std::uint32_t c) { return ref::describe_code(g, c); }

}  // namespace

TEST_CASE("every encoding decodes to the value of the textbook formula", "[formats][decode]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        for (std::uint32_t c = 0; c < g.d.count(); ++c) {
            const T v = ref::from_code<T>(c);
            const float got = static_cast<float>(v);
            const ref::decoded want = ref::decode(g.d, c);
            std::string what = g.name + " bits " + hex(c, g.d.bits() > 8 ? 4 : 2) + ": got " +
                               fewbits_test::show(got) + ", want ";
            if (ref::bits_of(v) != c) {
                log.add(g.name + " from_bits(" + hex(c) + ").bits() = " + hex(ref::bits_of(v)));
                continue;
            }
            if (want.c == ref::cls::nan) {
                const bool sign_ok = g.d.fam == ref::family::fnuz || std::signbit(got) == want.neg;
                if (!std::isnan(got) || !sign_ok) log.add(what + (want.neg ? "-NaN" : "+NaN"));
            } else {
                const float wf = static_cast<float>(want.value);
                if (static_cast<double>(wf) != want.value && !std::isinf(want.value))
                    log.add(g.name + ": reference value not a float?");
                if (float_bits(got) != float_bits(wf)) log.add(what + fewbits_test::show(wf));
            }
        }
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("every encoding converts back to itself in every mode and overflow policy", "[formats][roundtrip]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        const std::uint32_t words[] = {0u, 0xFFFFFFFFu, 0x9E3779B9u};
        for (std::uint32_t c = 0; c < g.d.count(); ++c) {
            const ref::decoded dv = ref::decode(g.d, c);
            if (dv.c == ref::cls::nan && !ref::has_nan(g.d)) continue;
            const double xd = dv.value;  // the reference value, so this test does not depend on decode
            const float x = static_cast<float>(xd);
            for (ref::mode md : ref::all_modes)
                for (bool sat : {false, true})
                    for (std::uint32_t w : words) {
                        const ref::want want = ref::expected(g, md, sat, 32, xd, w);
                        // the reference itself: a finite encoding is exact and never changes
                        if (dv.c == ref::cls::finite && want.bits != c)
                            log.add("reference disagrees with roundtrip at " + code_str(g, c));
                        const fewbits::policy p = ref::make_policy(md, sat);
                        const std::uint32_t gf = ref::bits_of(fewbits::convert<T>(x, p, w));
                        const std::uint32_t gd = ref::bits_of(fewbits::convert<T>(xd, p, w));
                        if (!ref::matches(g, want, gf) || !ref::matches(g, want, gd)) {
                            log.add(g.name + " " + ref::name(md) + (sat ? " saturate" : " non_saturating") +
                                    " word " + hex(w, 8) + " input " + code_str(g, c) + ": want " +
                                    ref::describe(g, want) + ", got float " + code_str(g, gf) + " double " +
                                    code_str(g, gd));
                        }
                    }
            // the explicit constructor is nearest-even, non-saturating
            const ref::want want = ref::expected(g, ref::mode::nearest_even, false, 32, xd);
            const std::uint32_t gc = ref::bits_of(T(x));
            if (!ref::matches(g, want, gc))
                log.add(g.name + " T(float) of " + code_str(g, c) + ": want " + ref::describe(g, want) + ", got " +
                        code_str(g, gc));
        }
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}

namespace {

struct facts {
    int bias;
    double max;
    std::uint32_t max_code;
    double min_normal;
    double min_subnormal;
    bool has_inf;
    std::uint32_t inf_code;
    std::vector<std::uint32_t> nan_codes;  // every NaN encoding (all of them)
};

std::vector<std::uint32_t> range(std::uint32_t a, std::uint32_t b) {  // [a, b]
    std::vector<std::uint32_t> v;
    for (std::uint32_t c = a; c <= b; ++c) v.push_back(c);
    return v;
}

std::vector<std::uint32_t> concat(std::vector<std::uint32_t> a, const std::vector<std::uint32_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

template <class T>
void check_facts(const facts& f) {
    const ref::grid& g = ref::grid_of<T>();
    INFO("format " << g.name);
    const int M = g.d.M;
    // the bias: 1.0 is the encoding with exponent field = bias and zero mantissa
    CHECK(static_cast<float>(ref::from_code<T>(static_cast<std::uint32_t>(f.bias) << M)) == 1.0f);
    CHECK(g.d.bias() == f.bias);
    CHECK(static_cast<double>(static_cast<float>(ref::from_code<T>(f.max_code))) == f.max);
    CHECK(g.max() == f.max);
    CHECK(g.max_code() == f.max_code);
    CHECK(ref::bits_of(std::numeric_limits<T>::max()) == f.max_code);
    CHECK(static_cast<double>(static_cast<float>(ref::from_code<T>(1u << M))) == f.min_normal);
    CHECK(g.min_normal() == f.min_normal);
    CHECK(static_cast<double>(static_cast<float>(ref::from_code<T>(1u))) == f.min_subnormal);
    CHECK(g.min_subnormal() == f.min_subnormal);
    CHECK(std::numeric_limits<T>::has_infinity == f.has_inf);
    if (f.has_inf) {
        CHECK(std::isinf(static_cast<float>(ref::from_code<T>(f.inf_code))));
        CHECK(static_cast<float>(ref::from_code<T>(f.inf_code)) > 0.0f);
        CHECK(std::isinf(static_cast<float>(ref::from_code<T>(f.inf_code | g.d.sign_mask()))));
        CHECK(static_cast<float>(ref::from_code<T>(f.inf_code | g.d.sign_mask())) < 0.0f);
    }
    std::vector<std::uint32_t> lib_nans, ref_nans;
    std::size_t lib_infs = 0;
    for (std::uint32_t c = 0; c < g.d.count(); ++c) {
        const float v = static_cast<float>(ref::from_code<T>(c));
        if (std::isnan(v)) lib_nans.push_back(c);
        if (std::isinf(v)) ++lib_infs;
        if (ref::decode(g.d, c).c == ref::cls::nan) ref_nans.push_back(c);
    }
    CHECK(lib_nans == f.nan_codes);
    CHECK(ref_nans == f.nan_codes);
    CHECK(lib_infs == (f.has_inf ? 2u : 0u));
}

}  // namespace

TEST_CASE("named facts of design.md hold for every named format", "[formats][facts]") {
    using namespace fewbits;
    SECTION("float8_e4m3fn: bias 7, max 448 = 1.75 * 2^8 at 0x7E, NaN only 0x7F/0xFF") {
        check_facts<float8_e4m3fn>({7, 448.0, 0x7E, std::ldexp(1.0, -6), std::ldexp(1.0, -9), false, 0, {0x7F, 0xFF}});
    }
    SECTION("float8_e5m2: bias 15, max 57344 = 1.75 * 2^15 at 0x7B, inf 0x7C") {
        check_facts<float8_e5m2>({15, 57344.0, 0x7B, std::ldexp(1.0, -14), std::ldexp(1.0, -16), true, 0x7C,
                                  concat(range(0x7D, 0x7F), range(0xFD, 0xFF))});
    }
    SECTION("float16: bias 15, max 65504 at 0x7BFF, inf 0x7C00") {
        check_facts<float16>({15, 65504.0, 0x7BFF, std::ldexp(1.0, -14), std::ldexp(1.0, -24), true, 0x7C00,
                              concat(range(0x7C01, 0x7FFF), range(0xFC01, 0xFFFF))});
    }
    SECTION("bfloat16: bias 127, max (2 - 2^-7) * 2^127 at 0x7F7F, inf 0x7F80") {
        check_facts<bfloat16>({127, std::ldexp(255.0, 120), 0x7F7F, std::ldexp(1.0, -126), std::ldexp(1.0, -133), true,
                               0x7F80, concat(range(0x7F81, 0x7FFF), range(0xFF81, 0xFFFF))});
    }
    SECTION("float8_e4m3fnuz: bias 8, max 240 = 1.875 * 2^7 at 0x7F, NaN only 0x80") {
        check_facts<float8_e4m3fnuz>({8, 240.0, 0x7F, std::ldexp(1.0, -7), std::ldexp(1.0, -10), false, 0, {0x80}});
    }
    SECTION("float8_e5m2fnuz: bias 16, max 57344 = 1.75 * 2^15 at 0x7F, NaN only 0x80") {
        check_facts<float8_e5m2fnuz>(
            {16, 57344.0, 0x7F, std::ldexp(1.0, -15), std::ldexp(1.0, -17), false, 0, {0x80}});
    }
    SECTION("float6_e3m2fn: bias 3, max 28 = 1.75 * 2^4 at 0x1F, no inf or NaN") {
        check_facts<float6_e3m2fn>({3, 28.0, 0x1F, std::ldexp(1.0, -2), std::ldexp(1.0, -4), false, 0, {}});
    }
    SECTION("float6_e2m3fn: bias 1, max 7.5 = 1.875 * 2^2 at 0x1F, no inf or NaN") {
        check_facts<float6_e2m3fn>({1, 7.5, 0x1F, 1.0, 0.125, false, 0, {}});
    }
    SECTION("float4_e2m1fn: bias 1, max 6 = 1.5 * 2^2 at 0x7, no inf or NaN") {
        check_facts<float4_e2m1fn>({1, 6.0, 0x7, 1.0, 0.5, false, 0, {}});
    }
    SECTION("generic e4m1 ieee (6 bits): bias 7, max 1.5 * 2^7 = 192 at 0x1D, inf 0x1E, NaN 0x1F/0x3F") {
        check_facts<ref::float8_e4m1>({7, 192.0, 0x1D, std::ldexp(1.0, -6), std::ldexp(1.0, -7), true, 0x1E,
                                       {0x1F, 0x3F}});
    }
    SECTION("generic e4m0 fn: bias 7, max 2^7 at 0x0E, no inf, NaN 0x0F/0x1F, no subnormal") {
        // with M = 0 the smallest positive value is the smallest normal 2^-6 (code 1)
        check_facts<ref::float8_e4m0>({7, 128.0, 0x0E, std::ldexp(1.0, -6), std::ldexp(1.0, -6), false, 0, {0x0F, 0x1F}});
    }
    SECTION("generic e5m0 fn: bias 15, max 2^15 at 0x1E, no inf, NaN 0x1F/0x3F") {
        check_facts<ref::float8_e5m0>(
            {15, 32768.0, 0x1E, std::ldexp(1.0, -14), std::ldexp(1.0, -14), false, 0, {0x1F, 0x3F}});
    }
    SECTION("generic e3m3 ieee: bias 3, max 1.875 * 2^3 = 15 at 0x37, inf 0x38") {
        check_facts<ref::float8_e3m3>(
            {3, 15.0, 0x37, std::ldexp(1.0, -2), std::ldexp(1.0, -5), true, 0x38,
             concat(range(0x39, 0x3F), range(0x79, 0x7F))});
    }
}

TEST_CASE("storage uses only the low bits and the storage type matches the width", "[formats][storage]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        INFO("format " << g.name);
        using storage = decltype(T{}.bits());
        if (g.d.bits() <= 8)
            CHECK(std::is_same_v<storage, std::uint8_t>);
        else
            CHECK(std::is_same_v<storage, std::uint16_t>);
        CHECK(sizeof(T) == (g.d.bits() <= 8 ? 1u : 2u));
        failure_log log;
        for (std::uint32_t c = 0; c < g.d.count(); ++c) {
            const float x = static_cast<float>(ref::from_code<T>(c));
            for (ref::mode md : ref::all_modes)
                for (bool sat : {false, true}) {
                    const std::uint32_t b = ref::bits_of(fewbits::convert<T>(x * 1.3f, ref::make_policy(md, sat), 0xA5A5A5A5u));
                    if (b >= g.d.count()) log.add(g.name + " result " + hex(b) + " has bits above the format width");
                }
        }
        CHECK(ref::bits_of(T{}) == 0u);
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// numeric_limits

namespace {

template <class T>
void check_limits() {
    using L = std::numeric_limits<T>;
    const ref::grid& g = ref::grid_of<T>();
    const ref::format_desc d = g.d;
    INFO("format " << g.name);
    const bool ieee = d.fam == ref::family::ieee;
    const bool has_sub = d.M > 0;
    const double log10_2 = std::log10(2.0);
    const int digits = d.M + 1;

    CHECK(L::is_specialized);
    CHECK(L::is_signed);
    CHECK_FALSE(L::is_integer);
    CHECK_FALSE(L::is_exact);
    CHECK(L::has_infinity == ieee);
    CHECK(L::has_quiet_NaN == ref::has_nan(d));
    // a signaling NaN needs a NaN encoding with the quiet bit (mantissa MSB) clear: ieee with M >= 2
    CHECK(L::has_signaling_NaN == (ieee && d.M >= 2));
    CHECK(L::has_denorm == (has_sub ? std::denorm_present : std::denorm_absent));
    CHECK_FALSE(L::has_denorm_loss);
    CHECK(L::round_style == std::round_to_nearest);
    CHECK(L::is_iec559 == ieee);  // as ml_dtypes (E5M2) and Eigen (bfloat16)
    CHECK(L::is_bounded);
    CHECK_FALSE(L::is_modulo);
    CHECK(L::digits == digits);
    CHECK(L::digits10 == static_cast<int>(std::floor((digits - 1) * log10_2)));
    CHECK(L::max_digits10 == static_cast<int>(std::ceil(digits * log10_2 + 1)));
    CHECK(L::radix == 2);
    // min normal = 2^(min_exponent - 1)
    CHECK(std::ldexp(1.0, L::min_exponent - 1) == g.min_normal());
    CHECK(L::min_exponent10 == static_cast<int>(std::ceil(std::log10(g.min_normal()))));
    // 2^(max_exponent - 1) <= max < 2^max_exponent
    CHECK(g.max() < std::ldexp(1.0, L::max_exponent));
    CHECK(g.max() >= std::ldexp(1.0, L::max_exponent - 1));
    CHECK(L::max_exponent10 == static_cast<int>(std::floor(std::log10(g.max()))));
    CHECK_FALSE(L::traps);
    CHECK_FALSE(L::tinyness_before);

    CHECK(ref::bits_of(L::min()) == (1u << d.M));
    CHECK(static_cast<double>(static_cast<float>(L::min())) == g.min_normal());
    CHECK(ref::bits_of(L::max()) == g.max_code());
    CHECK(ref::bits_of(L::lowest()) == (g.max_code() | d.sign_mask()));
    CHECK(static_cast<double>(static_cast<float>(L::lowest())) == -g.max());
    CHECK(static_cast<double>(static_cast<float>(L::epsilon())) == std::ldexp(1.0, -d.M));
    CHECK(static_cast<float>(L::round_error()) == 0.5f);
    // Without an infinity, ml_dtypes' choices: the NaN encoding, or max without a NaN; and -0
    // for quiet_NaN() without a NaN.
    if (ieee) {
        CHECK(ref::bits_of(L::infinity()) == g.inf_code());
    } else if (ref::has_nan(d)) {
        CHECK(ref::bits_of(L::infinity()) == ref::bits_of(L::quiet_NaN()));
    } else {
        CHECK(ref::bits_of(L::infinity()) == g.max_code());
        CHECK(ref::bits_of(L::quiet_NaN()) == d.sign_mask());
        CHECK(ref::bits_of(L::signaling_NaN()) == d.sign_mask());
    }
    if (ref::has_nan(d)) {
        const std::uint32_t q = ref::bits_of(L::quiet_NaN());
        CAPTURE(q);
        CHECK(ref::decode(d, q).c == ref::cls::nan);
        if (ieee) CHECK((q & (1u << (d.M - 1))) != 0u);  // quiet bit set
    }
    if (ieee && d.M >= 2) {
        const std::uint32_t s = ref::bits_of(L::signaling_NaN());
        CAPTURE(s);
        CHECK(ref::decode(d, s).c == ref::cls::nan);
        CHECK((s & (1u << (d.M - 1))) == 0u);  // quiet bit clear
    }
    const std::uint32_t dm = ref::bits_of(L::denorm_min());
    CHECK(dm == (has_sub ? 1u : (1u << d.M)));
}

}  // namespace

TEST_CASE("numeric_limits members equal independently computed values", "[formats][limits]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) { check_limits<typename decltype(t)::type>(); });
}

// constexpr use of numeric_limits: these fail to compile if the members are not constant expressions
static_assert(std::numeric_limits<fewbits::float8_e4m3fn>::max().bits() == 0x7E);
static_assert(std::numeric_limits<fewbits::float8_e4m3fn>::lowest().bits() == 0xFE);
static_assert(std::numeric_limits<fewbits::float8_e5m2>::max().bits() == 0x7B);
static_assert(std::numeric_limits<fewbits::float8_e5m2>::infinity().bits() == 0x7C);
static_assert(std::numeric_limits<fewbits::float16>::max().bits() == 0x7BFF);
static_assert(std::numeric_limits<fewbits::float16>::min().bits() == 0x0400);
static_assert(std::numeric_limits<fewbits::float16>::denorm_min().bits() == 0x0001);
static_assert(std::numeric_limits<fewbits::bfloat16>::max().bits() == 0x7F7F);
static_assert(std::numeric_limits<fewbits::bfloat16>::infinity().bits() == 0x7F80);
static_assert(std::numeric_limits<fewbits::float8_e4m3fnuz>::max().bits() == 0x7F);
static_assert(std::numeric_limits<fewbits::float8_e5m2fnuz>::max().bits() == 0x7F);
static_assert(std::numeric_limits<fewbits::float6_e3m2fn>::max().bits() == 0x1F);
static_assert(std::numeric_limits<fewbits::float6_e2m3fn>::max().bits() == 0x1F);
static_assert(std::numeric_limits<fewbits::float4_e2m1fn>::max().bits() == 0x07);
static_assert(std::numeric_limits<fewbits::float8_e4m3fn>::digits == 4);
static_assert(std::numeric_limits<fewbits::bfloat16>::digits == 8);
static_assert(std::numeric_limits<fewbits::float16>::is_iec559);
static_assert(std::numeric_limits<fewbits::bfloat16>::is_iec559);
static_assert(std::numeric_limits<fewbits::float8_e5m2>::is_iec559);
static_assert(!std::numeric_limits<fewbits::float8_e4m3fn>::is_iec559);
// The values ml_dtypes gives for the members the standard leaves open (ml_dtypes/include/float8.h
// and mxfloat.h): infinity() is the NaN encoding without an infinity, max without a NaN.
static_assert(std::numeric_limits<fewbits::float8_e4m3fn>::infinity().bits() == 0x7F);
static_assert(std::numeric_limits<fewbits::float8_e4m3fnuz>::infinity().bits() == 0x80);
static_assert(std::numeric_limits<fewbits::float8_e5m2fnuz>::infinity().bits() == 0x80);
static_assert(std::numeric_limits<fewbits::float6_e3m2fn>::infinity().bits() == 0x1F);
static_assert(std::numeric_limits<fewbits::float6_e2m3fn>::infinity().bits() == 0x1F);
static_assert(std::numeric_limits<fewbits::float4_e2m1fn>::infinity().bits() == 0x07);
static_assert(std::numeric_limits<fewbits::float6_e3m2fn>::quiet_NaN().bits() == 0x20);
static_assert(std::numeric_limits<fewbits::float4_e2m1fn>::signaling_NaN().bits() == 0x08);
static_assert(std::numeric_limits<fewbits::float8_e5m2>::signaling_NaN().bits() == 0x7D);
static_assert(std::numeric_limits<fewbits::float8_e4m3fn>::signaling_NaN().bits() == 0x7F);
