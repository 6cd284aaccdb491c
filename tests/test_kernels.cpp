// Bulk kernels: every kernel (quantize, dequantize, fake_quantize out of place and in
// place, sgd_update, quantize_int8, dequantize_int8) against the scalar core, bit for bit,
// for every format, mode, overflow policy, random_bits and generator, on boundary and
// random inputs, at every length from 0 to 70 and a few large ones, at unaligned offsets,
// with stream offsets that cross 2^32 and wrap at 2^64; chunked calls equal one whole
// call; stochastic rounding through the kernels is unbiased with the real generators; and
// bad arguments throw std::invalid_argument naming the argument, with nothing written.
//
// The scalar side of every comparison is the contract itself:
//   quantize(in)[i]      == convert<T>(in[i], p, random_word(s.rng, s.seed, s.offset + i))
//   fake_quantize(in)[i] == float(that)                      (bits, NaN included)
//   dequantize(in)[i]    == float(in[i])                     (bits, NaN included)
//   sgd_update: w[i]     <- convert<T>(fma(-lr, g[i], float(w[i])), p, word_i)
//   quantize_int8        == convert_int8(in[i], scale, p, word_i)
//   dequantize_int8      == float(q) * scale
// Set FEWBITS_TEST_SEED to rerun with another seed; every failure prints the seed used.
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using fewbits_test::failure_log;
using fewbits_test::float_bits;
using fewbits_test::float_from_bits;
using fewbits_test::hex;
using fewbits_test::show;

namespace {

using fewbits::generator;
using fewbits::stream;

// The formats of the brief: the named ones and two generic minifloats (E4M0 fn, E4M1 ieee).
using kernel_formats =
    ref::type_list<fewbits::float8_e4m3fn, fewbits::float8_e5m2, fewbits::float16, fewbits::bfloat16,
                   fewbits::float8_e4m3fnuz, fewbits::float8_e5m2fnuz, fewbits::float6_e3m2fn, fewbits::float6_e2m3fn,
                   fewbits::float4_e2m1fn, ref::float8_e4m0, ref::float8_e4m1>;

constexpr generator kGenerators[] = {generator::counter_hash, generator::philox};
constexpr double kFltMax = 3.4028234663852886e38;
constexpr std::size_t kGuard = 5;  // elements after each span that a kernel must not touch

const char* name(generator g) { return g == generator::philox ? "philox" : "counter_hash"; }

// Which code path runs, printed with every failure: the dispatched instruction set (the
// differential tests run once per instruction set this CPU has, in this one process).
std::string build_info() {
    return std::string("simd ") + fewbits::simd_architecture() + " (simd_width=" + std::to_string(fewbits::simd_width()) +
           ")";
}

// Runs f once per instruction set this process can run (scalar, then each SIMD target up
// to the CPU's best), with the kernels forced onto it; restores the best afterwards.
template <class F>
void for_each_simd(F&& f) {
    for (const std::string& arch : fewbits::simd_architectures()) {
        fewbits::set_simd_architecture(arch);
        f();
    }
    fewbits::set_simd_architecture("best");
}

std::uint64_t base_seed() {
    if (const char* s = std::getenv("FEWBITS_TEST_SEED")) return std::strtoull(s, nullptr, 0);
    return 0x6B65726E656C7321ull;
}

using fewbits_test::prng;

template <class V>
void shuffle(std::vector<V>& v, prng& rng) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

// ---------------------------------------------------------------------------------------
// Policies and streams.

struct run_config {
    fewbits::policy p;
    generator gen;
};

std::string describe(const fewbits::policy& p) {
    std::string s = std::string(ref::name(static_cast<ref::mode>(p.mode))) +
                    (p.on_overflow == fewbits::overflow::saturate ? "/saturate" : "/non_saturating");
    if (p.mode == fewbits::rounding::stochastic) s += " random_bits=" + std::to_string(p.random_bits);
    if (p.int8 == fewbits::int8_range::full) s += " int8=full";
    return s;
}

std::string describe(const stream& s) {
    return std::string("stream{seed=") + hex(s.seed, 16) + ", offset=" + hex(s.offset, 16) + ", " + name(s.rng) + "}";
}

// Every mode x both overflow policies x both generators; stochastic with r in {32, 8, 1}.
std::vector<run_config> float_configs() {
    std::vector<run_config> v;
    for (ref::mode md : ref::all_modes)
        for (bool sat : {false, true})
            for (generator gen : kGenerators) {
                if (md == ref::mode::stochastic) {
                    for (int r : {32, 8, 1}) v.push_back({ref::make_policy(md, sat, r), gen});
                } else {
                    v.push_back({ref::make_policy(md, sat, 32), gen});
                }
            }
    return v;
}

// The same for INT8, with both ranges (the overflow policy is ignored there: both anyway).
std::vector<run_config> int8_configs() {
    std::vector<run_config> v;
    for (const run_config& c : float_configs())
        for (fewbits::int8_range range : {fewbits::int8_range::symmetric, fewbits::int8_range::full}) {
            run_config d = c;
            d.p.int8 = range;
            v.push_back(d);
        }
    return v;
}

// A stream whose counters cross 2^32 or wrap past 2^64 inside a span of length n, or are random.
stream random_stream(prng& rng, std::size_t n, generator gen) {
    stream s;
    s.rng = gen;
    s.seed = rng.below(8) == 0 ? 0 : rng.next();
    const std::uint64_t back = rng.below(n + 2);
    switch (rng.below(4)) {
    case 0: s.offset = (std::uint64_t{1} << 32) - back; break;
    case 1: s.offset = std::uint64_t{0} - back; break;  // wraps mod 2^64
    case 2: s.offset = rng.below(1000); break;
    default: s.offset = rng.next(); break;
    }
    return s;
}

std::vector<std::uint32_t> words_for(const stream& s, std::size_t n) {
    std::vector<std::uint32_t> w(n);
    for (std::size_t i = 0; i < n; ++i) w[i] = fewbits::random_word(s.rng, s.seed, s.offset + i);
    return w;
}

// ---------------------------------------------------------------------------------------
// Inputs.

// The float magnitude (1 + m / 2^23) * 2^e, truncated into the subnormals, inf above.
std::uint32_t magnitude_bits(int e, std::uint32_t m) {
    if (e > 127) return 0x7F800000u;
    if (e >= -126) return (static_cast<std::uint32_t>(e + 127) << 23) | m;
    const int sh = -126 - e;
    return sh >= 24 ? 0u : ((0x800000u | m) >> sh);
}

bool is_finite_float(double x) {
    if (!(std::fabs(x) <= kFltMax)) return false;
    return static_cast<double>(static_cast<float>(x)) == x;
}

// x (>= 0) when it is a float, with its float neighbours.
void add_with_neighbours(std::vector<std::uint32_t>& v, double x) {
    if (!(x >= 0) || !is_finite_float(x)) return;
    const std::uint32_t b = float_bits(static_cast<float>(x));
    v.push_back(b);
    if (b > 0) v.push_back(b - 1);
    if (b < 0x7F7FFFFFu) v.push_back(b + 1);
}

// Boundary inputs (both signs) for a format: zeros, float subnormals and limits, the
// format's subnormals and min normal, max and the values around and beyond it, ties in
// many binades, the carry points below each power of two, infinities and NaNs.
std::vector<std::uint32_t> boundary_inputs(const ref::grid& g) {
    std::vector<std::uint32_t> v = {0x00000000u, 0x00000001u, 0x00000002u, 0x007FFFFFu, 0x00800000u,
                                    0x00800001u, 0x7F7FFFFEu, 0x7F7FFFFFu, 0x7F800000u,
                                    // NaNs: quiet, signalling, payloads
                                    0x7FC00000u, 0x7FC00001u, 0x7FFFFFFFu, 0x7F800001u, 0x7FA00000u, 0x7FB5A5A5u,
                                    0x7FE12345u, 0x7F812345u};
    const double min_normal = g.min_normal();
    // the format's subnormals (all of them for small formats), midpoints and neighbours
    std::vector<std::size_t> subs;
    for (std::size_t i = 1; i < g.n && g.mag[i] < min_normal; ++i) subs.push_back(i);
    for (std::size_t k = 0; k < subs.size(); ++k) {
        if (subs.size() > 16 && k > 3 && k + 4 < subs.size() && k % (subs.size() / 8) != 0) continue;
        const std::size_t i = subs[k];
        add_with_neighbours(v, g.mag[i]);
        add_with_neighbours(v, g.mag[i] + (g.mag[i + 1] - g.mag[i]) / 2);
    }
    add_with_neighbours(v, g.min_subnormal() / 2);  // the tie with zero
    add_with_neighbours(v, g.min_subnormal() / 4);
    add_with_neighbours(v, g.min_subnormal() * 3 / 4);
    add_with_neighbours(v, min_normal);
    add_with_neighbours(v, min_normal - g.min_subnormal() / 2);  // the tie across the carry into normals
    // max and beyond
    add_with_neighbours(v, g.max());
    add_with_neighbours(v, g.mag[g.n - 2] + (g.max() - g.mag[g.n - 2]) / 2);
    add_with_neighbours(v, g.max() + g.top_step() / 2);  // midpoint between max and max + step
    add_with_neighbours(v, g.max() + g.top_step() / 4);
    add_with_neighbours(v, g.ext());
    add_with_neighbours(v, g.ext() + g.top_step() / 2);
    add_with_neighbours(v, g.ext() * 2);
    add_with_neighbours(v, g.ext() * 1024);
    // powers of two: carry points below them, ties inside their binade
    const int kmin = static_cast<int>(std::ilogb(g.min_subnormal()));
    const int kmax = static_cast<int>(std::ilogb(g.ext())) + 1;
    for (int k = kmin; k <= kmax; ++k) {
        if (kmax - kmin > 48 && k > kmin + 4 && k < kmax - 4 && k % 8 != 0) continue;  // bfloat16: sample
        const double p = std::ldexp(1.0, k);
        add_with_neighbours(v, p);
        const ref::interval iv = ref::locate(g, p);
        if (iv.exact && iv.lo > 0 && iv.lo <= g.n) {
            const double below = g.mag[iv.lo - 1];
            add_with_neighbours(v, below);
            add_with_neighbours(v, below + (p - below) / 2);  // tie across the carry into 2^k
            add_with_neighbours(v, below + (p - below) * 3 / 4);
        }
        if (iv.exact && iv.lo + 2 <= g.n) {
            const double s1 = g.mag[iv.lo + 1], s2 = g.mag[iv.lo + 2];
            add_with_neighbours(v, p + (s1 - p) / 2);    // tie, lower neighbour even
            add_with_neighbours(v, s1 + (s2 - s1) / 2);  // tie, lower neighbour odd
        }
    }
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n; ++i) v.push_back(v[i] ^ 0x80000000u);
    return v;
}

