// The random generators: Philox4x32-10 against the Random123 known-answer vectors, the bulk
// fill bit for bit against the scalar random_word (Philox on every instruction set; every short length, odd offsets, across
// the 2^32 counter boundary and the 2^64 wrap, unaligned output, no write past the end),
// constant evaluation, derive(), and statistical evidence for counter_hash with philox as
// the control: bit balance, byte and nibble-pair chi-square, serial and cross-stream
// correlation, each for sequential counters in one stream and for the same counter across
// sequential and derived seeds; and stochastic rounding driven by the real words is unbiased.
//
// The battery uses N = 2^FEWBITS_RANDOM_LOG2N words per source (22 here; build this file
// with -DFEWBITS_RANDOM_LOG2N=26 for the long run quoted in the README). Every threshold is
// about 5 sigma or p < 1e-6 on each side, and the seeds are fixed, so results are
// deterministic.
#include "fewbits_catch.hpp"

#include <fewbits/kernels.hpp>  // simd_architectures
#include <fewbits/random.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#ifndef FEWBITS_RANDOM_LOG2N
#define FEWBITS_RANDOM_LOG2N 22
#endif

using fewbits::generator;
using fewbits_test::failure_log;
using fewbits_test::hex;

namespace {

constexpr std::uint64_t two32 = std::uint64_t{1} << 32;

const char* arch_name()
{
#if FEWBITS_HAS_XSIMD
    return fewbits::detail::simd::arch::name();
#else
    return "scalar (no xsimd)";
#endif
}

const char* gen_name(generator g) { return g == generator::philox ? "philox" : "counter_hash"; }

// --- Constant evaluation: the generators are usable at compile time, and these values pin
// the streams (a change to a constant or the key schedule changes every SR result).
using block = std::array<std::uint32_t, 4>;
static_assert(fewbits::philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u}) ==
              block{0x6627E8D5u, 0xE169C58Du, 0xBC57AC4Cu, 0x9B00DBD8u});
static_assert(fewbits::philox_word(0, 2) == 0xBC57AC4Cu);
static_assert(fewbits::philox_word(~0ull, ~0ull) == 0x3915061Cu);
static_assert(fewbits::philox_word(0x243F6A8885A308D3ull, two32 + 5) == 0xB9C3F304u);
static_assert(fewbits::counter_hash_word(0, 0) == 0x5166B3B0u);
static_assert(fewbits::counter_hash_word(0, 1) == 0x3A4221E0u);
static_assert(fewbits::counter_hash_word(0x243F6A8885A308D3ull, two32 + 5) == 0xD5751954u);
static_assert(fewbits::counter_hash_word(~0ull, ~0ull) == 0xBE28BC1Eu);
static_assert(fewbits::random_word(7, 9) == fewbits::counter_hash_word(7, 9));
static_assert(fewbits::random_word(generator::philox, 7, 9) == fewbits::philox_word(7, 9));
static_assert(fewbits::derive({42, 7, generator::philox}, 3).seed == 0xFD4A7440A64D2D86ull);
static_assert(fewbits::derive({42, 7, generator::philox}, 3).offset == 0);
static_assert(fewbits::derive({42, 7, generator::philox}, 3).rng == generator::philox);

// --- Statistics -----------------------------------------------------------------------

