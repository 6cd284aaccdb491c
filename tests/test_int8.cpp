// INT8: q = round(|x| / scale) in every mode with the sign applied, clamped to
// [-127, 127] or [-128, 127]; checked against an exact integer reference (the quotient
// |x| / scale is never rounded), exact stochastic-rounding counts, named cases, and the
// validation of scale, random_bits and enum arguments.
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

using M = ref::mode;
const float finf = HUGE_VALF;
const float fnan = std::numeric_limits<float>::quiet_NaN();

fewbits::policy int8_policy(M md, bool full, int r = 32, bool sat = false) {
    fewbits::policy p = ref::make_policy(md, sat, r);
    p.int8 = full ? fewbits::int8_range::full : fewbits::int8_range::symmetric;
    return p;
}

int q8(float x, float scale, M md, bool full = false, int r = 32, std::uint32_t w = 0, bool sat = false) {
    return fewbits::convert_int8(x, scale, int8_policy(md, full, r, sat), w);
}

std::string policy_str(M md, bool full, int r, std::uint32_t w) {
    std::string s = std::string(ref::name(md)) + (full ? "/full" : "/symmetric");
    if (md == M::stochastic) s += " r=" + std::to_string(r) + " word=" + hex(w, 8);
    return s;
}

void check_one(float x, float scale, M md, bool full, int r, std::uint32_t w, failure_log& log) {
    const int want = ref::int8_expected(md, full, r, x, scale, w);
    for (bool sat : {false, true}) {  // the overflow policy does not apply to INT8
        const int got = q8(x, scale, md, full, r, w, sat);
        if (got != want)
            log.add("int8 " + policy_str(md, full, r, w) + (sat ? " (saturate)" : "") + " x " + show(x) + " scale " +
                    show(scale) + ": want " + std::to_string(want) + ", got " + std::to_string(got));
    }
}

void check_all_modes(float x, float scale, failure_log& log) {
    const std::uint32_t words[] = {0u, 0xFFFFFFFFu, 0x80000000u, 0x7FFFFFFFu,
                                   static_cast<std::uint32_t>(fewbits_test::float_bits(x) * 0x9E3779B9u)};
    for (bool full : {false, true})
        for (M md : ref::all_modes) {
            if (md == M::stochastic) {
                for (int r : {1, 8, 16, 32})
                    for (std::uint32_t w : words) check_one(x, scale, md, full, r, w, log);
            } else {
                check_one(x, scale, md, full, 32, words[4], log);
            }
        }
}

std::vector<float> scales() {
    return {1.0f,   0.5f,   0.25f,   3.0f,   0.1f,          1.0f / 3.0f,          7.3f,
            1e-3f,  1e-30f, 1e20f,   1e-38f, std::ldexp(1.0f, -140), std::ldexp(1.0f, -149), 0.0078125f,
            FLT_MAX, 1.17549435e-38f /* FLT_MIN */};
}

}  // namespace

TEST_CASE("int8 matches the exact reference in every mode and both ranges", "[int8]") {
    failure_log log;
    std::size_t n = 0;
    std::mt19937_64 rng(0x1A78ull);
    for (float s : scales()) {
        std::vector<float> xs = {0.0f, -0.0f, finf, -finf, fnan, -fnan, FLT_MAX, -FLT_MAX, std::ldexp(1.0f, -149)};
        for (int k = -131; k <= 131; ++k)
            for (double f : {0.0, 0.25, 0.5, 0.75, 1.0 / 3.0, 0.999}) {
                const float x = static_cast<float>((k + (k < 0 ? -f : f)) * static_cast<double>(s));
                xs.push_back(x);
                xs.push_back(std::nextafter(x, -finf));
                xs.push_back(std::nextafter(x, finf));
            }
        for (int k = 0; k < 300; ++k) {  // random values in (-140 s, 140 s)
            const double u = std::ldexp(static_cast<double>(rng() >> 11), -53) * 280.0 - 140.0;
            xs.push_back(static_cast<float>(u * s));
        }
        for (float x : xs) {
            check_all_modes(x, s, log);
            ++n;
        }
    }
    INFO(n << " (x, scale) pairs");
    FEWBITS_REQUIRE_CLEAN(log);
}