// Random inputs: log-uniform magnitudes over the format's range and beyond, random bit
// patterns, and values a few float ulps from grid points and midpoints.
std::uint32_t random_input(const ref::grid& g, prng& rng) {
    const int emin = static_cast<int>(std::ilogb(g.min_subnormal())) - 6;
    const int emax = std::min(127, static_cast<int>(std::ilogb(g.ext())) + 6);
    const std::uint32_t sign = (rng.u32() & 1u) << 31;
    std::uint32_t mag = 0;
    switch (rng.below(8)) {
    case 0:
    case 1: return rng.u32();
    case 2:
    case 3:
    case 4:
        mag = magnitude_bits(emin + static_cast<int>(rng.below(static_cast<std::uint64_t>(emax - emin + 1))),
                             rng.u32() & 0x7FFFFFu);
        break;
    case 5:
    case 6: {  // a grid point or midpoint, plus or minus a few float ulps
        const std::size_t i = rng.below(g.n);
        double x = g.mag[i];
        if (rng.below(2) != 0) x += (g.mag[i + 1] - g.mag[i]) / 2;
        if (!is_finite_float(x)) x = g.max();
        mag = float_bits(static_cast<float>(x));
        const std::uint32_t k = static_cast<std::uint32_t>(rng.below(7));
        if (rng.below(2) != 0) mag = mag >= k ? mag - k : 0;
        else mag = std::min(mag + k, 0x7F7FFFFFu);
        break;
    }
    default: {  // a dyadic point with few bits inside a grid interval: quarters, eighths, ...
        const std::size_t i = rng.below(g.n);
        const int b = 1 + static_cast<int>(rng.below(6));
        const double x = g.mag[i] + (g.mag[i + 1] - g.mag[i]) * std::ldexp(static_cast<double>(rng.below(1u << b)), -b);
        mag = is_finite_float(x) ? float_bits(static_cast<float>(x)) : 0x7F7FFFFFu;
        break;
    }
    }
    return sign | mag;
}

// Boundary and random inputs, shuffled so that every boundary value meets many lane positions.
std::vector<float> input_sequence(const ref::grid& g, prng& rng) {
    std::vector<std::uint32_t> bits = boundary_inputs(g);
    const std::size_t randoms = std::max<std::size_t>(6000, 3 * bits.size());
    for (std::size_t i = 0; i < randoms; ++i) bits.push_back(random_input(g, rng));
    shuffle(bits, rng);
    std::vector<float> v(bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) v[i] = float_from_bits(bits[i]);
    return v;
}

constexpr std::size_t kLargeLengths[] = {1000, 4099, 65537};

// Every length 0..70 at input offsets 0..3 (the output at 3..0), then the large ones.
template <class F>
void for_each_shape(F&& f) {
    for (std::size_t len = 0; len <= 70; ++len)
        for (std::size_t o = 0; o < 4; ++o) f(len, o, 3 - o);
    for (std::size_t len : kLargeLengths) f(len, len % 4, (len + 1) % 4);
}

template <class T>
T sentinel(std::size_t j) {
    return T::from_bits(static_cast<typename T::storage_type>(0xA5u + 0x3Bu * j));
}
float float_sentinel(std::size_t j) { return float_from_bits(0x7FA5A5A5u ^ static_cast<std::uint32_t>(j * 0x9E3779B9u)); }

template <class T>
std::uint32_t bits_of(T t) {
    return static_cast<std::uint32_t>(t.bits());
}

// Checks that the elements of buf outside [at, at + len) still hold their sentinels.
template <class V, class S>
void check_guards(const std::vector<V>& buf, std::size_t at, std::size_t len, S&& sentinel_bits, const std::string& ctx,
                  failure_log& log) {
    for (std::size_t j = 0; j < buf.size(); ++j) {
        if (j >= at && j < at + len) continue;
        const std::uint32_t want = sentinel_bits(j);
        std::uint32_t got;
        if constexpr (std::is_same_v<V, float>) got = float_bits(buf[j]);
        else if constexpr (std::is_same_v<V, std::int8_t>) got = static_cast<std::uint8_t>(buf[j]);
        else got = bits_of(buf[j]);
        if (got != want) {
            log.add(ctx + ": wrote outside the span at buffer element " + std::to_string(j) + " (span at " +
                    std::to_string(at) + ", length " + std::to_string(len) + "): " + hex(want, 8) + " became " +
                    hex(got, 8));
            return;
        }
    }
}

template <class F>
bool call_logged(F&& f, const std::string& ctx, failure_log& log) {
    try {
        f();
        return true;
    } catch (const std::exception& e) {
        log.add(ctx + ": threw " + e.what());
    }
    return false;
}

float pick_lr(std::size_t k) {
    static const float lrs[] = {0.5f, 1e-3f, 1.0f, 0.0f, -0.25f, 3.0f, 1e-30f, 65536.0f, 0.1f, -0.0f};
    return lrs[k % (sizeof lrs / sizeof lrs[0])];
}

std::string seed_note(std::uint64_t seed) { return "test seed " + hex(seed, 16) + ", " + build_info(); }

}  // namespace

// ---------------------------------------------------------------------------------------
// quantize and fake_quantize.

namespace {

template <class T>
void differential_quantize(std::uint64_t seed, failure_log& log) {
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    const std::vector<float> seq = input_sequence(g, rng);
    std::size_t pos = 0;
    for (const run_config& c : float_configs()) {
        pos = (pos + 7919) % seq.size();
        for_each_shape([&](std::size_t len, std::size_t oin, std::size_t oout) {
            std::vector<float> inbuf(oin + len + kGuard);
            for (std::size_t j = 0; j < inbuf.size(); ++j) inbuf[j] = float_sentinel(j + 1000);
            for (std::size_t i = 0; i < len; ++i) inbuf[oin + i] = seq[(pos + i) % seq.size()];
            pos = (pos + 2 * len + 1) % seq.size();
            const std::span<const float> in(inbuf.data() + oin, len);
            const stream s = random_stream(rng, len, c.gen);
            const std::vector<std::uint32_t> words = words_for(s, len);
            std::vector<std::uint32_t> want(len);
            for (std::size_t i = 0; i < len; ++i) want[i] = bits_of(fewbits::convert<T>(in[i], c.p, words[i]));
            auto ctx = [&](const char* kernel) {
                return std::string(kernel) + "<" + g.name + "> " + describe(c.p) + " " + describe(s) + " length " +
                       std::to_string(len) + " (in at +" + std::to_string(oin) + ", out at +" + std::to_string(oout) +
                       ")";
            };
            auto element = [&](std::size_t i, std::uint32_t want_bits, std::uint32_t got_bits, int digits) {
                return " index " + std::to_string(i) + " input " + show(in[i]) + " word " + hex(words[i], 8) +
                       ": want " + hex(want_bits, digits) + ", got " + hex(got_bits, digits);
            };
            const int digits = g.d.bits() > 8 ? 4 : 2;

            // quantize
            std::vector<T> q(oout + len + kGuard);
            for (std::size_t j = 0; j < q.size(); ++j) q[j] = sentinel<T>(j);
            if (call_logged([&] { fewbits::quantize<T>(in, std::span<T>(q.data() + oout, len), c.p, s); },
                            ctx("quantize"), log)) {
                for (std::size_t i = 0; i < len; ++i)
                    if (bits_of(q[oout + i]) != want[i]) {
                        log.add(ctx("quantize") + element(i, want[i], bits_of(q[oout + i]), digits));
                        break;
                    }
                check_guards(q, oout, len, [](std::size_t j) { return bits_of(sentinel<T>(j)); }, ctx("quantize"), log);
            }

            // fake_quantize, out of place: the float value of the quantized encoding, bit for bit
            std::vector<std::uint32_t> want_f(len);
            for (std::size_t i = 0; i < len; ++i) want_f[i] = float_bits(static_cast<float>(T::from_bits(
                                                      static_cast<typename T::storage_type>(want[i]))));
            std::vector<float> f(oout + len + kGuard);
            for (std::size_t j = 0; j < f.size(); ++j) f[j] = float_sentinel(j);
            if (call_logged([&] { fewbits::fake_quantize<T>(in, std::span<float>(f.data() + oout, len), c.p, s); },
                            ctx("fake_quantize"), log)) {
                for (std::size_t i = 0; i < len; ++i)
                    if (float_bits(f[oout + i]) != want_f[i]) {
                        log.add(ctx("fake_quantize") + element(i, want_f[i], float_bits(f[oout + i]), 8));
                        break;
                    }
                check_guards(f, oout, len, [](std::size_t j) { return float_bits(float_sentinel(j)); },
                             ctx("fake_quantize"), log);
            }

            // fake_quantize in place
            std::vector<float> ip = inbuf;
            const std::span<float> io(ip.data() + oin, len);
            if (call_logged([&] { fewbits::fake_quantize<T>(io, io, c.p, s); }, ctx("fake_quantize in place"), log)) {
                for (std::size_t i = 0; i < len; ++i)
                    if (float_bits(io[i]) != want_f[i]) {
                        log.add(ctx("fake_quantize in place") + element(i, want_f[i], float_bits(io[i]), 8));
                        break;
                    }
                check_guards(ip, oin, len, [](std::size_t j) { return float_bits(float_sentinel(j + 1000)); },
                             ctx("fake_quantize in place"), log);
            }
        });
    }
}

}  // namespace

