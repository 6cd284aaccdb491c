// Caller-supplied random words: every kernel's words overload (quantize, fake_quantize,
// sgd_update, sgd_momentum_update with a float and a low-precision velocity, quantize_int8)
// given the stream's own words (fill_random_words) gives exactly the stream call's bits, for
// every format family, every mode and overflow policy, random_bits 32 and 5, both generators,
// at odd lengths on both sides of the kernels' 512-element blocks, with stream offsets that
// cross 2^32; words that differ from the stream's change stochastic results (so the
// overload really reads them) and no other mode's; and a words span of the wrong size throws
// invalid_argument naming it and both sizes, with nothing written.
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using fewbits_test::failure_log;
using fewbits_test::float_bits;
using fewbits_test::float_from_bits;
using fewbits_test::hex;

namespace {

using fewbits::generator;
using fewbits::stream;

// One type per encoding family (ieee, fn, fnuz, finite-only), BF16 (float's exponent range)
// and a generic minifloat.
using word_formats = ref::type_list<fewbits::float8_e5m2, fewbits::float8_e4m3fn, fewbits::float16, fewbits::bfloat16,
                                    fewbits::float8_e4m3fnuz, fewbits::float6_e2m3fn, fewbits::float4_e2m1fn,
                                    ref::float8_e4m1>;

constexpr std::size_t kLengths[] = {1, 7, 33, 511, 513, 1031};

std::uint64_t mix(std::uint64_t z) {  // splitmix64 finaliser: portable test inputs
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Raw bit patterns (every class of float: NaN, inf, subnormal) and magnitudes 2^-20..2^20.
std::vector<float> inputs(std::size_t n, std::uint64_t seed) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t h = mix(seed * 1000003u + i);
        const std::uint32_t hi = static_cast<std::uint32_t>(h >> 32);
        if (h % 5 == 0) {
            v[i] = float_from_bits(hi);
        } else {
            const std::uint32_t e = 127u - 20u + static_cast<std::uint32_t>((h >> 8) % 41);
            v[i] = float_from_bits((hi & 0x80000000u) | (e << 23) | (hi & 0x7FFFFFu));
        }
    }
    return v;
}

// Finite gradients (no inf - inf inside the update's fma).
std::vector<float> gradients(std::size_t n, std::uint64_t seed) {
    std::vector<float> g = inputs(n, seed ^ 0x5151);
    for (float& x : g)
        if (!(x == x) || x - x != 0.0f) x = 0.75f;
    return g;
}

std::vector<fewbits::policy> policies() {
    std::vector<fewbits::policy> v;
    for (int mode = 0; mode <= 6; ++mode)
        for (fewbits::overflow ov : {fewbits::overflow::non_saturating, fewbits::overflow::saturate}) {
            fewbits::policy p;
            p.mode = static_cast<fewbits::rounding>(mode);
            p.on_overflow = ov;
            v.push_back(p);
            if (p.mode == fewbits::rounding::stochastic) {
                p.random_bits = 5;
                v.push_back(p);
            }
        }
    return v;
}

std::vector<std::uint32_t> stream_words(const stream& s, std::size_t n) {
    std::vector<std::uint32_t> w(n);
    fewbits::fill_random_words(s, w);
    return w;
}

template <class T>
std::uint32_t bits_of(const T& t) {
    if constexpr (std::is_same_v<T, float>)
        return float_bits(t);
    else if constexpr (std::is_same_v<T, std::int8_t>)
        return static_cast<std::uint8_t>(t);
    else
        return t.bits();
}

template <class T>
std::size_t count_differences(const std::vector<T>& a, const std::vector<T>& b) {
    std::size_t d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d += bits_of(a[i]) != bits_of(b[i]);
    return d;
}