TEST_CASE("int8 named cases: NaN, infinities, saturation, ties, negative zero", "[int8]") {
    CHECK(q8(fnan, 1.0f, M::nearest_even) == 0);
    CHECK(q8(-fnan, 1.0f, M::up, true) == 0);
    CHECK(q8(finf, 1.0f, M::nearest_even) == 127);
    CHECK(q8(-finf, 1.0f, M::nearest_even) == -127);
    CHECK(q8(-finf, 1.0f, M::nearest_even, true) == -128);
    CHECK(q8(finf, 1.0f, M::toward_zero, true) == 127);
    CHECK(q8(1000.0f, 1.0f, M::nearest_even) == 127);
    CHECK(q8(-1000.0f, 1.0f, M::nearest_even) == -127);
    CHECK(q8(-1000.0f, 1.0f, M::nearest_even, true) == -128);
    CHECK(q8(-128.0f, 1.0f, M::nearest_even) == -127);
    CHECK(q8(-128.0f, 1.0f, M::nearest_even, true) == -128);
    CHECK(q8(-127.5f, 1.0f, M::nearest_even, true) == -128);  // tie to even 128
    CHECK(q8(-127.5f, 1.0f, M::toward_zero, true) == -127);
    CHECK(q8(127.5f, 1.0f, M::nearest_even) == 127);
    CHECK(q8(-0.0f, 1.0f, M::down) == 0);
    CHECK(q8(-0.0f, 1.0f, M::nearest_even) == 0);
    CHECK(q8(0.5f, 1.0f, M::nearest_even) == 0);
    CHECK(q8(1.5f, 1.0f, M::nearest_even) == 2);
    CHECK(q8(2.5f, 1.0f, M::nearest_even) == 2);
    CHECK(q8(-2.5f, 1.0f, M::nearest_even) == -2);
    CHECK(q8(0.5f, 1.0f, M::nearest_away) == 1);
    CHECK(q8(-0.5f, 1.0f, M::nearest_away) == -1);
    CHECK(q8(2.5f, 1.0f, M::nearest_away) == 3);
    CHECK(q8(2.25f, 1.0f, M::up) == 3);
    CHECK(q8(-2.25f, 1.0f, M::up) == -2);
    CHECK(q8(-2.25f, 1.0f, M::down) == -3);
    CHECK(q8(-2.75f, 1.0f, M::toward_zero) == -2);
    CHECK(q8(2.25f, 1.0f, M::odd) == 3);
    CHECK(q8(3.25f, 1.0f, M::odd) == 3);
    CHECK(q8(4.0f, 1.0f, M::odd) == 4);  // exact stays
    CHECK(q8(0.25f, 1.0f, M::odd) == 1);
    CHECK(q8(1.25f, 0.5f, M::nearest_even) == 2);  // 2.5 -> 2
    CHECK(q8(0.75f, 0.5f, M::nearest_even) == 2);  // 1.5 -> 2
    // the quotient is exact: 0.3f / 0.1f is not 3 (0.3f = 0.300000011920928955, 0.1f = 0.100000001490116119)
    CHECK(q8(0.3f, 0.1f, M::up) == ref::int8_expected(M::up, false, 32, 0.3f, 0.1f));
    CHECK(q8(0.3f, 0.1f, M::toward_zero) == ref::int8_expected(M::toward_zero, false, 32, 0.3f, 0.1f));
    // subnormal positive scale is valid
    CHECK(q8(std::ldexp(1.0f, -140), std::ldexp(1.0f, -145), M::nearest_even) == 32);
    CHECK(q8(std::ldexp(3.0f, -149), std::ldexp(1.0f, -148), M::nearest_even) == 2);  // 1.5 -> 2
    // SR with f = 1/2: r = 1 splits the two words
    CHECK(q8(2.5f, 1.0f, M::stochastic, false, 1, 0x7FFFFFFFu) == 2);
    CHECK(q8(2.5f, 1.0f, M::stochastic, false, 1, 0x80000000u) == 3);
    CHECK(q8(-2.5f, 1.0f, M::stochastic, false, 1, 0x80000000u) == -3);
    CHECK(q8(127.5f, 1.0f, M::stochastic, false, 32, 0xFFFFFFFFu) == 127);
    CHECK(q8(-127.5f, 1.0f, M::stochastic, true, 32, 0xFFFFFFFFu) == -128);
}

