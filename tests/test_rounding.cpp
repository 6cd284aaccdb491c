// Rounding: every mode and overflow policy of the scalar convert, for every format, on
// every grid point, midpoint and their float/double neighbours (both signs), against the
// independent reference; the exact stochastic-rounding probability F / 2^r by enumerating
// all 2^r random values; the named edge cases of design.md; argument validation; and the
// double overload, which must round the exact double (no intermediate float rounding).
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using fewbits_test::failure_log;
using fewbits_test::hex;
using fewbits_test::show;

namespace {

constexpr double kFltMax = 3.4028234663852886e38;

bool is_float(double x) {
    if (std::isnan(x)) return true;
    const float f = static_cast<float>(x);
    return static_cast<double>(f) == x;
}

std::uint32_t mix(std::uint64_t v) {  // splitmix64 finaliser: a deterministic "random" word per input
    v += 0x9E3779B97F4A7C15ull;
    v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ull;
    v = (v ^ (v >> 27)) * 0x94D049BB133111EBull;
    return static_cast<std::uint32_t>((v ^ (v >> 31)) >> 16);
}

std::string policy_str(ref::mode md, bool sat, int r, std::uint32_t w) {
    std::string s = std::string(ref::name(md)) + (sat ? "/saturate" : "/non_saturating");
    if (md == ref::mode::stochastic) s += " r=" + std::to_string(r) + " word=" + hex(w, 8);
    return s;
}

template <class T>
void check_one(const ref::grid& g, ref::mode md, bool sat, int r, double x, std::uint32_t w, bool as_float,
               failure_log& log) {
    const ref::want want = ref::expected(g, md, sat, r, x, w);
    const fewbits::policy p = ref::make_policy(md, sat, r);
    if (as_float) {
        const float xf = static_cast<float>(x);
        const std::uint32_t got = ref::bits_of(fewbits::convert<T>(xf, p, w));
        if (!ref::matches(g, want, got))
            log.add(g.name + " " + policy_str(md, sat, r, w) + " float " + show(xf) + ": want " +
                    ref::describe(g, want) + ", got " + ref::describe_code(g, got));
    }
    const std::uint32_t got = ref::bits_of(fewbits::convert<T>(x, p, w));
    if (!ref::matches(g, want, got))
        log.add(g.name + " " + policy_str(md, sat, r, w) + " double " + show(x) + ": want " + ref::describe(g, want) +
                ", got " + ref::describe_code(g, got));
}

// Every mode, both policies; stochastic with r in {1, 8, 32} and several words.
template <class T>
void check_input(const ref::grid& g, double x, failure_log& log) {
    if (std::isnan(x) && !ref::has_nan(g.d) && g.d.fam == ref::family::ieee) return;  // no NaN encoding
    const bool as_float = is_float(x);
    const std::uint32_t h = mix(fewbits_test::double_bits(x));
    const std::uint32_t words[] = {0u, 0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu, h, mix(h)};
    for (ref::mode md : ref::all_modes)
        for (bool sat : {false, true}) {
            if (md == ref::mode::stochastic) {
                for (int r : {1, 8, 32})
                    for (std::uint32_t w : words) check_one<T>(g, md, sat, r, x, w, as_float, log);
            } else {
                // other modes ignore the random word and random_bits
                check_one<T>(g, md, sat, 32, x, h, as_float, log);
                check_one<T>(g, md, sat, 3, x, ~h, false, log);
            }
        }
}

// Positive test points: grid values, midpoints, the extended point, and the float and
// double neighbours of each.
std::vector<double> sweep_points(const ref::grid& g) {
    std::vector<double> base;
    for (std::size_t i = 0; i <= g.n; ++i) {
        base.push_back(g.mag[i]);
        if (i < g.n) base.push_back(g.mag[i] + (g.mag[i + 1] - g.mag[i]) / 2);
    }
    base.push_back(g.ext() + g.top_step() / 2);
    base.push_back(g.ext() + g.top_step());
    std::vector<double> pts;
    for (double b : base) {
        pts.push_back(b);
        if (is_float(b) && std::fabs(b) <= kFltMax) {
            const float f = static_cast<float>(b);
            if (f > 0) pts.push_back(std::nextafter(f, 0.0f));
            const float up = std::nextafter(f, HUGE_VALF);
            if (std::isfinite(up)) pts.push_back(up);
        }
        if (b > 0) pts.push_back(std::nextafter(b, 0.0));
        pts.push_back(std::nextafter(b, HUGE_VAL));
    }
    return pts;
}

std::vector<double> special_points() {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {0.0,     HUGE_VAL, nan,        static_cast<double>(FLT_MAX), static_cast<double>(FLT_MIN),
            std::ldexp(1.0, -149), DBL_MAX, DBL_TRUE_MIN, 1e300,         1e-300,
            1e39,    1e-45};
}

}  // namespace