// Logs the first element where the stream call and the words call differ.
template <class T>
void compare(const std::vector<T>& by_stream, const std::vector<T>& by_words, const std::string& what,
             failure_log& log) {
    for (std::size_t i = 0; i < by_stream.size(); ++i)
        if (bits_of(by_stream[i]) != bits_of(by_words[i])) {
            log.add(what + ": element " + std::to_string(i) + " stream " + hex(bits_of(by_stream[i]), 8) + ", words " +
                    hex(bits_of(by_words[i]), 8));
            return;
        }
}

struct call_case {
    fewbits::policy p;
    stream s;
    std::size_t n;
    std::string what;
};

std::vector<call_case> cases(const char* format) {
    std::vector<call_case> v;
    std::uint64_t k = 0;
    for (const fewbits::policy& p : policies())
        for (generator gen : {generator::counter_hash, generator::philox})
            for (std::size_t n : kLengths) {
                ++k;
                // offsets that cross 2^32 inside the span (the generator re-keys there), or not
                const std::uint64_t offset = k % 2 ? (std::uint64_t{1} << 32) - n / 2 : mix(k) >> 20;
                const stream s{mix(k + 99), offset, gen};
                v.push_back({p, s, n,
                             std::string(format) + " mode " + std::to_string(static_cast<int>(p.mode)) + " overflow " +
                                 std::to_string(static_cast<int>(p.on_overflow)) + " r=" + std::to_string(p.random_bits) +
                                 (gen == generator::philox ? " philox" : " counter_hash") + " n=" + std::to_string(n) +
                                 " offset " + hex(offset, 16)});
            }
    return v;
}

template <class T>
void words_equal_stream(failure_log& log) {
    using V = fewbits::bfloat16;  // the low-precision velocity
    const std::string format = ref::grid_of<T>().name;
    for (const call_case& c : cases(format.c_str())) {
        const std::vector<float> in = inputs(c.n, c.s.seed);
        const std::vector<float> g = gradients(c.n, c.s.seed);
        const std::vector<std::uint32_t> words = stream_words(c.s, c.n);
        const std::vector<std::uint32_t> vwords = stream_words({fewbits::velocity_seed(c.s), c.s.offset, c.s.rng}, c.n);

        std::vector<T> qs(c.n), qw(c.n);
        fewbits::quantize<T>(in, std::span<T>(qs), c.p, c.s);
        fewbits::quantize<T>(in, std::span<T>(qw), c.p, words);
        compare(qs, qw, "quantize " + c.what, log);

        std::vector<float> fs(c.n), fw(c.n);
        fewbits::fake_quantize<T>(in, fs, c.p, c.s);
        fewbits::fake_quantize<T>(in, fw, c.p, words);
        compare(fs, fw, "fake_quantize " + c.what, log);

        std::vector<T> ws = qs, ww = qs;
        fewbits::sgd_update<T>(std::span<T>(ws), g, 0.375f, c.p, c.s);
        fewbits::sgd_update<T>(std::span<T>(ww), g, 0.375f, c.p, words);
        compare(ws, ww, "sgd_update " + c.what, log);

        std::vector<T> ms = qs, mw = qs;
        std::vector<float> vs(in), vw(in);
        for (float& x : vs)
            if (!(x == x) || x - x != 0.0f) x = -0.5f;
        vw = vs;
        fewbits::sgd_momentum_update<T, float>(std::span<T>(ms), std::span<float>(vs), g, 0.25f, 0.875f, c.p, c.s);
        fewbits::sgd_momentum_update<T, float>(std::span<T>(mw), std::span<float>(vw), g, 0.25f, 0.875f, c.p, words);
        compare(ms, mw, "sgd_momentum_update (float velocity) w " + c.what, log);
        compare(vs, vw, "sgd_momentum_update (float velocity) velocity " + c.what, log);

        std::vector<V> bs(c.n);
        fewbits::quantize<V>(g, std::span<V>(bs));
        std::vector<V> bw = bs;
        ms = qs;
        mw = qs;
        fewbits::sgd_momentum_update<T, V>(std::span<T>(ms), std::span<V>(bs), g, 0.25f, 0.875f, c.p, c.s);
        fewbits::sgd_momentum_update<T, V>(std::span<T>(mw), std::span<V>(bw), g, 0.25f, 0.875f, c.p, words, vwords);
        compare(ms, mw, "sgd_momentum_update (bf16 velocity) w " + c.what, log);
        compare(bs, bw, "sgd_momentum_update (bf16 velocity) velocity " + c.what, log);
    }
}

}  // namespace