TEST_CASE("quantize and fake_quantize (out of place and in place) match convert bit for bit in every format, mode, "
          "policy and generator, at every length 0..70, large lengths and unaligned offsets",
          "[kernels][differential]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed();
        ref::for_each_type(kernel_formats{}, [&](auto t) {
            using T = typename decltype(t)::type;
            const ref::grid& g = ref::grid_of<T>();
            failure_log log;
            const std::uint64_t fseed = seed ^ (0x100000001B3ull * (g.d.E * 64 + g.d.M * 4 + static_cast<int>(g.d.fam)));
            differential_quantize<T>(fseed, log);
            INFO("format " << g.name << ", " << seed_note(fseed));
            FEWBITS_CHECK_CLEAN(log);
        });
    });
}

// ---------------------------------------------------------------------------------------
// sgd_update.

namespace {

// Weights: every kind of encoding (NaN, inf, max, subnormals, zeros) and rounded inputs.
template <class T>
std::vector<T> weight_sequence(const std::vector<float>& seq, prng& rng) {
    using S = typename T::storage_type;
    const ref::grid& g = ref::grid_of<T>();
    std::vector<T> w(seq.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        switch (i % 4) {
        case 0: w[i] = T::from_bits(static_cast<S>(rng.u32())); break;
        case 1: w[i] = T::from_bits(static_cast<S>(g.max_code() - rng.below(3) + (rng.below(2) ? g.d.sign_mask() : 0))); break;
        default: w[i] = fewbits::convert<T>(seq[(i * 7 + 3) % seq.size()]); break;
        }
    }
    return w;
}

template <class T>
void differential_sgd(std::uint64_t seed, failure_log& log) {
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    const std::vector<float> seq = input_sequence(g, rng);
    const std::vector<T> wseq = weight_sequence<T>(seq, rng);
    std::size_t pos = 0, wpos = 0, k = 0;
    for (const run_config& c : float_configs()) {
        pos = (pos + 7919) % seq.size();
        for_each_shape([&](std::size_t len, std::size_t oin, std::size_t oout) {
            std::vector<float> gbuf(oin + len + kGuard);
            for (std::size_t j = 0; j < gbuf.size(); ++j) gbuf[j] = float_sentinel(j);
            for (std::size_t i = 0; i < len; ++i) gbuf[oin + i] = seq[(pos + i) % seq.size()];
            pos = (pos + 2 * len + 1) % seq.size();
            std::vector<T> w(oout + len + kGuard);
            for (std::size_t j = 0; j < w.size(); ++j) w[j] = sentinel<T>(j);
            for (std::size_t i = 0; i < len; ++i) w[oout + i] = wseq[(wpos + i) % wseq.size()];
            wpos = (wpos + len + 3) % wseq.size();
            const std::vector<T> w0 = w;
            const float lr = pick_lr(k++);
            const std::span<const float> gs(gbuf.data() + oin, len);
            const stream s = random_stream(rng, len, c.gen);
            const std::vector<std::uint32_t> words = words_for(s, len);
            auto ctx = [&] {
                return std::string("sgd_update<") + g.name + "> " + describe(c.p) + " " + describe(s) + " lr " +
                       show(lr) + " length " + std::to_string(len) + " (g at +" + std::to_string(oin) + ", w at +" +
                       std::to_string(oout) + ")";
            };
            if (!call_logged([&] { fewbits::sgd_update<T>(std::span<T>(w.data() + oout, len), gs, lr, c.p, s); }, ctx(),
                             log))
                return;
            for (std::size_t i = 0; i < len; ++i) {
                const float w_in = static_cast<float>(w0[oout + i]);
                const float exact = std::fma(-lr, gs[i], w_in);
                const std::uint32_t want = bits_of(fewbits::convert<T>(exact, c.p, words[i]));
                const std::uint32_t got = bits_of(w[oout + i]);
                if (got != want) {
                    log.add(ctx() + " index " + std::to_string(i) + " w " + hex(bits_of(w0[oout + i]), 4) + " = " +
                            show(w_in) + ", g " + show(gs[i]) + ", fma(-lr, g, w) " + show(exact) + ", word " +
                            hex(words[i], 8) + ": want " + hex(want, 4) + ", got " + hex(got, 4));
                    break;
                }
            }
            check_guards(w, oout, len, [](std::size_t j) { return bits_of(sentinel<T>(j)); }, ctx(), log);
        });
    }
}

}  // namespace

TEST_CASE("sgd_update stores convert(fma(-lr, g, w)) bit for bit in every format, mode, policy and generator, at "
          "every length 0..70, large lengths and unaligned offsets",
          "[kernels][differential][sgd]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0x5344ull;
        ref::for_each_type(kernel_formats{}, [&](auto t) {
            using T = typename decltype(t)::type;
            const ref::grid& g = ref::grid_of<T>();
            failure_log log;
            const std::uint64_t fseed = seed ^ (0x100000001B3ull * (g.d.E * 64 + g.d.M * 4 + static_cast<int>(g.d.fam)));
            differential_sgd<T>(fseed, log);
            INFO("format " << g.name << ", " << seed_note(fseed));
            FEWBITS_CHECK_CLEAN(log);
        });
    });
}

// ---------------------------------------------------------------------------------------
// dequantize.

namespace {

template <class T>
void differential_dequantize(std::uint64_t seed, failure_log& log) {
    using S = typename T::storage_type;
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    std::vector<T> codes(g.d.count());
    for (std::uint32_t c = 0; c < g.d.count(); ++c) codes[c] = T::from_bits(static_cast<S>(c));
    shuffle(codes, rng);
    std::size_t pos = 0;
    auto run = [&](std::size_t len, std::size_t oin, std::size_t oout) {
        std::vector<T> inbuf(oin + len + kGuard);
        for (std::size_t j = 0; j < inbuf.size(); ++j) inbuf[j] = sentinel<T>(j);
        for (std::size_t i = 0; i < len; ++i) inbuf[oin + i] = codes[(pos + i) % codes.size()];
        pos = (pos + 2 * len + 1) % codes.size();
        const std::span<const T> in(inbuf.data() + oin, len);
        std::vector<float> out(oout + len + kGuard);
        for (std::size_t j = 0; j < out.size(); ++j) out[j] = float_sentinel(j);
        const std::string ctx = std::string("dequantize<") + g.name + "> length " + std::to_string(len) +
                                " (in at +" + std::to_string(oin) + ", out at +" + std::to_string(oout) + ")";
        if (!call_logged([&] { fewbits::dequantize<T>(in, std::span<float>(out.data() + oout, len)); }, ctx, log))
            return;
        for (std::size_t i = 0; i < len; ++i) {
            const std::uint32_t want = float_bits(static_cast<float>(in[i]));
            const std::uint32_t got = float_bits(out[oout + i]);
            if (got != want) {
                log.add(ctx + " index " + std::to_string(i) + " encoding " + hex(bits_of(in[i]), 4) + ": want " +
                        hex(want, 8) + ", got " + hex(got, 8));
                break;
            }
        }
        check_guards(out, oout, len, [](std::size_t j) { return float_bits(float_sentinel(j)); }, ctx, log);
    };
    for (int round = 0; round < 4; ++round) for_each_shape(run);
    run(codes.size(), 1, 2);  // every encoding in one call
}

}  // namespace