// Inverse of the upper normal tail: z with P(Z > z) = p, by bisection on erfc.
double normal_upper_quantile(double p)
{
    double lo = 0, hi = 40;
    for (int i = 0; i < 200; ++i) {
        const double mid = (lo + hi) / 2;
        (0.5 * std::erfc(mid / std::sqrt(2.0)) > p ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
}

// Wilson-Hilferty: (X/df)^(1/3) is close to normal with mean 1 - 2/(9 df) and variance
// 2/(9 df); accurate to a few percent in the tails for df = 255.
double chi2_z(double x, double df)
{
    const double v = 2.0 / (9.0 * df);
    return (std::cbrt(x / df) - (1.0 - v)) / std::sqrt(v);
}
double chi2_quantile_from_z(double z, double df)
{
    const double v = 2.0 / (9.0 * df);
    const double c = 1.0 - v + z * std::sqrt(v);
    return df * c * c * c;
}

constexpr double tail_p = 1e-6;   // chi-square: fail if either tail is below this
constexpr double max_sigma = 5.0;  // frequencies and correlations

struct chi2_bounds {
    double lo, hi;
};
chi2_bounds chi2_limits(double df)
{
    const double z = normal_upper_quantile(tail_p);
    return {chi2_quantile_from_z(-z, df), chi2_quantile_from_z(z, df)};
}

double chi2_uniform(std::span<const std::uint64_t> counts)
{
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
    double chi2 = 0;
    for (auto c : counts) {
        const double d = static_cast<double>(c) - expected;
        chi2 += d * d / expected;
    }
    return chi2;
}

// Pearson correlation, on values centred at the middle of [0, 1) to keep the sums small.
struct correlation {
    double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    void add(double x, double y)
    {
        n += 1;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }
    double r() const
    {
        return (n * sxy - sx * sy) / std::sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
    }
};

double centred_uniform(std::uint32_t w) { return (static_cast<double>(w) + 0.5) / 4294967296.0 - 0.5; }

// Every statistic of one sequence of words w_i, plus a partner sequence v_i for the
// cross-correlation (for example the neighbouring seed at the same counters).
struct battery {
    std::uint64_t n = 0;
    std::array<std::array<std::uint64_t, 256>, 4> bytes{};
    std::array<std::uint64_t, 256> nibble_pairs{};
    correlation serial, cross;
    std::uint32_t prev = 0;

    void add(std::uint32_t w, std::uint32_t v)
    {
        for (int k = 0; k < 4; ++k) ++bytes[k][(w >> (8 * k)) & 0xFF];
        if (n % 2 == 1) ++nibble_pairs[((prev >> 28) << 4) | (w >> 28)];  // non-overlapping pairs
        if (n > 0) serial.add(centred_uniform(prev), centred_uniform(w));
        cross.add(centred_uniform(w), centred_uniform(v));
        prev = w;
        ++n;
    }

    // Frequency of a one at bit position b, as a z-score (binomial, p = 1/2).
    double bit_z(int b) const
    {
        std::uint64_t ones = 0;
        for (unsigned v = 0; v < 256; ++v)
            if ((v >> (b % 8)) & 1) ones += bytes[b / 8][v];
        const double nn = static_cast<double>(n);
        return (static_cast<double>(ones) - nn / 2) / std::sqrt(nn / 4);
    }
    double worst_bit_z(int* at = nullptr) const
    {
        double worst = 0;
        for (int b = 0; b < 32; ++b)
            if (std::abs(bit_z(b)) > std::abs(worst)) {
                worst = bit_z(b);
                if (at) *at = b;
            }
        return worst;
    }
    double byte_chi2(int k) const { return chi2_uniform(bytes[k]); }
    double nibble_chi2() const { return chi2_uniform(nibble_pairs); }
    double corr_limit() const { return max_sigma / std::sqrt(static_cast<double>(n)); }
};

enum class source { sequential_counters, sequential_seeds, derived_seeds };
constexpr source all_sources[] = {source::sequential_counters, source::sequential_seeds,
                                  source::derived_seeds};

const char* source_name(source s)
{
    switch (s) {
    case source::sequential_counters: return "counters 0.. of seed S (cross: seed S+1)";
    case source::sequential_seeds: return "counter 0 of seeds S+i (cross: counter 1)";
    default: return "counter 0 of derive(S, i) (cross: counter 1)";
    }
}

constexpr std::uint64_t battery_seed = 0x5EED0F5EEDull;

battery run_battery(generator g, source src, std::uint64_t n)
{
    battery b;
    constexpr std::size_t chunk = 1 << 16;
    std::vector<std::uint32_t> w(chunk), v(chunk);
    const fewbits::stream root{battery_seed, 0, g};
    for (std::uint64_t done = 0; done < n; done += chunk) {
        const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, n - done));
        if (src == source::sequential_counters) {
            fewbits::fill_random_words({battery_seed, done, g}, std::span(w.data(), len));
            fewbits::fill_random_words({battery_seed + 1, done, g}, std::span(v.data(), len));
        } else {
            for (std::size_t i = 0; i < len; ++i) {
                const std::uint64_t seed = src == source::sequential_seeds
                                               ? battery_seed + done + i
                                               : fewbits::derive(root, done + i).seed;
                w[i] = fewbits::random_word(g, seed, 0);
                v[i] = fewbits::random_word(g, seed, 1);
            }
        }
        for (std::size_t i = 0; i < len; ++i) b.add(w[i], v[i]);
    }
    return b;
}

