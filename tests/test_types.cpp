// Value types: layout, comparisons as float values, arithmetic computed in float and
// rounded back nearest-even (checked against the reference for every pair of 8-bit
// values and a random sample of 16-bit pairs), unary minus, stream output.
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <type_traits>

using fewbits_test::failure_log;
using fewbits_test::hex;

TEST_CASE("value types are one or two bytes, trivially copyable, and T{} is +0", "[types][layout]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        INFO("format " << g.name);
        CHECK(sizeof(T) == (g.d.bits() <= 8 ? 1u : 2u));
        CHECK(std::is_trivially_copyable_v<T>);
        CHECK(std::is_trivially_destructible_v<T>);
        CHECK(std::is_standard_layout_v<T>);
        CHECK(ref::bits_of(T{}) == 0u);
        CHECK(static_cast<float>(T{}) == 0.0f);
        CHECK_FALSE(std::signbit(static_cast<float>(T{})));
        // explicit only: float does not convert implicitly
        CHECK_FALSE((std::is_convertible_v<float, T>));
        CHECK((std::is_constructible_v<T, float>));
    });
}

namespace {

// NaN results of arithmetic have no specified sign; compare those by class.
template <class T>
void check_binary_ops(const ref::grid& g, T a, T b, failure_log& log) {
    const double x = static_cast<float>(a);
    const double y = static_cast<float>(b);
    struct op {
        const char* name;
        double exact;
        T got;
    };
    // The contract computes in float. The double result is RN_double(exact) (exact for
    // + - * of 8-bit and float16 values), and rounding it to float gives RN_float(exact)
    // because 53 >= 2*24 + 2 makes double rounding innocuous for + - * /.
    const op ops[] = {{"+", x + y, a + b}, {"-", x - y, a - b}, {"*", x * y, a * b}, {"/", x / y, a / b}};
    for (const op& o : ops) {
        const double via_float = static_cast<float>(o.exact);
        const ref::want w = ref::expected(g, ref::mode::nearest_even, false, 32, via_float);
        const std::uint32_t got = ref::bits_of(o.got);
        if (w.any_nan && !ref::has_nan(g.d)) continue;  // ieee with M = 0 has no NaN: unspecified
        if (!ref::matches(g, w, got, /*ignore_nan_sign=*/true)) {
            log.add(g.name + " " + ref::describe_code(g, ref::bits_of(a)) + " " + o.name + " " +
                    ref::describe_code(g, ref::bits_of(b)) + ": want " + ref::describe(g, w) + ", got " +
                    ref::describe_code(g, got));
        }
        // Rounding the double result directly gives the same answer unless float overflowed
        // where the format did not (the one place where the float intermediate matters).
        if (std::isfinite(o.exact) && std::fabs(o.exact) <= 3.4028234663852886e38) {
            const ref::want wd = ref::expected(g, ref::mode::nearest_even, false, 32, o.exact);
            if (!wd.any_nan && !w.any_nan && wd.bits != w.bits)
                log.add(g.name + " reference: float intermediate changed the result of " +
                        fewbits_test::show(o.exact));
        }
    }
}

template <class T>
void check_compares(const ref::grid& g, T a, T b, failure_log& log) {
    const float x = static_cast<float>(a);
    const float y = static_cast<float>(b);
    const bool want[6] = {x == y, x != y, x < y, x <= y, x > y, x >= y};
    const bool got[6] = {a == b, a != b, a < b, a <= b, a > b, a >= b};
    static const char* const names[6] = {"==", "!=", "<", "<=", ">", ">="};
    for (int i = 0; i < 6; ++i)
        if (want[i] != got[i])
            log.add(g.name + " " + ref::describe_code(g, ref::bits_of(a)) + " " + names[i] + " " +
                    ref::describe_code(g, ref::bits_of(b)) + ": want " + (want[i] ? "true" : "false"));
}

}  // namespace