TEST_CASE("every kernel's words overload given fill_random_words(s) gives the stream call's bits, in every format "
          "family, mode, policy and generator, at odd lengths",
          "[kernels][words]") {
    failure_log log(20);
    ref::for_each_type(word_formats{}, [&](auto t) { words_equal_stream<typename decltype(t)::type>(log); });
    FEWBITS_CHECK_CLEAN(log);
}

TEST_CASE("quantize_int8's words overload given fill_random_words(s) gives the stream call's bits", "[kernels][words][int8]") {
    failure_log log(20);
    for (float scale : {0.015625f, 0.013f, 1.0f, 3e-39f})
        for (fewbits::int8_range range : {fewbits::int8_range::symmetric, fewbits::int8_range::full})
            for (call_case c : cases("int8")) {
                c.p.int8 = range;
                const std::vector<float> raw = inputs(c.n, c.s.seed);
                std::vector<float> in(c.n);
                for (std::size_t i = 0; i < c.n; ++i) in[i] = raw[i] * scale;  // |x| / scale mostly in range
                const std::vector<std::uint32_t> words = stream_words(c.s, c.n);
                std::vector<std::int8_t> qs(c.n), qw(c.n);
                fewbits::quantize_int8(in, std::span<std::int8_t>(qs), scale, c.p, c.s);
                fewbits::quantize_int8(in, std::span<std::int8_t>(qw), scale, c.p, words);
                compare(qs, qw, "quantize_int8 scale " + std::to_string(scale) + " " + c.what, log);
            }
    FEWBITS_CHECK_CLEAN(log);
}

TEST_CASE("the words overloads read the words: other words change stochastic results only", "[kernels][words]") {
    const std::size_t n = 1031;
    const std::vector<float> in = inputs(n, 3);
    const stream s{17, 0};
    const std::vector<std::uint32_t> words = stream_words(s, n);
    const std::vector<std::uint32_t> other = stream_words({18, 0}, n);
    for (int mode = 0; mode <= 6; ++mode) {
        const fewbits::policy p{static_cast<fewbits::rounding>(mode)};
        std::vector<fewbits::float8_e4m3fn> a(n), b(n);
        fewbits::quantize<fewbits::float8_e4m3fn>(in, std::span<fewbits::float8_e4m3fn>(a), p, words);
        fewbits::quantize<fewbits::float8_e4m3fn>(in, std::span<fewbits::float8_e4m3fn>(b), p, other);
        std::vector<std::int8_t> qa(n), qb(n);
        fewbits::quantize_int8(in, std::span<std::int8_t>(qa), 0.013f, p, words);
        fewbits::quantize_int8(in, std::span<std::int8_t>(qb), 0.013f, p, other);
        INFO("mode " << mode);
        if (p.mode == fewbits::rounding::stochastic) {
            // about half of the inexact elements round the other way: hundreds, never none
            CHECK(count_differences(a, b) > 50u);
            CHECK(count_differences(qa, qb) > 50u);
        } else {
            CHECK(count_differences(a, b) == 0u);
            CHECK(count_differences(qa, qb) == 0u);
        }
    }
}

namespace {

std::string thrown(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    } catch (...) {
        return "other exception";
    }
    return "no exception";
}