// The batteries of one generator, computed once per process and printed for the README.
const battery& results(generator g, source src)
{
    static std::map<std::pair<generator, source>, battery> cache;
    const auto key = std::make_pair(g, src);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    const std::uint64_t n = std::uint64_t{1} << FEWBITS_RANDOM_LOG2N;
    const battery& b = cache.emplace(key, run_battery(g, src, n)).first->second;
    const chi2_bounds lim = chi2_limits(255);
    int at = 0;
    const double worst = b.worst_bit_z(&at);
    std::printf("[random] %s, %s, N = 2^%d\n", gen_name(g), source_name(src), FEWBITS_RANDOM_LOG2N);
    std::printf("  worst bit frequency z = %+.2f (bit %d; limit +-%.0f)\n", worst, at, max_sigma);
    std::printf("  byte chi2 (df 255, pass in [%.1f, %.1f]): %.1f %.1f %.1f %.1f\n", lim.lo, lim.hi,
                b.byte_chi2(0), b.byte_chi2(1), b.byte_chi2(2), b.byte_chi2(3));
    std::printf("  nibble-pair chi2 (df 255): %.1f\n", b.nibble_chi2());
    std::printf("  serial r = %+.2e, cross r = %+.2e (limit +-%.2e)\n", b.serial.r(), b.cross.r(),
                b.corr_limit());
    std::fflush(stdout);
    return b;
}

void check_bits(generator g)
{
    for (source src : all_sources) {
        const battery& b = results(g, src);
        for (int bit = 0; bit < 32; ++bit) {
            INFO(gen_name(g) << ", " << source_name(src) << ", bit " << bit << ": z = " << b.bit_z(bit));
            CHECK(std::abs(b.bit_z(bit)) < max_sigma);
        }
    }
}

void check_chi2(double chi2, const std::string& what)
{
    const double z = chi2_z(chi2, 255);
    const double upper = 0.5 * std::erfc(z / std::sqrt(2.0));
    const double lower = 0.5 * std::erfc(-z / std::sqrt(2.0));
    INFO(what << ": chi2 = " << chi2 << " (df 255), P(above) = " << upper << ", P(below) = " << lower);
    CHECK(upper >= tail_p);
    CHECK(lower >= tail_p);
}

void check_bytes(generator g)
{
    for (source src : all_sources)
        for (int k = 0; k < 4; ++k)
            check_chi2(results(g, src).byte_chi2(k), std::string(gen_name(g)) + ", " + source_name(src) +
                                                         ", byte " + std::to_string(k));
}

void check_nibble_pairs(generator g)
{
    for (source src : all_sources)
        check_chi2(results(g, src).nibble_chi2(),
                   std::string(gen_name(g)) + ", " + source_name(src) + ", nibble pairs");
}

void check_serial(generator g)
{
    for (source src : all_sources) {
        const battery& b = results(g, src);
        INFO(gen_name(g) << ", " << source_name(src) << ": serial r = " << b.serial.r());
        CHECK(std::abs(b.serial.r()) < b.corr_limit());
    }
}

void check_cross(generator g)
{
    for (source src : all_sources) {
        const battery& b = results(g, src);
        INFO(gen_name(g) << ", " << source_name(src) << ": cross r = " << b.cross.r());
        CHECK(std::abs(b.cross.r()) < b.corr_limit());
    }
}