TEST_CASE("comparisons of every pair of 8-bit values agree with float comparisons", "[types][compare]") {
    ref::for_each_type(ref::small_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        for (std::uint32_t i = 0; i < g.d.count(); ++i)
            for (std::uint32_t j = 0; j < g.d.count(); ++j) check_compares(g, ref::from_code<T>(i), ref::from_code<T>(j), log);
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("nan is unordered and -0 equals +0", "[types][compare]") {
    using fewbits::float8_e4m3fn;
    using fewbits::float16;
    const auto nan8 = float8_e4m3fn::from_bits(0x7F);
    const auto one8 = float8_e4m3fn::from_bits(0x38);
    CHECK_FALSE(nan8 == nan8);
    CHECK(nan8 != nan8);
    CHECK_FALSE(nan8 < one8);
    CHECK_FALSE(nan8 >= one8);
    CHECK(float8_e4m3fn::from_bits(0x80) == float8_e4m3fn::from_bits(0x00));
    CHECK_FALSE(float8_e4m3fn::from_bits(0x80) < float8_e4m3fn::from_bits(0x00));
    CHECK(float16::from_bits(0x8000) == float16::from_bits(0x0000));
    CHECK_FALSE(float16::from_bits(0x7E00) == float16::from_bits(0x7E00));
    const auto nanz = fewbits::float8_e4m3fnuz::from_bits(0x80);
    CHECK_FALSE(nanz == nanz);
    CHECK_FALSE(nanz == fewbits::float8_e4m3fnuz::from_bits(0x00));
}

TEST_CASE("arithmetic of every pair of 8-bit values is the float result rounded nearest-even", "[types][arith]") {
    ref::for_each_type(ref::small_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        for (std::uint32_t i = 0; i < g.d.count(); ++i)
            for (std::uint32_t j = 0; j < g.d.count(); ++j) check_binary_ops(g, ref::from_code<T>(i), ref::from_code<T>(j), log);
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("arithmetic and comparisons of 1e6 random float16 and bfloat16 pairs match the reference", "[types][arith]") {
    ref::for_each_type(ref::type_list<fewbits::float16, fewbits::bfloat16>{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        const std::uint64_t seed = 0x5EEDF00Dull;
        std::mt19937_64 rng(seed);
        failure_log log;
        for (int k = 0; k < 1000000; ++k) {
            const std::uint64_t r = rng();
            std::uint32_t i = static_cast<std::uint32_t>(r & 0xFFFF);
            std::uint32_t j = static_cast<std::uint32_t>((r >> 16) & 0xFFFF);
            // one pair in four has operands of similar magnitude (exercises cancellation)
            if ((r >> 32) % 4 == 0) j = (i & 0xFF00u) ^ (j & 0x80FFu);
            const T a = ref::from_code<T>(i), b = ref::from_code<T>(j);
            check_binary_ops(g, a, b, log);
            check_compares(g, a, b, log);
        }
        INFO("format " << g.name << ", seed " << hex(seed, 8));
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("bfloat16 arithmetic at the overflow midpoint ties to even (inf)", "[types][arith]") {
    // max = 0x7F7F = 2^128 - 2^120; max + 2^119 = 511 * 2^119 is exact in float and is the
    // midpoint between max and the extended point 2^128 (even): inf. max + 2^118 stays max.
    const auto mx = fewbits::bfloat16::from_bits(0x7F7F);
    const auto h = fewbits::bfloat16::from_bits(static_cast<std::uint16_t>((119 + 127) << 7));
    const auto q = fewbits::bfloat16::from_bits(static_cast<std::uint16_t>((118 + 127) << 7));
    REQUIRE(static_cast<float>(h) == std::ldexp(1.0f, 119));
    CHECK(hex(ref::bits_of(mx + h), 4) == "0x7F80");
    CHECK(hex(ref::bits_of(mx + q), 4) == "0x7F7F");
    CHECK(hex(ref::bits_of(-mx - h), 4) == "0xFF80");
}

TEST_CASE("compound assignment equals the binary operator", "[types][arith]") {
    using T = fewbits::float8_e4m3fn;
    failure_log log;
    for (std::uint32_t i = 0; i < 256; i += 3)
        for (std::uint32_t j = 0; j < 256; j += 5) {
            const T a = T::from_bits(static_cast<std::uint8_t>(i)), b = T::from_bits(static_cast<std::uint8_t>(j));
            T s = a, d = a, m = a, q = a;
            s += b;
            d -= b;
            m *= b;
            q /= b;
            if (ref::bits_of(s) != ref::bits_of(a + b) || ref::bits_of(d) != ref::bits_of(a - b) ||
                ref::bits_of(m) != ref::bits_of(a * b) || ref::bits_of(q) != ref::bits_of(a / b))
                log.add("e4m3 compound op differs for " + hex(i) + ", " + hex(j));
        }
    FEWBITS_REQUIRE_CLEAN(log);
}

TEST_CASE("unary minus negates every encoding, keeping nan a nan", "[types][arith]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        for (std::uint32_t c = 0; c < g.d.count(); ++c) {
            const ref::decoded v = ref::decode(g.d, c);
            if (v.c == ref::cls::nan && !ref::has_nan(g.d)) continue;
            const ref::want w = ref::expected(g, ref::mode::nearest_even, false, 32, -v.value);
            const T a = ref::from_code<T>(c);
            const std::uint32_t got = ref::bits_of(-a);
            const std::uint32_t plus = ref::bits_of(+a);
            if (!ref::matches(g, w, got, v.c == ref::cls::nan))
                log.add(g.name + " -(" + ref::describe_code(g, c) + "): want " + ref::describe(g, w) + ", got " +
                        ref::describe_code(g, got));
            if (plus != c) log.add(g.name + " +(" + ref::describe_code(g, c) + ") changed the encoding");
        }
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("stream output prints the float value", "[types][io]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        const std::uint32_t step = g.d.count() > 256 ? 97 : 1;
        for (std::uint32_t c = 0; c < g.d.count(); c += step) {
            const T a = ref::from_code<T>(c);
            std::ostringstream got, want;
            got << a;
            want << static_cast<float>(a);
            if (got.str() != want.str())
                log.add(g.name + " " + hex(c) + " printed \"" + got.str() + "\", want \"" + want.str() + "\"");
        }
        std::ostringstream p;
        p.precision(3);
        p << ref::from_code<T>(g.max_code());
        std::ostringstream q;
        q.precision(3);
        q << static_cast<float>(g.max());
        if (p.str() != q.str()) log.add(g.name + " stream precision not honoured: " + p.str() + " vs " + q.str());
        INFO("format " << g.name);
        FEWBITS_CHECK_CLEAN(log);
    });
}