TEST_CASE("dequantize gives float(in[i]) bit for bit, NaN bits included, for every encoding of every format",
          "[kernels][differential]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0xDEull;
        ref::for_each_type(kernel_formats{}, [&](auto t) {
            using T = typename decltype(t)::type;
            const ref::grid& g = ref::grid_of<T>();
            failure_log log;
            differential_dequantize<T>(seed + g.d.bits() * 131 + g.d.M, log);
            INFO("format " << g.name << ", " << seed_note(seed));
            FEWBITS_CHECK_CLEAN(log);
        });
    });
}

// ---------------------------------------------------------------------------------------
// Blocks whose inputs all lie in the format's normal range take a shorter path in the
// dispatched kernels (encode_normal); the inputs above rarely fill a whole vector with such
// values, so these do: grid points and midpoints from the smallest normal to max, a few float
// ulps either side (clamped into the range), ties, the carry into max, log-uniform values; in
// some calls one element just outside the range (a subnormal, max's rounding boundary, inf,
// NaN) sends that block back to the full core.

namespace {

template <class T>
std::vector<float> normal_range_inputs(const ref::grid& g, prng& rng, std::size_t count) {
    const double lo = g.min_normal(), hi = g.max();
    const std::uint32_t lo_bits = float_bits(static_cast<float>(lo)), hi_bits = float_bits(static_cast<float>(hi));
    std::size_t first = 0;
    while (g.mag[first] < lo) ++first;
    std::vector<float> v;
    v.reserve(count);
    while (v.size() < count) {
        std::uint32_t b;
        const std::size_t i = first + rng.below(g.n - first);
        switch (rng.below(4)) {
        case 0: b = float_bits(static_cast<float>(g.mag[i])); break;
        case 1: {  // a midpoint or a dyadic point inside an interval, plus or minus a few ulps
            const std::size_t j = std::min(i, g.n - 2);
            const double x = g.mag[j] + (g.mag[j + 1] - g.mag[j]) * std::ldexp(double(rng.below(16)), -4);
            b = float_bits(static_cast<float>(x)) + static_cast<std::uint32_t>(rng.below(5)) - 2u;
            break;
        }
        case 2: b = lo_bits + static_cast<std::uint32_t>(rng.below(hi_bits - lo_bits + 1)); break;
        default: b = rng.below(2) ? hi_bits - static_cast<std::uint32_t>(rng.below(4)) : lo_bits + static_cast<std::uint32_t>(rng.below(4));
        }
        b = std::clamp(b, lo_bits, hi_bits);
        v.push_back(float_from_bits(b | (static_cast<std::uint32_t>(rng.below(2)) << 31)));
    }
    return v;
}

template <class T>
void differential_normal_range(std::uint64_t seed, failure_log& log) {
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    const std::uint32_t outside[] = {float_bits(static_cast<float>(g.min_normal())) - 1u,
                                     float_bits(static_cast<float>(g.max())) + 1u, 0x7F800000u, 0x7FC00001u, 0u};
    for (const run_config& c : float_configs()) {
        if (c.gen == generator::philox) continue;  // the words' source does not matter here
        for (std::size_t len : {16u, 64u, 545u, 1000u, 4099u}) {
            std::vector<float> in = normal_range_inputs<T>(g, rng, len);
            if (rng.below(3) == 0) in[rng.below(len)] = float_from_bits(outside[rng.below(5)] | (rng.u32() & 0x80000000u));
            const stream s = random_stream(rng, len, c.gen);
            const std::vector<std::uint32_t> words = words_for(s, len);
            std::vector<T> q(len);
            fewbits::quantize<T>(in, q, c.p, s);
            for (std::size_t i = 0; i < len; ++i) {
                const T want = fewbits::convert<T>(in[i], c.p, words[i]);
                if (bits_of(q[i]) != bits_of(want)) {
                    log.add(std::string("quantize<") + g.name + "> normal-range inputs " + describe(c.p) + " " + describe(s) +
                            " length " + std::to_string(len) + " index " + std::to_string(i) + " input " + show(in[i]) +
                            " word " + hex(words[i], 8) + ": want " + hex(bits_of(want), 4) + ", got " + hex(bits_of(q[i]), 4));
                    break;
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("quantize matches convert bit for bit on inputs that all lie in the format's normal range, in every format "
          "and mode",
          "[kernels][differential]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0x40E3ull;
        ref::for_each_type(kernel_formats{}, [&](auto t) {
            using T = typename decltype(t)::type;
            const ref::grid& g = ref::grid_of<T>();
            failure_log log;
            differential_normal_range<T>(seed + g.d.bits() * 131 + g.d.M, log);
            INFO("format " << g.name << ", " << seed_note(seed));
            FEWBITS_CHECK_CLEAN(log);
        });
    });
}

// ---------------------------------------------------------------------------------------
// INT8.

namespace {

const std::vector<float>& int8_scales() {
    // Powers of two take their own path in the dispatched kernels (down to 2^-148), others a
    // reciprocal product corrected to the exact quotient: both kinds, normal and subnormal.
    static const std::vector<float> s = {1.0f,   0.015625f, 0.0123f, 0.1f,   7.0f,
                                         3e-39f /* subnormal */, std::ldexp(1.0f, -149), 1e30f, 1e-30f, FLT_MAX,
                                         std::ldexp(1.0f, -148), std::ldexp(1.0f, -130), std::ldexp(1.0f, -126),
                                         std::ldexp(1.0f, 100), std::ldexp(1.0f, 127), std::ldexp(1.0f, -9)};
    return s;
}

// Inputs for one scale: the rounding boundaries k * scale and (k + 1/2) * scale with
// their float neighbours, the ends of both ranges, specials, and random values.
std::vector<float> int8_inputs(float scale, prng& rng) {
    std::vector<std::uint32_t> v = {0x00000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu,
                                    0x7F800000u, 0x7FC00000u, 0x7F800001u, 0x7FE12345u};
    for (int k = 0; k <= 131; ++k)
        for (double frac : {0.0, 0.5, 0.25}) {
            const double x = (k + frac) * static_cast<double>(scale);
            if (!is_finite_float(x)) {
                if (std::fabs(x) <= kFltMax) v.push_back(float_bits(static_cast<float>(x)));  // rounded product
                continue;
            }
            add_with_neighbours(v, x);
        }
    for (int i = 0; i < 1500; ++i) {
        switch (rng.below(4)) {
        case 0: v.push_back(rng.u32()); break;
        case 1: {  // log-uniform around the scale: |x| / scale in [2^-40, 2^10]
            const int e = std::ilogb(scale) - 40 + static_cast<int>(rng.below(51));
            v.push_back(magnitude_bits(e, rng.u32() & 0x7FFFFFu));
            break;
        }
        default: {  // scale times a random real in [0, 140)
            const double x = static_cast<double>(scale) * std::ldexp(static_cast<double>(rng.below(140u << 20)), -20);
            v.push_back(float_bits(static_cast<float>(std::min(x, kFltMax))));
            break;
        }
        }
    }
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n; ++i) v.push_back(v[i] ^ 0x80000000u);
    shuffle(v, rng);
    std::vector<float> f(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) f[i] = float_from_bits(v[i]);
    return f;
}

std::uint32_t int8_sentinel(std::size_t j) { return static_cast<std::uint8_t>(0x5Au + 0x47u * j); }

}  // namespace

TEST_CASE("quantize_int8 matches convert_int8 bit for bit in every mode, range and generator, for many scales, at "
          "every length 0..70, large lengths and unaligned offsets",
          "[kernels][differential][int8]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0x1A78ull;
        prng rng(seed);
        std::vector<std::vector<float>> pools;
        for (float sc : int8_scales()) pools.push_back(int8_inputs(sc, rng));
        failure_log log;
        std::size_t pos = 0, k = 0;
        for (const run_config& c : int8_configs()) {
            for_each_shape([&](std::size_t len, std::size_t oin, std::size_t oout) {
                const std::size_t si = k++ % int8_scales().size();
                const float scale = int8_scales()[si];
                const std::vector<float>& pool = pools[si];
                std::vector<float> inbuf(oin + len + kGuard);
                for (std::size_t j = 0; j < inbuf.size(); ++j) inbuf[j] = float_sentinel(j);
                for (std::size_t i = 0; i < len; ++i) inbuf[oin + i] = pool[(pos + i) % pool.size()];
                pos = (pos + 2 * len + 1) % 100003;
                const std::span<const float> in(inbuf.data() + oin, len);
                const stream s = random_stream(rng, len, c.gen);
                const std::vector<std::uint32_t> words = words_for(s, len);
                std::vector<std::int8_t> out(oout + len + kGuard);
                for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<std::int8_t>(int8_sentinel(j));
                auto ctx = [&] {
                    return "quantize_int8 " + describe(c.p) + " scale " + show(scale) + " " + describe(s) + " length " +
                           std::to_string(len) + " (in at +" + std::to_string(oin) + ", out at +" + std::to_string(oout) +
                           ")";
                };
                if (!call_logged(
                        [&] { fewbits::quantize_int8(in, std::span<std::int8_t>(out.data() + oout, len), scale, c.p, s); },
                        ctx(), log))
                    return;
                for (std::size_t i = 0; i < len; ++i) {
                    const int want = fewbits::convert_int8(in[i], scale, c.p, words[i]);
                    const int got = out[oout + i];
                    if (got != want) {
                        log.add(ctx() + " index " + std::to_string(i) + " input " + show(in[i]) + " word " +
                                hex(words[i], 8) + ": want " + std::to_string(want) + ", got " + std::to_string(got));
                        break;
                    }
                }
                check_guards(out, oout, len, int8_sentinel, ctx(), log);
            });
        }
        INFO(seed_note(seed));
        FEWBITS_CHECK_CLEAN(log);
    });
}

TEST_CASE("dequantize_int8 gives float(q) * scale bit for bit for every q and many scales", "[kernels][differential][int8]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0xD18ull;
        prng rng(seed);
        std::vector<std::int8_t> qs(256);
        for (int q = 0; q < 256; ++q) qs[q] = static_cast<std::int8_t>(q - 128);
        std::vector<float> scales = int8_scales();
        for (float extra : {0.5f, 3.0f, 1.17549435e-38f, 2.5e38f}) scales.push_back(extra);
        failure_log log;
        std::size_t pos = 0, k = 0;
        for (int round = 0; round < 3; ++round) {
            shuffle(qs, rng);
            for_each_shape([&](std::size_t len, std::size_t oin, std::size_t oout) {
                const float scale = scales[k++ % scales.size()];
                std::vector<std::int8_t> inbuf(oin + len + kGuard);
                for (std::size_t j = 0; j < inbuf.size(); ++j) inbuf[j] = static_cast<std::int8_t>(int8_sentinel(j));
                for (std::size_t i = 0; i < len; ++i) inbuf[oin + i] = qs[(pos + i) % qs.size()];
                pos = (pos + 2 * len + 1) % qs.size();
                const std::span<const std::int8_t> in(inbuf.data() + oin, len);
                std::vector<float> out(oout + len + kGuard);
                for (std::size_t j = 0; j < out.size(); ++j) out[j] = float_sentinel(j);
                const std::string ctx = "dequantize_int8 scale " + show(scale) + " length " + std::to_string(len) +
                                        " (in at +" + std::to_string(oin) + ", out at +" + std::to_string(oout) + ")";
                if (!call_logged([&] { fewbits::dequantize_int8(in, std::span<float>(out.data() + oout, len), scale); }, ctx,
                                 log))
                    return;
                for (std::size_t i = 0; i < len; ++i) {
                    const std::uint32_t want = float_bits(static_cast<float>(in[i]) * scale);
                    const std::uint32_t got = float_bits(out[oout + i]);
                    if (got != want) {
                        log.add(ctx + " index " + std::to_string(i) + " q " + std::to_string(in[i]) + ": want " +
                                hex(want, 8) + ", got " + hex(got, 8));
                        break;
                    }
                }
                check_guards(out, oout, len, [](std::size_t j) { return float_bits(float_sentinel(j)); }, ctx, log);
            });
        }
        INFO(seed_note(seed));
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// Chunking: element i always gets the word of counter s.offset + i, however the array is split.

namespace {

// Sets of cut points for an array of n elements: single cuts at the SIMD-relevant sizes,
// a split into chunks of those sizes in turn, and random splits.
std::vector<std::vector<std::size_t>> partitions(std::size_t n, prng& rng) {
    static const std::size_t sizes[] = {1, 15, 16, 17, 63, 64, 65};
    std::vector<std::vector<std::size_t>> v;
    for (std::size_t c : sizes) v.push_back({c});
    v.push_back({n - 1});
    std::vector<std::size_t> cum;
    for (std::size_t at = 0, k = 0;;) {
        at += sizes[k++ % 7];
        if (at >= n) break;
        cum.push_back(at);
    }
    v.push_back(cum);
    for (int r = 0; r < 4; ++r) {
        std::vector<std::size_t> cuts;
        const std::size_t m = 1 + rng.below(r == 3 ? 200 : 30);
        for (std::size_t i = 0; i < m; ++i) cuts.push_back(1 + rng.below(n - 1));
        std::sort(cuts.begin(), cuts.end());
        cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
        v.push_back(cuts);
    }
    return v;
}

std::string describe_cuts(const std::vector<std::size_t>& cuts) {
    std::string s = "cuts at {";
    for (std::size_t i = 0; i < cuts.size() && i < 12; ++i) s += (i ? ", " : "") + std::to_string(cuts[i]);
    if (cuts.size() > 12) s += ", ... (" + std::to_string(cuts.size()) + " cuts)";
    return s + "}";
}

// Calls f(start, length) for each chunk of the partition.
template <class F>
void for_each_chunk(const std::vector<std::size_t>& cuts, std::size_t n, F&& f) {
    std::size_t start = 0;
    for (std::size_t c : cuts) {
        f(start, c - start);
        start = c;
    }
    f(start, n - start);
}

std::vector<run_config> chunk_configs() {
    std::vector<run_config> v;
    for (generator gen : kGenerators) {
        v.push_back({ref::make_policy(ref::mode::stochastic, false, 32), gen});
        v.push_back({ref::make_policy(ref::mode::stochastic, true, 1), gen});
        v.push_back({ref::make_policy(ref::mode::stochastic, false, 8), gen});
    }
    v.push_back({ref::make_policy(ref::mode::nearest_even, false), generator::counter_hash});
    v.push_back({ref::make_policy(ref::mode::up, true), generator::philox});
    return v;
}

template <class T>
void chunked_calls(std::uint64_t seed, failure_log& log) {
    constexpr std::size_t n = 5000;
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    const std::vector<float> seq = input_sequence(g, rng);
    const std::vector<T> wseq = weight_sequence<T>(seq, rng);
    std::vector<float> in(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = seq[i % seq.size()];
    std::vector<float> grad(n);
    for (std::size_t i = 0; i < n; ++i) grad[i] = seq[(i * 13 + 5) % seq.size()];
    std::vector<T> w0(n);
    for (std::size_t i = 0; i < n; ++i) w0[i] = wseq[(i * 3 + 1) % wseq.size()];
    const float lr = 0.375f;
    for (const run_config& c : chunk_configs()) {
        for (int si = 0; si < 3; ++si) {
            stream s = random_stream(rng, n, c.gen);
            if (si == 0) s.offset = std::uint64_t{0} - 2500;  // the wrap inside the array
            const std::string base = std::string("<") + g.name + "> " + describe(c.p) + " " + describe(s) + " length " +
                                     std::to_string(n);
            // one whole call each, checked against the scalar core
            std::vector<T> q_whole(n);
            std::vector<float> f_whole(n);
            std::vector<T> w_whole = w0;
            fewbits::quantize<T>(in, std::span<T>(q_whole), c.p, s);
            fewbits::fake_quantize<T>(in, std::span<float>(f_whole), c.p, s);
            fewbits::sgd_update<T>(std::span<T>(w_whole), grad, lr, c.p, s);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint32_t word = fewbits::random_word(s.rng, s.seed, s.offset + i);
                const std::uint32_t want = bits_of(fewbits::convert<T>(in[i], c.p, word));
                if (bits_of(q_whole[i]) != want) {
                    log.add("quantize" + base + " whole call, index " + std::to_string(i) + " input " + show(in[i]) +
                            ": want " + hex(want, 4) + ", got " + hex(bits_of(q_whole[i]), 4));
                    break;
                }
            }
            for (const std::vector<std::size_t>& cuts : partitions(n, rng)) {
                std::vector<T> q(n, sentinel<T>(0));
                std::vector<float> f(n, float_sentinel(0));
                std::vector<float> fi = in;  // in place, in chunks
                std::vector<T> w = w0;
                for_each_chunk(cuts, n, [&](std::size_t a, std::size_t len) {
                    stream sc = s;
                    sc.offset = s.offset + a;  // wraps mod 2^64
                    const std::span<const float> ia(in.data() + a, len);
                    fewbits::quantize<T>(ia, std::span<T>(q.data() + a, len), c.p, sc);
                    fewbits::fake_quantize<T>(ia, std::span<float>(f.data() + a, len), c.p, sc);
                    fewbits::fake_quantize<T>(std::span<float>(fi.data() + a, len), std::span<float>(fi.data() + a, len),
                                              c.p, sc);
                    fewbits::sgd_update<T>(std::span<T>(w.data() + a, len),
                                           std::span<const float>(grad.data() + a, len), lr, c.p, sc);
                });
                const std::string where = base + " " + describe_cuts(cuts) + ", index ";
                for (std::size_t i = 0; i < n; ++i) {
                    if (bits_of(q[i]) != bits_of(q_whole[i])) {
                        log.add("quantize" + where + std::to_string(i) + " input " + show(in[i]) + ": whole call " +
                                hex(bits_of(q_whole[i]), 4) + ", chunked " + hex(bits_of(q[i]), 4));
                        break;
                    }
                }
                for (std::size_t i = 0; i < n; ++i) {
                    if (float_bits(f[i]) != float_bits(f_whole[i]) || float_bits(fi[i]) != float_bits(f_whole[i])) {
                        log.add("fake_quantize" + where + std::to_string(i) + " input " + show(in[i]) + ": whole call " +
                                hex(float_bits(f_whole[i]), 8) + ", chunked " + hex(float_bits(f[i]), 8) +
                                ", chunked in place " + hex(float_bits(fi[i]), 8));
                        break;
                    }
                }
                for (std::size_t i = 0; i < n; ++i) {
                    if (bits_of(w[i]) != bits_of(w_whole[i])) {
                        log.add("sgd_update" + where + std::to_string(i) + " w " + hex(bits_of(w0[i]), 4) + " g " +
                                show(grad[i]) + ": whole call " + hex(bits_of(w_whole[i]), 4) + ", chunked " +
                                hex(bits_of(w[i]), 4));
                        break;
                    }
                }
            }
        }
    }
}

}  // namespace

TEST_CASE("chunked calls with offsets s.offset + start equal one whole call, for every format and kernel",
          "[kernels][chunks]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0xC4u;
        ref::for_each_type(kernel_formats{}, [&](auto t) {
            using T = typename decltype(t)::type;
            const ref::grid& g = ref::grid_of<T>();
            failure_log log;
            const std::uint64_t fseed = seed + g.d.bits() * 1009 + g.d.M * 17 + static_cast<int>(g.d.fam);
            chunked_calls<T>(fseed, log);
            INFO("format " << g.name << ", " << seed_note(fseed));
            FEWBITS_CHECK_CLEAN(log);
        });
    });
}