// --- Bulk fill against the scalar word ----------------------------------------------------

void check_fill(generator g, std::uint64_t seed, std::uint64_t offset, std::size_t len, failure_log& log)
{
    // One guard word on each side; the output starts at an odd word, so it is never
    // vector-aligned.
    constexpr std::uint32_t guard = 0xDEADBEEFu;
    std::vector<std::uint32_t> buf(len + 2, guard);
    fewbits::fill_random_words({seed, offset, g}, std::span(buf.data() + 1, len));
    const std::string where = std::string(gen_name(g)) + " on " + arch_name() + ", seed " +
                              hex(seed, 16) + ", offset " + hex(offset, 16) + ", length " +
                              std::to_string(len);
    if (buf[0] != guard || buf[len + 1] != guard) log.add(where + ": wrote outside the span");
    for (std::size_t i = 0; i < len; ++i) {
        const std::uint32_t want = fewbits::random_word(g, seed, offset + i);
        if (buf[i + 1] != want) {
            log.add(where + ", element " + std::to_string(i) + ": want " + hex(want, 8) + ", got " +
                    hex(buf[i + 1], 8));
            return;
        }
    }
}

void check_fill_everywhere(generator g)
{
    const std::uint64_t seeds[] = {0, 1, 0x243F6A8885A308D3ull, ~0ull};
    const std::uint64_t offsets[] = {0,         1,          3,          5,
                                     17,        0x12345677, two32 - 35, two32 - 1,
                                     two32,     two32 + 1,  ~0ull - 34, ~0ull - 2,
                                     ~0ull,     7 * two32 - 13};
    failure_log log;
    for (std::uint64_t seed : seeds)
        for (std::uint64_t offset : offsets)
            for (std::size_t len = 0; len <= 70; ++len) check_fill(g, seed, offset, len, log);
    const std::size_t long_lengths[] = {1000, 4099, 65536 + 17, 300001};
    const std::uint64_t long_offsets[] = {0, 5, two32 - 150001, ~0ull - 150000, 3 * two32 - 77};
    for (std::uint64_t offset : long_offsets)
        for (std::size_t len : long_lengths) check_fill(g, 0x9E3779B97F4A7C15ull, offset, len, log);
    FEWBITS_REQUIRE_CLEAN(log);
}

}  // namespace

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors", "[random]")
{
    CHECK(fewbits::philox4x32_10({0u, 0u, 0u, 0u}, {0u, 0u}) ==
          block{0x6627E8D5u, 0xE169C58Du, 0xBC57AC4Cu, 0x9B00DBD8u});
    CHECK(fewbits::philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}) ==
          block{0x408F276Du, 0x41C83B0Eu, 0xA20BC7C6u, 0x6D5451FDu});
    CHECK(fewbits::philox4x32_10({0x243F6A88u, 0x85A308D3u, 0x13198A2Eu, 0x03707344u},
                                 {0xA4093822u, 0x299F31D0u}) ==
          block{0xD16CFE09u, 0x94FDCCEBu, 0x5001E420u, 0x24126EA1u});
}

TEST_CASE("philox_word reads word counter mod 4 of block counter / 4 keyed by the seed", "[random]")
{
    const std::uint64_t seeds[] = {0, 0x299F31D0A4093822ull, ~0ull};
    const std::uint64_t blocks[] = {0, 1, 0xFFFFFFFFull, two32, 0x3FFFFFFFFFFFFFFFull, 0x0123456789ABCDEull};
    for (std::uint64_t seed : seeds)
        for (std::uint64_t b : blocks) {
            const block want = fewbits::philox4x32_10(
                {static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32), 0u, 0u},
                {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)});
            for (unsigned j = 0; j < 4; ++j) {
                INFO("seed " << hex(seed, 16) << ", block " << hex(b, 16) << ", word " << j);
                CHECK(fewbits::philox_word(seed, 4 * b + j) == want[j]);
                CHECK(fewbits::random_word(generator::philox, seed, 4 * b + j) == want[j]);
            }
        }
    // The first block of seed 0 is the first known-answer vector.
    CHECK(fewbits::philox_word(0, 0) == 0x6627E8D5u);
    CHECK(fewbits::philox_word(0, 3) == 0x9B00DBD8u);
}