TEST_CASE("every mode and overflow policy matches the reference on every grid point, midpoint and neighbour",
          "[rounding][sweep]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        std::vector<double> pts = sweep_points(g);
        for (double s : special_points()) pts.push_back(s);
        for (double x : pts) {
            check_input<T>(g, x, log);
            check_input<T>(g, -x, log);
        }
        INFO("format " << g.name << ", " << pts.size() * 2 << " inputs");
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// Stochastic rounding: exact probability.

namespace {

// x is positive; enumerates every R for r = 1..rmax with both signs and checks that
// exactly F = floor(f * 2^r) of them round the magnitude up, and r = 32 thresholds.
template <class T>
void check_sr_counts(const ref::grid& g, double a, int rmax, failure_log& log) {
    const ref::interval iv = ref::locate(g, a);
    for (bool neg : {false, true}) {
        const double x = neg ? -a : a;
        const bool as_float = is_float(x);
        for (bool sat : {false, true}) {
            std::size_t lo_i = iv.lo, hi_i = iv.exact ? iv.lo : iv.lo + 1;
            const ref::want lo_w = ref::from_index(g, ref::mode::stochastic, sat, neg, lo_i);
            const ref::want hi_w = ref::from_index(g, ref::mode::stochastic, sat, neg, hi_i);
            const bool distinct = lo_w.bits != hi_w.bits;
            auto run = [&](int r, std::uint32_t word) -> int {  // 1 up, 0 down, -1 neither
                const fewbits::policy p = ref::make_policy(ref::mode::stochastic, sat, r);
                const std::uint32_t got = as_float ? ref::bits_of(fewbits::convert<T>(static_cast<float>(x), p, word))
                                                   : ref::bits_of(fewbits::convert<T>(x, p, word));
                if (distinct && got == hi_w.bits) return 1;
                if (got == lo_w.bits) return 0;
                log.add(g.name + " sr " + (sat ? "saturate" : "non_saturating") + " r=" + std::to_string(r) +
                        " word=" + hex(word, 8) + " input " + show(x) + ": got " + ref::describe_code(g, got) +
                        ", want " + ref::describe(g, lo_w) + " or " + ref::describe(g, hi_w));
                return -1;
            };
            for (int r = 1; r <= rmax; ++r) {
                // saturate only differs next to max: a few r values are enough elsewhere
                if (sat && hi_i + 1 < g.n && r != 1 && r != 5 && r != rmax) continue;
                const std::uint64_t F = iv.exact ? 0 : ref::sr_threshold(g, iv.lo, a, r);
                std::uint64_t ups = 0;
                bool bad = false;
                for (std::uint64_t R = 0; R < (std::uint64_t{1} << r); ++R) {
                    const int k = run(r, static_cast<std::uint32_t>(R << (32 - r)));
                    if (k < 0) bad = true;
                    if (k == 1) ++ups;
                }
                if (distinct && !bad && ups != F)
                    log.add(g.name + " sr " + (sat ? "saturate" : "non_saturating") + " r=" + std::to_string(r) +
                            " input " + show(x) + ": rounded up for " + std::to_string(ups) + " of 2^r words, want F = " +
                            std::to_string(F));
            }
            // r = 32: the threshold word 2^32 - F rounds up, one less rounds down
            const std::uint64_t F = iv.exact ? 0 : ref::sr_threshold(g, iv.lo, a, 32);
            if (F > 0) {
                if (distinct && run(32, static_cast<std::uint32_t>((std::uint64_t{1} << 32) - F)) != 1)
                    log.add(g.name + " sr r=32 input " + show(x) + ": word 2^32 - F = " +
                            hex((std::uint64_t{1} << 32) - F, 8) + " must round up");
                if (run(32, static_cast<std::uint32_t>((std::uint64_t{1} << 32) - F - 1)) != 0)
                    log.add(g.name + " sr r=32 input " + show(x) + ": word 2^32 - F - 1 = " +
                            hex((std::uint64_t{1} << 32) - F - 1, 8) + " must round down");
            } else if (run(32, 0xFFFFFFFFu) != 0) {
                log.add(g.name + " sr r=32 input " + show(x) + ": F = 0 must never round up");
            }
        }
    }
}

float rand_between(std::mt19937_64& rng, double lo, double hi) {  // a float strictly inside (lo, hi) if one exists
    for (int k = 0; k < 64; ++k) {
        const double u = std::ldexp(static_cast<double>(rng() >> 11), -53);
        const float f = static_cast<float>(lo + (hi - lo) * u);
        if (f > lo && f < hi) return f;
    }
    const float f = std::nextafter(static_cast<float>(lo), HUGE_VALF);
    return f;
}

std::vector<double> sr_samples(const ref::grid& g, std::mt19937_64& rng) {
    std::vector<double> xs;
    auto add = [&](double v) {
        if (v > 0 && is_float(v) && v <= kFltMax) xs.push_back(v);
    };
    const int emin = 1 - g.d.bias();  // exponent of the smallest normal
    const int emax = static_cast<int>((g.max_code() >> g.d.M) & g.d.exp_all_ones()) - g.d.bias();
    const int nb = emax - emin + 1;
    for (int k = emin; k <= emax; ++k) {
        // bfloat16 has 254 binades: sample the first and last few and every 16th
        if (nb > 40 && k > emin + 3 && k < emax - 3 && (k - emin) % 16 != 0) continue;
        const double b = std::ldexp(1.0, k), top = std::min(std::ldexp(1.0, k + 1), g.max());
        for (int j = 0; j < 3; ++j) add(rand_between(rng, b, top));
        if (k < emax) {
            const double step = std::ldexp(1.0, k - g.d.M);
            add(std::nextafter(static_cast<float>(2 * b), 0.0f));  // just below the carry
            add(static_cast<float>(2 * b - step / 3));
            add(rand_between(rng, 2 * b - step, 2 * b));
        }
    }
    if (g.d.M > 0)  // subnormal range
        for (int j = 0; j < 3; ++j) add(rand_between(rng, 0, g.min_normal()));
    // next to zero
    add(std::ldexp(1.0, -149));
    add(g.min_subnormal() / 2);
    add(std::nextafter(static_cast<float>(g.min_subnormal() / 2), 0.0f));
    add(std::nextafter(static_cast<float>(g.min_subnormal() / 2), 1.0f));
    add(static_cast<float>(g.min_subnormal() * 0.999));
    add(rand_between(rng, 0, g.min_subnormal()));
    // next to max and between max and max + step
    add(rand_between(rng, g.mag[g.n - 2], g.max()));
    add(rand_between(rng, g.max(), g.ext()));
    add(rand_between(rng, g.max(), g.ext()));
    add(std::nextafter(static_cast<float>(g.max()), HUGE_VALF));
    add(g.max() + g.top_step() / 2);
    add(std::nextafter(static_cast<float>(g.ext()), 0.0f));
    add(g.ext());
    add(g.ext() + g.top_step() / 3);
    return xs;
}

}  // namespace

TEST_CASE("sr rounds up for exactly floor(f * 2^r) of the 2^r random values, r = 1..16, in every binade",
          "[rounding][sr]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        const std::uint64_t seed = 0xC0FFEE00ull + g.d.bits() * 131 + g.d.M;
        std::mt19937_64 rng(seed);
        failure_log log;
        const std::vector<double> xs = sr_samples(g, rng);
        for (double a : xs) check_sr_counts<T>(g, a, 16, log);
        INFO("format " << g.name << ", " << xs.size() << " sampled magnitudes, seed " << hex(seed, 8));
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("sr is unbiased for every interval of every 8-bit format (r = 1..10)", "[rounding][sr]") {
    ref::for_each_type(ref::small_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        const std::uint64_t seed = 0xFACADEull + g.d.bits();
        std::mt19937_64 rng(seed);
        failure_log log;
        for (std::size_t i = 0; i < g.n; ++i) {  // includes (max, ext)
            const double lo = g.mag[i], hi = g.mag[i + 1];
            check_sr_counts<T>(g, lo + (hi - lo) / 4, 10, log);
            check_sr_counts<T>(g, lo + (hi - lo) * 3 / 4, 10, log);
            check_sr_counts<T>(g, rand_between(rng, lo, hi), 10, log);
        }
        INFO("format " << g.name << ", seed " << hex(seed, 8));
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// Named edge cases.

namespace {

template <class T>
std::uint32_t cvt(double x, ref::mode md = ref::mode::nearest_even, bool sat = false, int r = 32,
                  std::uint32_t w = 0) {
    return ref::bits_of(fewbits::convert<T>(x, ref::make_policy(md, sat, r), w));
}

template <class T>
std::uint32_t cvtf(float x, ref::mode md = ref::mode::nearest_even, bool sat = false, int r = 32,
                   std::uint32_t w = 0) {
    return ref::bits_of(fewbits::convert<T>(x, ref::make_policy(md, sat, r), w));
}

// Checks both overloads (float when exact) against a fixed expected encoding, and
// that the reference agrees with the fixed value.
template <class T>
void edge(double x, ref::mode md, bool sat, std::uint32_t want, int r = 32, std::uint32_t w = 0) {
    const ref::grid& g = ref::grid_of<T>();
    INFO(g.name << " " << policy_str(md, sat, r, w) << " input " << show(x) << " want " << hex(want));
    CHECK(ref::expected(g, md, sat, r, x, w).bits == want);
    CHECK(hex(cvt<T>(x, md, sat, r, w)) == hex(want));
    if (is_float(x)) CHECK(hex(cvtf<T>(static_cast<float>(x), md, sat, r, w)) == hex(want));
}

template <class T>
bool is_nan_result(std::uint32_t b, bool neg) {
    const ref::grid& g = ref::grid_of<T>();
    const ref::decoded d = ref::decode(g.d, b);
    return d.c == ref::cls::nan && d.neg == neg;
}

using M = ref::mode;
const double inf = HUGE_VAL;
const double qnan = std::numeric_limits<double>::quiet_NaN();

}  // namespace

TEST_CASE("e4m3fn edge cases: ties at max, overflow to NaN or max, ties into subnormals", "[rounding][edge]") {
    using T = fewbits::float8_e4m3fn;
    edge<T>(464, M::nearest_even, false, 0x7E);  // tie between 448 (0x7E, even) and 480: even
    edge<T>(464, M::nearest_even, true, 0x7E);
    edge<T>(465, M::nearest_even, false, 0x7F);
    edge<T>(465, M::nearest_even, true, 0x7E);
    edge<T>(-465, M::nearest_even, false, 0xFF);
    edge<T>(-465, M::nearest_even, true, 0xFE);
    edge<T>(464, M::nearest_away, false, 0x7F);
    edge<T>(inf, M::nearest_even, false, 0x7F);
    edge<T>(inf, M::nearest_even, true, 0x7E);
    edge<T>(-inf, M::nearest_even, false, 0xFF);
    edge<T>(-inf, M::nearest_even, true, 0xFE);
    edge<T>(inf, M::toward_zero, false, 0x7F);  // inf is exact: non-saturating keeps it (NaN for fn)
    edge<T>(qnan, M::nearest_even, false, 0x7F);
    edge<T>(-qnan, M::nearest_even, true, 0xFF);
    edge<T>(449, M::up, false, 0x7F);
    edge<T>(449, M::up, true, 0x7E);
    edge<T>(449, M::down, false, 0x7E);
    edge<T>(-449, M::up, false, 0xFE);
    edge<T>(-449, M::down, false, 0xFF);
    edge<T>(1e6, M::toward_zero, false, 0x7E);
    edge<T>(-1e6, M::toward_zero, false, 0xFE);
    edge<T>(470, M::odd, false, 0x7E);  // odd neighbour is 480 (0x7F pattern): overflow, odd gives max
    edge<T>(449, M::stochastic, false, 0x7F, 32, 0xFFFFFFFFu);
    edge<T>(449, M::stochastic, false, 0x7E, 32, 0u);
    edge<T>(449, M::stochastic, true, 0x7E, 32, 0xFFFFFFFFu);
    // smallest subnormal 2^-9 and half of it
    edge<T>(std::ldexp(1.0, -9), M::nearest_even, false, 0x01);
    edge<T>(std::ldexp(1.0, -10), M::nearest_even, false, 0x00);
    edge<T>(-std::ldexp(1.0, -10), M::nearest_even, false, 0x80);
    edge<T>(std::ldexp(1.0, -10), M::nearest_away, false, 0x01);
    edge<T>(-std::ldexp(1.0, -10), M::nearest_away, false, 0x81);
    edge<T>(std::ldexp(1.0, -10), M::up, false, 0x01);
    edge<T>(-std::ldexp(1.0, -10), M::up, false, 0x80);
    edge<T>(-std::ldexp(1.0, -10), M::down, false, 0x81);
    edge<T>(-std::ldexp(1.0, -10), M::toward_zero, false, 0x80);
    edge<T>(std::ldexp(1.0, -10), M::odd, false, 0x01);
    edge<T>(std::ldexp(1.0, -10), M::stochastic, false, 0x00, 1, 0x7FFFFFFFu);
    edge<T>(std::ldexp(1.0, -10), M::stochastic, false, 0x01, 1, 0x80000000u);
    edge<T>(std::ldexp(1.0, -10), M::stochastic, false, 0x00, 32, 0x7FFFFFFFu);
    edge<T>(std::ldexp(1.0, -10), M::stochastic, false, 0x01, 32, 0x80000000u);
    edge<T>(3 * std::ldexp(1.0, -10), M::nearest_even, false, 0x02);
    edge<T>(15 * std::ldexp(1.0, -10), M::nearest_even, false, 0x08);  // tie across the carry into normals
    edge<T>(1.0625, M::nearest_even, false, 0x38);
    edge<T>(1.1875, M::nearest_even, false, 0x3A);
    edge<T>(-0.0, M::nearest_even, false, 0x80);
    edge<T>(1e-30, M::up, false, 0x01);
    edge<T>(-1e-30, M::stochastic, false, 0x80, 32, 0xFFFFFFFFu);  // f < 2^-32: F = 0
}

TEST_CASE("e5m2 edge cases: max, overflow tie to inf, directed overflow", "[rounding][edge]") {
    using T = fewbits::float8_e5m2;
    edge<T>(57344, M::nearest_even, false, 0x7B);
    edge<T>(61440, M::nearest_even, false, 0x7C);  // tie: 0x7B odd, 0x7C even
    edge<T>(61440, M::nearest_even, true, 0x7B);
    edge<T>(61439, M::nearest_even, false, 0x7B);
    edge<T>(61440, M::toward_zero, false, 0x7B);
    edge<T>(-61440, M::nearest_even, false, 0xFC);
    edge<T>(-61440, M::down, false, 0xFC);
    edge<T>(-61440, M::up, false, 0xFB);
    edge<T>(61440, M::odd, false, 0x7B);
    edge<T>(inf, M::toward_zero, false, 0x7C);
    edge<T>(-inf, M::up, false, 0xFC);
    edge<T>(inf, M::nearest_even, true, 0x7B);
    CHECK(is_nan_result<T>(cvt<T>(qnan), false));
    CHECK(is_nan_result<T>(cvt<T>(-qnan), true));
    CHECK(is_nan_result<T>(cvtf<T>(-std::numeric_limits<float>::quiet_NaN(), M::stochastic, true), true));
    edge<T>(std::ldexp(1.0, -17), M::nearest_even, false, 0x00);
    edge<T>(std::ldexp(3.0, -17), M::nearest_even, false, 0x02);
}

TEST_CASE("float16 and bfloat16 edge cases", "[rounding][edge]") {
    using H = fewbits::float16;
    using B = fewbits::bfloat16;
    edge<H>(65504, M::nearest_even, false, 0x7BFF);
    edge<H>(65520, M::nearest_even, false, 0x7C00);
    edge<H>(65520, M::nearest_even, true, 0x7BFF);
    edge<H>(static_cast<double>(65519.99f), M::nearest_even, false, 0x7BFF);
    edge<H>(std::ldexp(1.0, -24), M::nearest_even, false, 0x0001);
    edge<H>(std::ldexp(1.0, -25), M::nearest_even, false, 0x0000);
    edge<H>(-std::ldexp(1.0, -25), M::nearest_even, false, 0x8000);
    edge<H>(std::ldexp(3.0, -25), M::nearest_even, false, 0x0002);
    edge<H>(1 + std::ldexp(1.0, -11), M::nearest_even, false, 0x3C00);
    edge<H>(1 + std::ldexp(3.0, -11), M::nearest_even, false, 0x3C02);
    edge<H>(std::ldexp(1023.5, -24), M::nearest_even, false, 0x0400);  // carry from subnormal to normal
    // FLT_MAX = 2^128 - 2^104 is above the midpoint 2^128 - 2^119 between max (0x7F7F) and 2^128
    edge<B>(static_cast<double>(FLT_MAX), M::nearest_even, false, 0x7F80);
    edge<B>(static_cast<double>(FLT_MAX), M::nearest_even, true, 0x7F7F);
    edge<B>(static_cast<double>(FLT_MAX), M::up, false, 0x7F80);
    edge<B>(static_cast<double>(FLT_MAX), M::toward_zero, false, 0x7F7F);
    edge<B>(std::ldexp(511.0, 119), M::nearest_even, false, 0x7F80);  // the midpoint itself: tie to even (inf)
    edge<B>(std::ldexp(1021.0, 118), M::nearest_even, false, 0x7F7F);
    edge<B>(inf, M::nearest_even, false, 0x7F80);
    edge<B>(1 + std::ldexp(1.0, -8), M::nearest_even, false, 0x3F80);
    edge<B>(1 + std::ldexp(3.0, -8), M::nearest_even, false, 0x3F82);
    edge<B>(std::ldexp(1.0, -133), M::nearest_even, false, 0x0001);
    edge<B>(std::ldexp(1.0, -134), M::nearest_even, false, 0x0000);
    edge<B>(std::ldexp(1.0, -149), M::up, false, 0x0001);
    edge<B>(std::ldexp(1.0, 128) - std::ldexp(1.0, 119), M::nearest_even, false, 0x7F80);  // double only: tie -> even
    edge<B>(std::ldexp(1.0, 128) - std::ldexp(1.0, 119) - std::ldexp(1.0, 100), M::nearest_even, false, 0x7F7F);
}

TEST_CASE("fnuz edge cases: no negative zero, 0x80 is the only NaN", "[rounding][edge]") {
    using T = fewbits::float8_e4m3fnuz;
    using U = fewbits::float8_e5m2fnuz;
    edge<T>(-0.0, M::nearest_even, false, 0x00);
    edge<T>(-std::ldexp(1.0, -11), M::nearest_even, false, 0x00);
    edge<T>(-std::ldexp(1.0, -11), M::toward_zero, false, 0x00);
    edge<T>(-std::ldexp(1.0, -11), M::up, false, 0x00);
    edge<T>(-std::ldexp(1.0, -11), M::down, false, 0x81);
    edge<T>(-std::ldexp(1.0, -11), M::stochastic, false, 0x00, 1, 0u);
    edge<T>(-std::ldexp(1.0, -11), M::stochastic, false, 0x81, 1, 0x80000000u);
    edge<T>(240, M::nearest_even, false, 0x7F);
    edge<T>(248, M::nearest_even, false, 0x80);  // tie: 0x7F odd, next (256) even: overflow -> NaN
    edge<T>(248, M::nearest_even, true, 0x7F);
    edge<T>(-248, M::nearest_even, true, 0xFF);
    edge<T>(247, M::nearest_even, false, 0x7F);
    edge<T>(qnan, M::nearest_even, false, 0x80);
    edge<T>(-qnan, M::nearest_even, true, 0x80);
    edge<T>(inf, M::nearest_even, false, 0x80);
    edge<T>(-inf, M::nearest_even, false, 0x80);
    edge<T>(-inf, M::nearest_even, true, 0xFF);
    edge<T>(1000, M::toward_zero, false, 0x7F);
    edge<U>(57344, M::nearest_even, false, 0x7F);
    edge<U>(61440, M::nearest_even, false, 0x80);
    edge<U>(61440, M::nearest_even, true, 0x7F);
    edge<U>(-0.0, M::down, false, 0x00);
}

TEST_CASE("finite-only formats saturate always and map NaN to +max", "[rounding][edge]") {
    using F4 = fewbits::float4_e2m1fn;
    using F6 = fewbits::float6_e3m2fn;
    using F6b = fewbits::float6_e2m3fn;
    edge<F4>(6, M::nearest_even, false, 0x7);
    edge<F4>(7, M::nearest_even, false, 0x7);
    edge<F4>(-7, M::nearest_even, false, 0xF);
    edge<F4>(1e30, M::up, false, 0x7);
    edge<F4>(inf, M::nearest_even, false, 0x7);
    edge<F4>(-inf, M::nearest_even, false, 0xF);
    edge<F4>(qnan, M::nearest_even, false, 0x7);
    edge<F4>(-qnan, M::nearest_even, false, 0x7);
    edge<F4>(0.25, M::nearest_even, false, 0x0);
    edge<F4>(-0.25, M::nearest_even, false, 0x8);
    edge<F4>(0.75, M::nearest_even, false, 0x2);
    edge<F4>(2.5, M::nearest_even, false, 0x4);
    edge<F4>(5, M::nearest_even, false, 0x6);
    edge<F4>(5, M::nearest_away, false, 0x7);
    edge<F6>(28, M::nearest_even, false, 0x1F);
    edge<F6>(30, M::nearest_even, false, 0x1F);
    edge<F6>(-1e9, M::stochastic, false, 0x3F, 32, 0xFFFFFFFFu);
    edge<F6b>(7.5, M::nearest_even, false, 0x1F);
    edge<F6b>(1e9, M::nearest_away, false, 0x1F);
    edge<F6b>(-qnan, M::toward_zero, true, 0x1F);
}

TEST_CASE("M = 0 formats tie to the even encoding", "[rounding][edge]") {
    using T = ref::float8_e4m0;  // values 2^k, code 0x07 is 1.0
    edge<T>(3, M::nearest_even, false, 0x08);
    edge<T>(6, M::nearest_even, false, 0x0A);
    edge<T>(192, M::nearest_even, false, 0x0E);  // tie between max 128 (0x0E) and ext 256 (0x0F)
    edge<T>(193, M::nearest_even, false, 0x0F);  // beyond max: the NaN 0x0F (no inf in fn)
    edge<T>(std::ldexp(1.0, -7), M::nearest_even, false, 0x00);
    edge<T>(std::ldexp(1.0, -7), M::nearest_away, false, 0x01);
    edge<T>(3, M::odd, false, 0x09);  // neighbours 2 (0x08) and 4 (0x09): the odd encoding is 4
}


// ---------------------------------------------------------------------------------------
// Argument validation.

namespace {

template <class F>
std::string thrown_message(F&& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return std::string("invalid_argument: ") + e.what();
    } catch (const std::exception& e) {
        return std::string("other exception: ") + e.what();
    } catch (...) {
        return "unknown exception";
    }
    return "no exception";
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

TEST_CASE("random_bits outside 1..32 throws invalid_argument naming random_bits, in every mode", "[rounding][args]") {
    failure_log log;
    for (int r : {0, 33, -1, 64, -2147483647 - 1})
        for (ref::mode md : ref::all_modes)
            for (double x : {1.5, 0.0, qnan, inf, 1e6}) {
                fewbits::policy p = ref::make_policy(md, false);
                p.random_bits = r;
                const std::string msgs[] = {
                    thrown_message([&] { (void)fewbits::convert<fewbits::float8_e4m3fn>(static_cast<float>(x), p, 0u); }),
                    thrown_message([&] { (void)fewbits::convert<fewbits::float8_e4m3fn>(x, p, 0u); }),
                    thrown_message([&] { (void)fewbits::convert<fewbits::float16>(static_cast<float>(x), p, 7u); }),
                    thrown_message([&] { (void)fewbits::convert<fewbits::float4_e2m1fn>(x, p, 7u); }),
                };
                for (const std::string& m : msgs)
                    if (!starts_with(m, "invalid_argument") || m.find("random_bits") == std::string::npos ||
                        m.find(std::to_string(r)) == std::string::npos)
                        log.add(std::string("random_bits=") + std::to_string(r) + " mode " + ref::name(md) + " input " +
                                show(x) + ": " + m);
            }
    FEWBITS_REQUIRE_CLEAN(log);
    // the valid extremes do not throw
    for (int r : {1, 32}) {
        fewbits::policy p = ref::make_policy(ref::mode::stochastic, false, r);
        CHECK(thrown_message([&] { (void)fewbits::convert<fewbits::float8_e5m2>(1.3f, p, 5u); }) == "no exception");
    }
}

TEST_CASE("out-of-range enum values throw invalid_argument", "[rounding][args]") {
    fewbits::policy p;
    p.mode = static_cast<fewbits::rounding>(99);
    std::string m = thrown_message([&] { (void)fewbits::convert<fewbits::float8_e4m3fn>(1.0f, p); });
    INFO(m);
    CHECK(starts_with(m, "invalid_argument"));
    m = thrown_message([&] { (void)fewbits::convert<fewbits::bfloat16>(1.0, p); });
    CHECK(starts_with(m, "invalid_argument"));
    fewbits::policy q;
    q.on_overflow = static_cast<fewbits::overflow>(7);
    m = thrown_message([&] { (void)fewbits::convert<fewbits::float8_e4m3fn>(1e9f, q); });
    CHECK(starts_with(m, "invalid_argument"));
    m = thrown_message([&] { (void)fewbits::convert<fewbits::float8_e4m3fn>(1.0f, q); });
    CHECK(starts_with(m, "invalid_argument"));
    p.mode = static_cast<fewbits::rounding>(-1);
    m = thrown_message([&] { (void)fewbits::convert<fewbits::float16>(1.0f, p); });
    CHECK(starts_with(m, "invalid_argument"));
}

// ---------------------------------------------------------------------------------------
// The double overload rounds the exact double.

TEST_CASE("convert(double) rounds the exact double where rounding to float first would differ", "[rounding][double]") {
    using E = fewbits::float8_e4m3fn;
    using H = fewbits::float16;
    using B = fewbits::bfloat16;
    struct case_t {
        const char* what;
        double x;
        std::uint32_t direct;     // the contract
        std::uint32_t via_float;  // what float-first would give (must differ)
        std::uint32_t got_d;
        std::uint32_t got_f;
        std::uint32_t ref_d;
    };
    auto mk = [](auto tg, const char* what, double x, ref::mode md, bool sat, int r, std::uint32_t w,
                 std::uint32_t direct, std::uint32_t via_float) {
        using T = typename decltype(tg)::type;
        const ref::grid& g = ref::grid_of<T>();
        return case_t{what,
                      x,
                      direct,
                      via_float,
                      cvt<T>(x, md, sat, r, w),
                      cvtf<T>(static_cast<float>(x), md, sat, r, w),
                      ref::expected(g, md, sat, r, x, w).bits};
    };
    const case_t cases[] = {
        mk(ref::tag<E>{}, "e4m3 464 + 2^-40 rne: above the tie, overflows", 464 + std::ldexp(1.0, -40),
           M::nearest_even, false, 32, 0, 0x7F, 0x7E),
        mk(ref::tag<E>{}, "e4m3 464 + 2^-40 rne saturate", 464 + std::ldexp(1.0, -40), M::nearest_even, true, 32, 0,
           0x7E, 0x7E),
        mk(ref::tag<E>{}, "e4m3 1 + 2^-4 + 2^-30 rne", 1 + std::ldexp(1.0, -4) + std::ldexp(1.0, -30),
           M::nearest_even, false, 32, 0, 0x39, 0x38),
        mk(ref::tag<E>{}, "e4m3 1 + 2^-40 up", 1 + std::ldexp(1.0, -40), M::up, false, 32, 0, 0x39, 0x38),
        mk(ref::tag<E>{}, "e4m3 -(1 + 2^-40) odd", -(1 + std::ldexp(1.0, -40)), M::odd, false, 32, 0, 0xB9, 0xB8),
        mk(ref::tag<E>{}, "e4m3 1.125 - 2^-43 sr r=32 word 0: F = 2^32 - 1", 1.125 - std::ldexp(1.0, -43),
           M::stochastic, false, 32, 0, 0x38, 0x39),
        mk(ref::tag<E>{}, "e4m3 1.125 - 2^-43 sr r=32 word 1", 1.125 - std::ldexp(1.0, -43), M::stochastic, false,
           32, 1, 0x39, 0x39),
        mk(ref::tag<H>{}, "f16 1 + 2^-11 + 2^-40 rne", 1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40),
           M::nearest_even, false, 32, 0, 0x3C01, 0x3C00),
        mk(ref::tag<H>{}, "f16 65520 - 2^-30 rne", 65520 - std::ldexp(1.0, -30), M::nearest_even, false, 32, 0,
           0x7BFF, 0x7C00),
        mk(ref::tag<B>{}, "bf16 1 + 2^-8 + 2^-40 rne", 1 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40),
           M::nearest_even, false, 32, 0, 0x3F81, 0x3F80),
        mk(ref::tag<B>{}, "bf16 1e39 toward_zero", 1e39, M::toward_zero, false, 32, 0, 0x7F7F, 0x7F80),
        mk(ref::tag<B>{}, "bf16 1e-50 up", 1e-50, M::up, false, 32, 0, 0x0001, 0x0000),
        mk(ref::tag<E>{}, "e4m3 1e-300 up", 1e-300, M::up, false, 32, 0, 0x01, 0x00),
        mk(ref::tag<E>{}, "e4m3 -1e-300 down", -1e-300, M::down, false, 32, 0, 0x81, 0x80),
    };
    for (const case_t& c : cases) {
        INFO(c.what << ": x = " << show(c.x) << " want " << hex(c.direct) << " got " << hex(c.got_d)
                    << "; float-first would give " << hex(c.via_float) << ", convert(float(x)) gave " << hex(c.got_f)
                    << ", reference " << hex(c.ref_d));
        CHECK(c.ref_d == c.direct);
        CHECK(c.got_d == c.direct);
        CHECK(c.got_f == c.via_float);
    }
}

TEST_CASE("convert(double) matches the reference on random doubles near grid points in every mode",
          "[rounding][double]") {
    ref::for_each_type(ref::all_formats{}, [](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        const std::uint64_t seed = 0xD0B1Eull + g.d.E * 17 + g.d.M;
        std::mt19937_64 rng(seed);
        failure_log log;
        for (int k = 0; k < 20000; ++k) {
            const std::size_t i = rng() % g.n;
            const double lo = g.mag[i], hi = g.mag[i + 1];
            // a point at a random dyadic position with up to 52 bits below lo, or near the midpoint
            const int bits = 1 + static_cast<int>(rng() % 52);
            const double u = std::ldexp(static_cast<double>(rng() >> (64 - bits)), -bits);
            double x = (k % 3 == 0) ? lo + (hi - lo) / 2 + (hi - lo) * std::ldexp(u - 0.5, -20) : lo + (hi - lo) * u;
            if (rng() & 1) x = -x;
            const ref::mode md = ref::all_modes[rng() % 7];
            const bool sat = (rng() & 1) != 0;
            const int r = 1 + static_cast<int>(rng() % 32);
            const std::uint32_t w = static_cast<std::uint32_t>(rng());
            check_one<T>(g, md, sat, r, x, w, false, log);
        }
        INFO("format " << g.name << ", seed " << hex(seed, 8));
        FEWBITS_CHECK_CLEAN(log);
    });
}