TEST_CASE("chunked quantize_int8 calls equal one whole call", "[kernels][chunks][int8]") {
    for_each_simd([&] {
        constexpr std::size_t n = 5000;
        const std::uint64_t seed = base_seed() ^ 0xC48ull;
        prng rng(seed);
        failure_log log;
        for (float scale : {0.0123f, 1.0f, 3e-39f}) {
            const std::vector<float> pool = int8_inputs(scale, rng);
            std::vector<float> in(n);
            for (std::size_t i = 0; i < n; ++i) in[i] = pool[i % pool.size()];
            for (run_config c : chunk_configs()) {
                c.p.int8 = c.gen == generator::philox ? fewbits::int8_range::full : fewbits::int8_range::symmetric;
                stream s = random_stream(rng, n, c.gen);
                s.offset = std::uint64_t{0} - 1234;
                std::vector<std::int8_t> whole(n);
                fewbits::quantize_int8(in, std::span<std::int8_t>(whole), scale, c.p, s);
                const std::string base = "quantize_int8 " + describe(c.p) + " scale " + show(scale) + " " + describe(s);
                for (std::size_t i = 0; i < n; ++i) {
                    const int want = fewbits::convert_int8(in[i], scale, c.p, fewbits::random_word(s.rng, s.seed, s.offset + i));
                    if (whole[i] != want) {
                        log.add(base + " whole call, index " + std::to_string(i) + " input " + show(in[i]) + ": want " +
                                std::to_string(want) + ", got " + std::to_string(whole[i]));
                        break;
                    }
                }
                for (const std::vector<std::size_t>& cuts : partitions(n, rng)) {
                    std::vector<std::int8_t> out(n, 99);
                    for_each_chunk(cuts, n, [&](std::size_t a, std::size_t len) {
                        stream sc = s;
                        sc.offset = s.offset + a;
                        fewbits::quantize_int8(std::span<const float>(in.data() + a, len),
                                               std::span<std::int8_t>(out.data() + a, len), scale, c.p, sc);
                    });
                    for (std::size_t i = 0; i < n; ++i)
                        if (out[i] != whole[i]) {
                            log.add(base + " " + describe_cuts(cuts) + ", index " + std::to_string(i) + " input " +
                                    show(in[i]) + ": whole call " + std::to_string(whole[i]) + ", chunked " +
                                    std::to_string(out[i]));
                            break;
                        }
                }
            }
        }
        INFO(seed_note(seed));
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// Stochastic rounding statistics with the real generators.

namespace {

template <class T>
void sr_statistics(std::uint64_t seed, failure_log& log, std::size_t& tested) {
    constexpr std::size_t N = 4096;
    const ref::grid& g = ref::grid_of<T>();
    prng rng(seed);
    // sample points: two per binade, the format's subnormal binades included
    std::vector<float> xs;
    const int kmin = static_cast<int>(std::ilogb(g.min_subnormal()));
    const int kmax = static_cast<int>(std::ilogb(g.max()));
    for (int k = kmin; k <= kmax; ++k) {
        const double b = std::ldexp(1.0, k);
        const ref::interval iv = ref::locate(g, b);
        if (iv.lo + 1 >= g.n) continue;  // hi would be beyond max
        const double lo = g.mag[iv.lo], step = g.mag[iv.lo + 1] - lo;
        for (int j = 0; j < 2; ++j) {
            // f in [1/32, 31/32], so that 5 sigma is a meaningful bound (not a lone rare event)
            const double f = j == 0 ? 0.25 + 0.5 * std::ldexp(static_cast<double>(rng.below(1u << 16)), -16)
                                    : (1 + static_cast<double>(rng.below(31))) / 32;
            const double x = lo + f * step;
            if (!is_finite_float(x)) continue;
            xs.push_back((k + j) % 2 == 0 ? static_cast<float>(x) : -static_cast<float>(x));
        }
    }
    std::vector<float> in(N), out(N);
    for (float x : xs) {
        const double a = std::fabs(static_cast<double>(x));
        const ref::interval iv = ref::locate(g, a);
        if (iv.exact) continue;  // representable: never moves (checked by the differential tests)
        const double lo = g.mag[iv.lo], hi = g.mag[iv.lo + 1], step = hi - lo;
        const double f = (a - lo) / step;
        for (generator gen : kGenerators) {
            std::fill(in.begin(), in.end(), x);
            const stream s{rng.next(), rng.next(), gen};
            const fewbits::policy p = ref::make_policy(ref::mode::stochastic, false, 32);
            fewbits::fake_quantize<T>(in, std::span<float>(out), p, s);
            double sum = 0;  // exact: N values of at most 12 significant bits in two adjacent binades
            bool bad = false;
            for (float y : out) {
                if (std::fabs(static_cast<double>(y)) != lo && std::fabs(static_cast<double>(y)) != hi) bad = true;
                sum += static_cast<double>(y);
            }
            ++tested;
            const double mean = sum / N;
            const double sigma = std::sqrt(f * (1 - f)) * step / std::sqrt(static_cast<double>(N));
            if (bad || !(std::fabs(mean - static_cast<double>(x)) <= 5 * sigma)) {
                char buf[160];
                std::snprintf(buf, sizeof buf, ": mean %.9g, deviation %.2f sigma (sigma %.3g, f %.6f, step %.3g)",
                              mean, (mean - static_cast<double>(x)) / sigma, sigma, f, step);
                log.add(std::string("fake_quantize<") + g.name + "> stochastic " + describe(s) + " x " + show(x) +
                        " repeated " + std::to_string(N) + " times" + (bad ? ": a result is neither neighbour" : buf));
            }
        }
    }
}

}  // namespace

TEST_CASE("sr through fake_quantize is unbiased within 5 sigma in every binade of every format, with both generators",
          "[kernels][sr][statistics]") {
    const std::uint64_t seed = base_seed() ^ 0x5757ull;
    ref::for_each_type(kernel_formats{}, [&](auto t) {
        using T = typename decltype(t)::type;
        const ref::grid& g = ref::grid_of<T>();
        failure_log log;
        std::size_t tested = 0;
        const std::uint64_t fseed = seed + g.d.bits() * 7 + g.d.M;
        sr_statistics<T>(fseed, log, tested);
        INFO("format " << g.name << ", " << tested << " (x, generator) pairs, " << seed_note(fseed));
        CHECK(tested >= 8u);
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// Defaults.

TEST_CASE("the default stream is {0, 0, counter_hash}, the default policy nearest_even, and random_word(seed, c) "
          "uses the default generator",
          "[kernels][defaults]") {
    prng rng(base_seed() ^ 0xDEFull);
    failure_log log;
    const stream d{};
    CHECK(d.seed == 0u);
    CHECK(d.offset == 0u);
    CHECK(d.rng == generator::counter_hash);
    for (int i = 0; i < 20000; ++i) {
        const std::uint64_t seed = i < 10 ? static_cast<std::uint64_t>(i) : rng.next();
        const std::uint64_t counter = i % 3 == 0 ? static_cast<std::uint64_t>(i) : rng.next();
        const std::uint32_t a = fewbits::random_word(seed, counter);
        const std::uint32_t b = fewbits::random_word(d.rng, seed, counter);
        if (a != b)
            log.add("random_word(" + hex(seed, 16) + ", " + hex(counter, 16) + ") = " + hex(a, 8) +
                    ", with the default generator " + hex(b, 8));
    }
    FEWBITS_CHECK_CLEAN(log);
    // defaulted arguments equal the explicit defaults
    prng r2(7);
    std::vector<float> in(1031);
    for (float& x : in) x = float_from_bits(random_input(ref::grid_of<fewbits::float8_e4m3fn>(), r2));
    std::vector<fewbits::float8_e4m3fn> a(in.size()), b(in.size());
    fewbits::quantize<fewbits::float8_e4m3fn>(in, std::span<fewbits::float8_e4m3fn>(a));
    fewbits::quantize<fewbits::float8_e4m3fn>(in, std::span<fewbits::float8_e4m3fn>(b), fewbits::policy{}, stream{});
    std::size_t diff = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        diff += a[i].bits() != b[i].bits();
        diff += a[i].bits() != fewbits::convert<fewbits::float8_e4m3fn>(in[i]).bits();
    }
    CHECK(diff == 0u);
    fewbits::policy sr{fewbits::rounding::stochastic};
    std::vector<float> fa(in.size()), fb(in.size());
    fewbits::fake_quantize<fewbits::bfloat16>(in, std::span<float>(fa), sr);
    fewbits::fake_quantize<fewbits::bfloat16>(in, std::span<float>(fb), sr, stream{0, 0, generator::counter_hash});
    diff = 0;
    for (std::size_t i = 0; i < in.size(); ++i) diff += float_bits(fa[i]) != float_bits(fb[i]);
    CHECK(diff == 0u);
}

// ---------------------------------------------------------------------------------------
// Bad arguments.

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

bool is_ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// Whether the message names `arg` as a whole word (so "in" does not match "invalid" or "must be in 1..32").
bool names(const std::string& msg, const std::string& arg) {
    const std::string body = msg.substr(msg.find(':') + 1);  // skip our "invalid_argument:" prefix
    for (std::size_t at = body.find(arg); at != std::string::npos; at = body.find(arg, at + 1)) {
        const bool left = at == 0 || !is_ident_char(body[at - 1]);
        const bool right = at + arg.size() >= body.size() || !is_ident_char(body[at + arg.size()]);
        if (left && right) return true;
    }
    return false;
}

// Runs a call that must throw invalid_argument naming one of `args`, and checks that the
// buffers it could write are unchanged.
struct bad_call_checker {
    failure_log& log;
    template <class F, class Untouched>
    void operator()(const std::string& what, std::initializer_list<const char*> args, F&& call, Untouched&& untouched) {
        const std::string m = thrown_message(call);
        bool named = false;
        for (const char* a : args) named = named || names(m, a);
        if (m.rfind("invalid_argument", 0) != 0 || !named) {
            std::string list;
            for (const char* a : args) list += std::string(list.empty() ? "" : " or ") + "\"" + a + "\"";
            log.add(what + ": want invalid_argument naming " + list + ", got " + m);
        }
        if (!untouched()) log.add(what + ": the output was written before throwing (" + m + ")");
    }
};

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if constexpr (std::is_same_v<T, float>) {
            if (float_bits(a[i]) != float_bits(b[i])) return false;
        } else if constexpr (std::is_same_v<T, std::int8_t>) {
            if (a[i] != b[i]) return false;
        } else {
            if (a[i].bits() != b[i].bits()) return false;
        }
    }
    return true;
}

std::vector<fewbits::policy> bad_policies() {
    std::vector<fewbits::policy> v;
    for (int r : {0, 33, -1, 1000}) {
        for (fewbits::rounding md : {fewbits::rounding::stochastic, fewbits::rounding::nearest_even}) {
            fewbits::policy p;
            p.mode = md;
            p.random_bits = r;
            v.push_back(p);
        }
    }
    fewbits::policy p;
    p.mode = static_cast<fewbits::rounding>(99);
    v.push_back(p);
    p = {};
    p.on_overflow = static_cast<fewbits::overflow>(7);
    v.push_back(p);
    p = {};
    p.int8 = static_cast<fewbits::int8_range>(5);
    v.push_back(p);
    return v;
}

// The name a bad policy must carry: random_bits for the random_bits errors; for bad enum
// values the brief fixes no name, so the member name validate() uses.
const char* policy_arg(const fewbits::policy& p) {
    if (p.random_bits < 1 || p.random_bits > 32) return "random_bits";
    if (static_cast<unsigned>(p.mode) > 6) return "mode";
    if (static_cast<unsigned>(p.on_overflow) > 1) return "on_overflow";
    return "int8";
}

template <class T>
void bad_float_kernel_args(failure_log& log) {
    const ref::grid& g = ref::grid_of<T>();
    bad_call_checker check{log};
    const std::vector<float> in = {1.5f, -2.25f, 0.1f, 300.0f, -1e-3f};
    std::vector<T> q0(7);
    for (std::size_t j = 0; j < q0.size(); ++j) q0[j] = sentinel<T>(j);
    std::vector<float> f0(7);
    for (std::size_t j = 0; j < f0.size(); ++j) f0[j] = float_sentinel(j);
    const std::string fmt = std::string("<") + g.name + ">";

    for (std::size_t out_len : {4u, 6u, 0u}) {
        std::vector<T> q = q0;
        check("quantize" + fmt + " in 5, out " + std::to_string(out_len), {"in", "out"},
              [&] { fewbits::quantize<T>(in, std::span<T>(q.data(), out_len)); }, [&] { return same_bits(q, q0); });
        std::vector<float> f = f0;
        check("fake_quantize" + fmt + " in 5, out " + std::to_string(out_len), {"in", "out"},
              [&] { fewbits::fake_quantize<T>(in, std::span<float>(f.data(), out_len)); },
              [&] { return same_bits(f, f0); });
        const std::vector<T> codes(5, T::from_bits(1));
        f = f0;
        check("dequantize" + fmt + " in 5, out " + std::to_string(out_len), {"in", "out"},
              [&] { fewbits::dequantize<T>(codes, std::span<float>(f.data(), out_len)); },
              [&] { return same_bits(f, f0); });
        q = q0;
        check("sgd_update" + fmt + " w " + std::to_string(out_len) + ", g 5", {"w", "g"},
              [&] { fewbits::sgd_update<T>(std::span<T>(q.data(), out_len), in, 0.5f); },
              [&] { return same_bits(q, q0); });
    }
    for (float lr : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(), HUGE_VALF,
                     -HUGE_VALF}) {
        std::vector<T> q = q0;
        check("sgd_update" + fmt + " lr " + show(lr), {"lr"},
              [&] { fewbits::sgd_update<T>(std::span<T>(q.data(), 5), in, lr); }, [&] { return same_bits(q, q0); });
    }
    for (const fewbits::policy& p : bad_policies()) {
        const std::string what = " policy " + describe(p) + " (random_bits " + std::to_string(p.random_bits) + ")";
        const char* arg = policy_arg(p);
        for (std::size_t len : {5u, 0u}) {
            const std::string l = ", length " + std::to_string(len);
            std::vector<T> q = q0;
            check("quantize" + fmt + what + l, {arg},
                  [&] { fewbits::quantize<T>(std::span<const float>(in.data(), len), std::span<T>(q.data(), len), p); },
                  [&] { return same_bits(q, q0); });
            std::vector<float> f = f0;
            check("fake_quantize" + fmt + what + l, {arg},
                  [&] {
                      fewbits::fake_quantize<T>(std::span<const float>(in.data(), len), std::span<float>(f.data(), len),
                                                p);
                  },
                  [&] { return same_bits(f, f0); });
            std::vector<float> io(in.begin(), in.end());
            const std::vector<float> io0 = io;
            check("fake_quantize in place" + fmt + what + l, {arg},
                  [&] {
                      fewbits::fake_quantize<T>(std::span<float>(io.data(), len), std::span<float>(io.data(), len), p);
                  },
                  [&] { return same_bits(io, io0); });
            q = q0;
            check("sgd_update" + fmt + what + l, {arg},
                  [&] {
                      fewbits::sgd_update<T>(std::span<T>(q.data(), len), std::span<const float>(in.data(), len), 0.5f,
                                             p);
                  },
                  [&] { return same_bits(q, q0); });
        }
    }
}

}  // namespace

TEST_CASE("bad arguments throw invalid_argument naming the argument, and nothing is written", "[kernels][args]") {
    failure_log log(20);
    ref::for_each_type(kernel_formats{}, [&](auto t) {
        using T = typename decltype(t)::type;
        bad_float_kernel_args<T>(log);
    });

    bad_call_checker check{log};
    const std::vector<float> in = {1.5f, -2.25f, 0.1f, 300.0f, -1e-3f};
    std::vector<std::int8_t> q0(7);
    for (std::size_t j = 0; j < q0.size(); ++j) q0[j] = static_cast<std::int8_t>(int8_sentinel(j));
    std::vector<float> f0(7);
    for (std::size_t j = 0; j < f0.size(); ++j) f0[j] = float_sentinel(j);
    const std::vector<std::int8_t> qin = {1, -2, 3, 127, -128};
    for (std::size_t out_len : {4u, 6u, 0u}) {
        std::vector<std::int8_t> q = q0;
        check("quantize_int8 in 5, out " + std::to_string(out_len), {"in", "out"},
              [&] { fewbits::quantize_int8(in, std::span<std::int8_t>(q.data(), out_len), 0.5f); },
              [&] { return same_bits(q, q0); });
        std::vector<float> f = f0;
        check("dequantize_int8 in 5, out " + std::to_string(out_len), {"in", "out"},
              [&] { fewbits::dequantize_int8(qin, std::span<float>(f.data(), out_len), 0.5f); },
              [&] { return same_bits(f, f0); });
    }
    for (float scale : {0.0f, -0.0f, -1.0f, -FLT_MIN, std::numeric_limits<float>::quiet_NaN(), HUGE_VALF, -HUGE_VALF}) {
        std::vector<std::int8_t> q = q0;
        check("quantize_int8 scale " + show(scale), {"scale"},
              [&] { fewbits::quantize_int8(in, std::span<std::int8_t>(q.data(), 5), scale); },
              [&] { return same_bits(q, q0); });
        q = q0;
        check("quantize_int8 scale " + show(scale) + ", length 0", {"scale"},
              [&] { fewbits::quantize_int8({}, std::span<std::int8_t>(q.data(), 0), scale); },
              [&] { return same_bits(q, q0); });
        std::vector<float> f = f0;
        check("dequantize_int8 scale " + show(scale), {"scale"},
              [&] { fewbits::dequantize_int8(qin, std::span<float>(f.data(), 5), scale); },
              [&] { return same_bits(f, f0); });
    }
    for (const fewbits::policy& p : bad_policies()) {
        for (std::size_t len : {5u, 0u}) {
            std::vector<std::int8_t> q = q0;
            check("quantize_int8 policy " + describe(p) + " (random_bits " + std::to_string(p.random_bits) + "), length " +
                      std::to_string(len),
                  {policy_arg(p)},
                  [&] {
                      fewbits::quantize_int8(std::span<const float>(in.data(), len),
                                             std::span<std::int8_t>(q.data(), len), 0.5f, p);
                  },
                  [&] { return same_bits(q, q0); });
        }
    }
    FEWBITS_CHECK_CLEAN(log);

    // valid extremes do not throw: lr 0, negative and huge finite; random_bits 1 and 32; tiny scale
    std::vector<fewbits::float8_e5m2> w(5, fewbits::float8_e5m2(1.0f));
    for (float lr : {0.0f, -0.0f, -3.0f, FLT_MAX, -FLT_MAX, 1e-45f})
        CHECK(thrown_message([&] { fewbits::sgd_update<fewbits::float8_e5m2>(w, in, lr); }) == "no exception");
    for (int r : {1, 32}) {
        fewbits::policy p{fewbits::rounding::stochastic};
        p.random_bits = r;
        std::vector<float> f(5);
        CHECK(thrown_message([&] { fewbits::fake_quantize<fewbits::float16>(in, std::span<float>(f), p); }) ==
              "no exception");
    }
    std::vector<std::int8_t> q(5);
    CHECK(thrown_message([&] { fewbits::quantize_int8(in, std::span<std::int8_t>(q), 1e-45f); }) == "no exception");
    CHECK(thrown_message([&] { fewbits::quantize_int8(in, std::span<std::int8_t>(q), FLT_MAX); }) == "no exception");
}

TEST_CASE("simd_architectures lists scalar first, set_simd_architecture forces each of them and rejects other names "
          "with invalid_argument naming the value",
          "[kernels][dispatch]") {
    const std::vector<std::string> archs = fewbits::simd_architectures();
    REQUIRE(!archs.empty());
    CHECK(archs.front() == "scalar");
    for (const std::string& a : archs) {
        fewbits::set_simd_architecture(a);
        CHECK(std::string(fewbits::simd_architecture()) == a);
        CHECK(fewbits::simd_width() == (a == "scalar" ? 1u : a == "sse2" ? 4u : a == "avx2" ? 8u : a == "avx512" ? 16u : fewbits::simd_width()));
    }
    fewbits::set_simd_architecture("best");
    CHECK(std::string(fewbits::simd_architecture()) == archs.back());
#if !FEWBITS_DISPATCH
    CHECK(archs.size() <= 2u);  // scalar, and the compile-time instruction set if any
#endif
    for (const char* bad : {"", "AVX2", "neon", "avx1024", "sse"}) {
        std::string msg = "no exception";
        try {
            fewbits::set_simd_architecture(bad);
        } catch (const std::invalid_argument& e) {
            msg = e.what();
        }
        INFO("set_simd_architecture(\"" << bad << "\"): " << msg);
        CHECK(msg.find(std::string("\"") + bad + "\"") != std::string::npos);
        CHECK(std::string(fewbits::simd_architecture()) == archs.back());  // unchanged
    }
#if FEWBITS_DISPATCH
    // Run-time dispatch (x86-64, GCC or clang, unless the build's -march already has AVX-512
    // or FEWBITS_NO_DISPATCH): whatever -march this test was built with, every target up to
    // the CPU's best is there.
    REQUIRE(archs.size() >= 2u);
    CHECK(archs[1] == "sse2");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) CHECK(archs.size() >= 3u);
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        CHECK(archs.back() == "avx512");
#endif
}