TEST_CASE("random_word defaults to counter_hash", "[random]")
{
    for (std::uint64_t c : {std::uint64_t{0}, std::uint64_t{12345}, two32 + 1, ~std::uint64_t{0}}) {
        CHECK(fewbits::random_word(99, c) == fewbits::counter_hash_word(99, c));
        CHECK(fewbits::random_word(generator::counter_hash, 99, c) == fewbits::counter_hash_word(99, c));
    }
    CHECK(fewbits::stream{}.rng == generator::counter_hash);
}

TEST_CASE("counter hash bulk fill equals random_word at every length, offset and wrap", "[random]")
{
    INFO("architecture " << arch_name());
    check_fill_everywhere(generator::counter_hash);
}

// With run-time dispatch, Philox's whole blocks run 4, 8 or 16 at a time in vector lanes on the
// active instruction set (random.hpp: philox_lanes): each one against the scalar word.
TEST_CASE("philox bulk fill equals random_word at every length, offset and wrap on every instruction set", "[random]")
{
    for (const std::string& arch : fewbits::simd_architectures()) {
        INFO("instruction set " << arch);
        fewbits::set_simd_architecture(arch);
        check_fill_everywhere(generator::philox);
    }
    fewbits::set_simd_architecture("best");
}

TEST_CASE("derive gives a million siblings a million distinct seeds", "[random]")
{
    for (const fewbits::stream parent : {fewbits::stream{}, fewbits::stream{0xC0FFEEull, 77, generator::philox}}) {
        std::vector<std::uint64_t> seeds;
        seeds.reserve(1000001);
        for (std::uint64_t id = 0; id < 1000000; ++id) {
            const fewbits::stream child = fewbits::derive(parent, id);
            REQUIRE(child.offset == 0);
            REQUIRE(child.rng == parent.rng);
            seeds.push_back(child.seed);
        }
        seeds.push_back(parent.seed);  // nor does a child reuse its parent's seed
        std::sort(seeds.begin(), seeds.end());
        INFO("parent seed " << hex(parent.seed, 16));
        CHECK(std::adjacent_find(seeds.begin(), seeds.end()) == seeds.end());
    }
}

TEST_CASE("derive depends on the order of nesting and not on the parent's offset", "[random]")
{
    const fewbits::stream s{0x1234, 0, generator::counter_hash};
    for (std::uint64_t a = 0; a < 20; ++a)
        for (std::uint64_t b = 0; b < 20; ++b) {
            if (a == b) continue;
            INFO("ids " << a << ", " << b);
            CHECK(fewbits::derive(fewbits::derive(s, a), b).seed != fewbits::derive(fewbits::derive(s, b), a).seed);
            CHECK(fewbits::derive(s, a).seed != fewbits::derive(fewbits::derive(s, a), b).seed);
        }
    CHECK(fewbits::derive({0x1234, 999, generator::counter_hash}, 5).seed == fewbits::derive(s, 5).seed);
    // A child of seed s is not the stream of seed s + 1 or of the id itself.
    CHECK(fewbits::derive(s, 1).seed != s.seed + 1);
    CHECK(fewbits::derive({0, 0, generator::counter_hash}, 0).seed != 0);
}