// The message names `arg` and carries both sizes.
void check_message(const std::string& m, const std::string& arg, std::size_t got, std::size_t want,
                   const std::string& what, failure_log& log) {
    // (built with append: GCC 12 gives a false -Wrestrict for "(" + std::to_string(x))
    std::string sizes("("), other("(");
    sizes.append(std::to_string(got)).append(")");
    other.append(std::to_string(want)).append(")");
    if (m.find(arg + ".size() " + sizes) == std::string::npos || m.find(other) == std::string::npos)
        log.add(what + ": want invalid_argument naming " + arg + " with sizes " + sizes + " and " + other + ", got '" +
                m + "'");
}

}  // namespace

TEST_CASE("a words span of the wrong size throws invalid_argument naming it and both sizes, and nothing is written",
          "[kernels][words][args]") {
    using T = fewbits::float8_e4m3fn;
    using V = fewbits::bfloat16;
    failure_log log(20);
    const std::size_t n = 5;
    const std::vector<float> in = {1.5f, -2.25f, 0.1f, 300.0f, -1e-3f};
    const std::vector<T> q0(n, T::from_bits(0x55));
    const std::vector<float> f0(n, 7.0f);
    const std::vector<std::int8_t> i0(n, 99);
    const std::vector<V> v0(n, V::from_bits(0x3F80));
    for (std::size_t len : {0u, 4u, 6u}) {
        const std::vector<std::uint32_t> bad(len, 1u), good(n, 1u);
        for (fewbits::rounding mode : {fewbits::rounding::stochastic, fewbits::rounding::nearest_even}) {
            const fewbits::policy p{mode};
            const std::string what = " with " + std::to_string(len) + " words, mode " + std::to_string(int(mode));
            std::vector<T> q = q0;
            std::vector<float> f = f0, fv = f0;
            std::vector<std::int8_t> i8 = i0;
            std::vector<V> v = v0;
            check_message(thrown([&] { fewbits::quantize<T>(in, std::span<T>(q), p, bad); }), "words", len, n,
                          "quantize" + what, log);
            check_message(thrown([&] { fewbits::fake_quantize<T>(in, f, p, bad); }), "words", len, n,
                          "fake_quantize" + what, log);
            check_message(thrown([&] { fewbits::sgd_update<T>(std::span<T>(q), in, 0.5f, p, bad); }), "words", len, n,
                          "sgd_update" + what, log);
            check_message(thrown([&] {
                              fewbits::sgd_momentum_update<T, float>(std::span<T>(q), std::span<float>(fv), in, 0.5f,
                                                                     0.5f, p, bad);
                          }),
                          "words", len, n, "sgd_momentum_update" + what, log);
            check_message(thrown([&] {
                              fewbits::sgd_momentum_update<T, V>(std::span<T>(q), std::span<V>(v), in, 0.5f, 0.5f, p,
                                                                 good, bad);
                          }),
                          "velocity_words", len, n, "sgd_momentum_update velocity_words" + what, log);
            check_message(thrown([&] { fewbits::quantize_int8(in, std::span<std::int8_t>(i8), 0.5f, p, bad); }),
                          "words", len, n, "quantize_int8" + what, log);
            if (count_differences(q, q0) || count_differences(f, f0) || count_differences(fv, f0) ||
                count_differences(i8, i0) || count_differences(v, v0))
                log.add("an output was written before throwing" + what);
        }
    }
    // A float velocity is not rounded: velocity_words for it is a mistake, reported as such.
    std::vector<T> q = q0;
    std::vector<float> fv = f0;
    const std::vector<std::uint32_t> good(n, 1u);
    const std::string m = thrown([&] {
        fewbits::sgd_momentum_update<T, float>(std::span<T>(q), std::span<float>(fv), in, 0.5f, 0.5f, {}, good, good);
    });
    if (m.find("velocity_words") == std::string::npos || m.find("5") == std::string::npos)
        log.add("float velocity with velocity_words: want invalid_argument naming velocity_words and its size, got '" +
                m + "'");
    if (count_differences(q, q0) || count_differences(fv, f0)) log.add("float velocity: output written before throwing");
    FEWBITS_CHECK_CLEAN(log);
}