// ---------------------------------------------------------------------------------------
// The floating-point environment. The fast paths of the dispatched kernels use float and
// double instructions (vcvtps2ph, vcvtph2ps, products and an FMA for INT8): their results must
// not depend on FTZ, DAZ or MXCSR's rounding mode, which the scalar core (integers only)
// ignores. Run with FTZ and DAZ set and each directed rounding mode, on every instruction set.

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <xmmintrin.h>

namespace {

template <class T>
void check_quantize_under(unsigned csr, const std::vector<float>& in, const fewbits::policy& p, const stream& s,
                          const std::string& ctx, failure_log& log) {
    std::vector<T> q(in.size());
    std::vector<float> back(in.size());
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(csr);
    fewbits::quantize<T>(in, q, p, s);
    fewbits::dequantize<T>(std::span<const T>(q), back);
    _mm_setcsr(saved);
    const std::vector<std::uint32_t> words = words_for(s, in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const T want = fewbits::convert<T>(in[i], p, words[i]);
        if (bits_of(q[i]) != bits_of(want) || float_bits(back[i]) != float_bits(static_cast<float>(q[i]))) {
            log.add(ctx + " " + describe(p) + " index " + std::to_string(i) + " input " + show(in[i]) + ": want " +
                    hex(bits_of(want), 4) + " (" + hex(float_bits(static_cast<float>(want)), 8) + "), got " +
                    hex(bits_of(q[i]), 4) + " (" + hex(float_bits(back[i]), 8) + ")");
            return;
        }
    }
}

}  // namespace