TEST_CASE("counter hash never repeats a word within one block of 2^32 counters", "[random]")
{
    // Documented property (random.hpp): for fixed keys the hash is a bijection of the low 32
    // counter bits. Philox, the control, repeats as often as a random sequence:
    // n (n - 1) / 2^33 pairs, 128 for n = 2^20.
    constexpr std::size_t n = std::size_t{1} << 20;
    std::vector<std::uint32_t> w(n);
    auto repeats = [&](generator g) {
        fewbits::fill_random_words({battery_seed, two32 * 3 + 1000, g}, w);
        std::sort(w.begin(), w.end());
        std::size_t r = 0;
        for (std::size_t i = 1; i < n; ++i) r += w[i] == w[i - 1];
        return r;
    };
    const std::size_t ch = repeats(generator::counter_hash);
    const std::size_t ph = repeats(generator::philox);
    std::printf("[random] repeated words among 2^20 consecutive: counter_hash %zu, philox %zu (random: 128)\n",
                ch, ph);
    CHECK(ch == 0);
    const double expected = static_cast<double>(n) * static_cast<double>(n - 1) / 8589934592.0;
    CHECK(std::abs(static_cast<double>(ph) - expected) < max_sigma * std::sqrt(expected));
}

TEST_CASE("counter hash bits are balanced at every position", "[random][quality]")
{
    check_bits(generator::counter_hash);
}

TEST_CASE("counter hash bytes are uniform at every byte position", "[random][quality]")
{
    check_bytes(generator::counter_hash);
}

TEST_CASE("counter hash consecutive top nibbles are uniform in pairs", "[random][quality]")
{
    check_nibble_pairs(generator::counter_hash);
}

TEST_CASE("counter hash consecutive words are uncorrelated", "[random][quality]")
{
    check_serial(generator::counter_hash);
}

TEST_CASE("counter hash neighbouring streams are uncorrelated", "[random][quality]")
{
    check_cross(generator::counter_hash);
}

TEST_CASE("philox bits are balanced at every position", "[random][quality]")
{
    check_bits(generator::philox);
}

TEST_CASE("philox bytes are uniform at every byte position", "[random][quality]")
{
    check_bytes(generator::philox);
}

TEST_CASE("philox consecutive top nibbles are uniform in pairs", "[random][quality]")
{
    check_nibble_pairs(generator::philox);
}

TEST_CASE("philox consecutive words are uncorrelated", "[random][quality]")
{
    check_serial(generator::philox);
}

TEST_CASE("philox neighbouring streams are uncorrelated", "[random][quality]")
{
    check_cross(generator::philox);
}

TEST_CASE("stochastic rounding with the real words is unbiased", "[random][quality]")
{
    // x = 1 + k/1024 onto the grid with 3 mantissa bits (step 1/8 in [1, 2)), by hand in
    // units of 2^-10: lo = X - X mod 128, f = (X mod 128) / 128, F = floor(f 2^32) exactly,
    // and up iff F + word >= 2^32. The mean must be x within 5 sigma, sigma = step
    // sqrt(f (1 - f) / n).
    constexpr std::size_t n = std::size_t{1} << 20;
    std::vector<std::uint32_t> words(n);
    for (generator g : {generator::counter_hash, generator::philox}) {
        fewbits::fill_random_words({0xB1A5ull, 4242, g}, words);
        for (std::uint64_t k : {1u, 37u, 64u, 100u, 127u, 129u, 1000u}) {
            const std::uint64_t x_units = 1024 + k;
            const std::uint64_t frac_units = x_units % 128;
            const std::uint64_t lo_units = x_units - frac_units;
            const std::uint64_t big_f = frac_units << 25;  // floor(frac_units / 128 * 2^32)
            std::uint64_t ups = 0;
            for (std::uint32_t w : words) ups += (big_f + w >= two32) ? 1 : 0;
            const double x = static_cast<double>(x_units) / 1024;
            const double mean =
                (static_cast<double>(lo_units) + 128.0 * static_cast<double>(ups) / static_cast<double>(n)) / 1024;
            const double f = static_cast<double>(frac_units) / 128;
            const double sigma = 0.125 * std::sqrt(f * (1 - f) / static_cast<double>(n));
            std::printf("[random] SR %s x = 1 + %llu/1024: mean - x = %+.3e (%+.2f sigma)\n", gen_name(g),
                        static_cast<unsigned long long>(k), mean - x, (mean - x) / sigma);
            INFO(gen_name(g) << ": x = " << x << ", mean " << mean << ", sigma " << sigma);
            CHECK(std::abs(mean - x) < max_sigma * sigma);
        }
    }
}