TEST_CASE("int8 sr rounds up for exactly floor(frac * 2^r) of the 2^r random values, r = 1..16", "[int8][sr]") {
    failure_log log;
    std::mt19937_64 rng(0x5A5Aull);
    std::vector<std::pair<float, float>> samples;  // (x, scale)
    for (float s : {1.0f, 0.1f, 3.0f, 1e-30f, std::ldexp(1.0f, -140)}) {
        for (double y : {0.3, 0.5, 1.7, 2.999, 42.42, 126.6, 127.2, 127.9, 0.001, 1e-7}) {
            samples.push_back({static_cast<float>(y * s), s});
            samples.push_back({static_cast<float>(-y * s), s});
        }
        for (int k = 0; k < 6; ++k) {
            const double y = std::ldexp(static_cast<double>(rng() >> 11), -53) * 130.0;
            samples.push_back({static_cast<float>((k % 2 ? -y : y) * s), s});
        }
    }
    for (const auto& [x, s] : samples)
        for (bool full : {false, true}) {
            const ref::int8_split sp = ref::int8_divide(x, s);
            const bool neg = std::signbit(x);
            const int lo = ref::int8_expected(M::toward_zero, full, 32, x, s);
            int hi = neg ? ref::int8_expected(M::down, full, 32, x, s) : ref::int8_expected(M::up, full, 32, x, s);
            for (int r = 1; r <= 16; ++r) {
                const std::uint64_t F = sp.rem == 0 ? 0 : ref::int8_sr_threshold(sp, r);
                std::uint64_t ups = 0, others = 0;
                for (std::uint64_t R = 0; R < (std::uint64_t{1} << r); ++R) {
                    const int got = q8(x, s, M::stochastic, full, r, static_cast<std::uint32_t>(R << (32 - r)));
                    if (got == hi && hi != lo) ++ups;
                    else if (got != lo) ++others;
                }
                if (others != 0 || (hi != lo && ups != F))
                    log.add("int8 sr " + std::string(full ? "full" : "symmetric") + " r=" + std::to_string(r) + " x " +
                            show(x) + " scale " + show(s) + ": " + std::to_string(ups) + " up, " +
                            std::to_string(others) + " neither of " + std::to_string(lo) + "/" + std::to_string(hi) +
                            ", want F = " + std::to_string(F));
            }
            const std::uint64_t F32 = sp.rem == 0 ? 0 : ref::int8_sr_threshold(sp, 32);
            if (F32 > 0 && hi != lo) {
                const int up = q8(x, s, M::stochastic, full, 32, static_cast<std::uint32_t>((std::uint64_t{1} << 32) - F32));
                const int dn =
                    q8(x, s, M::stochastic, full, 32, static_cast<std::uint32_t>((std::uint64_t{1} << 32) - F32 - 1));
                if (up != hi || dn != lo)
                    log.add("int8 sr r=32 threshold x " + show(x) + " scale " + show(s) + " F=" + hex(F32, 8) +
                            ": got " + std::to_string(up) + "/" + std::to_string(dn));
            }
        }
    INFO(samples.size() << " samples");
    FEWBITS_REQUIRE_CLEAN(log);
}

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

TEST_CASE("int8 rejects a scale that is not positive finite, naming scale", "[int8][args]") {
    failure_log log;
    for (float s : {0.0f, -0.0f, -1.0f, -std::ldexp(1.0f, -149), fnan, -fnan, finf, -finf})
        for (M md : ref::all_modes)
            for (float x : {1.0f, 0.0f, fnan}) {
                const std::string m = thrown_message([&] { (void)q8(x, s, md); });
                if (!starts_with(m, "invalid_argument") || m.find("scale") == std::string::npos)
                    log.add("scale " + show(s) + " mode " + ref::name(md) + " x " + show(x) + ": " + m);
            }
    FEWBITS_REQUIRE_CLEAN(log);
    CHECK(thrown_message([] { (void)q8(1.0f, std::ldexp(1.0f, -149), M::nearest_even); }) == "no exception");
    CHECK(thrown_message([] { (void)q8(1.0f, FLT_MAX, M::nearest_even); }) == "no exception");
}

TEST_CASE("int8 rejects random_bits outside 1..32 and out-of-range enums", "[int8][args]") {
    failure_log log;
    for (int r : {0, 33, -1})
        for (M md : ref::all_modes) {
            const std::string m = thrown_message([&] { (void)q8(1.5f, 1.0f, md, false, r, 0u); });
            if (!starts_with(m, "invalid_argument") || m.find("random_bits") == std::string::npos)
                log.add("random_bits=" + std::to_string(r) + " mode " + ref::name(md) + ": " + m);
        }
    FEWBITS_REQUIRE_CLEAN(log);
    fewbits::policy p;
    p.int8 = static_cast<fewbits::int8_range>(5);
    std::string m = thrown_message([&] { (void)fewbits::convert_int8(1.0f, 1.0f, p); });
    INFO(m);
    CHECK(starts_with(m, "invalid_argument"));
    fewbits::policy q;
    q.mode = static_cast<fewbits::rounding>(42);
    m = thrown_message([&] { (void)fewbits::convert_int8(1.0f, 1.0f, q); });
    CHECK(starts_with(m, "invalid_argument"));
    // The value is printed exactly (shortest round trip), not as -0.000000.
    CHECK(thrown_message([] { (void)q8(1.0f, -1e-10f, M::nearest_even); }) ==
          "invalid_argument: fewbits: scale must be positive and finite, got -1e-10");
}