TEST_CASE("with FTZ and DAZ set and MXCSR in each rounding mode, the kernels still give convert's bits",
          "[kernels][differential][mxcsr]") {
    for_each_simd([&] {
        const std::uint64_t seed = base_seed() ^ 0xC5Bull;
        prng rng(seed);
        failure_log log;
        const unsigned base_csr = _mm_getcsr() & ~0x6000u;
        for (unsigned rc : {0x0000u, 0x2000u, 0x4000u, 0x6000u}) {
            const unsigned csr = base_csr | 0x8040u | rc;  // FTZ (bit 15), DAZ (bit 6), rounding control
            const std::string ctx = "MXCSR " + hex(csr, 4);
            ref::for_each_type(ref::type_list<fewbits::float16, fewbits::bfloat16, fewbits::float8_e4m3fn,
                                              fewbits::float8_e5m2, fewbits::float8_e4m3fnuz, fewbits::float6_e3m2fn>{},
                               [&](auto t) {
                                   using T = typename decltype(t)::type;
                                   const std::vector<float> in = input_sequence(ref::grid_of<T>(), rng);
                                   for (const run_config& c : float_configs()) {
                                       if (c.gen == generator::philox) continue;
                                       check_quantize_under<T>(csr, in, c.p, random_stream(rng, in.size(), c.gen),
                                                               ctx + " " + ref::grid_of<T>().name, log);
                                   }
                               });
            for (float scale : int8_scales()) {
                const std::vector<float> in = int8_inputs(scale, rng);
                for (const run_config& c : int8_configs()) {
                    if (c.gen == generator::philox || c.p.on_overflow == fewbits::overflow::saturate) continue;
                    const stream s = random_stream(rng, in.size(), c.gen);
                    std::vector<std::int8_t> q(in.size());
                    const unsigned saved = _mm_getcsr();
                    _mm_setcsr(csr);
                    fewbits::quantize_int8(in, q, scale, c.p, s);
                    _mm_setcsr(saved);
                    const std::vector<std::uint32_t> words = words_for(s, in.size());
                    for (std::size_t i = 0; i < in.size(); ++i) {
                        const int want = fewbits::convert_int8(in[i], scale, c.p, words[i]);
                        if (q[i] != want) {
                            log.add(ctx + " quantize_int8 " + describe(c.p) + " scale " + show(scale) + " index " +
                                    std::to_string(i) + " input " + show(in[i]) + ": want " + std::to_string(want) +
                                    ", got " + std::to_string(q[i]));
                            break;
                        }
                    }
                }
            }
        }
        INFO(seed_note(seed));
        FEWBITS_CHECK_CLEAN(log);
    });
}
#endif
