// counter_hash_packed, the version-2 generator (random.hpp): one counter_hash word serves
// 32/s elements (s = 8 for r <= 8 random bits, 16 for r <= 16). Checked here:
// - the bulk words (fill_random_words, every instruction set, unaligned offsets, lengths that
//   end mid-group, base counters crossing 2^32, counters wrapping past 2^64) equal the
//   element formula random_word(counter_hash_packed, seed, c, r), and r > 16 gives
//   counter_hash's own words;
// - the exact SR law given a slice: over every value of an element's s-bit slice, SR with r
//   bits rounds up exactly F * 2^(s - r) times (F = floor(f 2^r)), through the kernels;
// - per element: SR means through quantize within 5 standard errors of f for r = 1..16 and
//   every slice position; each slice position's top bits uniform (chi-square);
// - pairwise independence of the elements that share a word (every pair of slices) and of
//   neighbouring elements, by chi-square tests of their joint nibbles; and the same test
//   rejects a deliberately correlated layout (slices that overlap by half), so it can fail.
#include "fewbits_catch.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <fewbits/fewbits.hpp>

using fewbits_test::failure_log;
using fewbits_test::hex;

namespace {

constexpr fewbits::generator packed = fewbits::generator::counter_hash_packed;

int slice_bits(int r) { return r <= 8 ? 8 : 16; }

TEST_CASE("counter_hash_packed: bulk words equal the element formula on every instruction set, offset and length",
          "[random][packed]")
{
    const std::uint64_t offsets[] = {0,  1,  15, 16, 63, 64 + 5, 1000, (std::uint64_t{1} << 34) - 100,
                                     (std::uint64_t{1} << 33) - 37, std::uint64_t{0} - 50};
    const std::size_t lengths[] = {0, 1, 15, 16, 17, 31, 32, 63, 64, 65, 130, 1000};
    for (const std::string& arch : fewbits::simd_architectures()) {
        fewbits::set_simd_architecture(arch);
        failure_log log;
        for (int r : {1, 4, 7, 8, 9, 13, 16, 17, 32})
            for (std::uint64_t off : offsets)
                for (std::size_t n : lengths) {
                    const fewbits::stream s{0xC0FFEEull + off, off, packed};
                    std::vector<std::uint32_t> w(n);
                    fewbits::fill_random_words(s, w, r);
                    for (std::size_t i = 0; i < n; ++i) {
                        const std::uint32_t want = fewbits::random_word(packed, s.seed, off + i, r);
                        if (w[i] != want) {
                            log.add(arch + " r " + std::to_string(r) + " offset " + hex(off, 16) + " n " +
                                    std::to_string(n) + " index " + std::to_string(i) + ": want " + hex(want, 8) +
                                    ", got " + hex(w[i], 8));
                            break;
                        }
                    }
                }
        INFO(arch);
        FEWBITS_CHECK_CLEAN(log);
    }
    fewbits::set_simd_architecture("best");
}

TEST_CASE("counter_hash_packed: r > 16 gives counter_hash's words, r <= 16 a slice of a shared word in the top bits",
          "[random][packed]")
{
    for (std::uint64_t c = 0; c < 4096; ++c) {
        REQUIRE(fewbits::random_word(packed, 99, c, 17) == fewbits::random_word(fewbits::generator::counter_hash, 99, c));
        REQUIRE(fewbits::random_word(packed, 99, c, 32) == fewbits::random_word(fewbits::generator::counter_hash, 99, c));
        for (int r : {8, 16}) {
            const int s = slice_bits(r), k = 32 / s;
            const std::uint32_t w = fewbits::random_word(packed, 99, c, r);
            REQUIRE((w & ((1u << (32 - s)) - 1)) == 0u);
            // Slice j of the word of base counter 16 (c / group) + c mod 16, under packed_seed.
            const std::uint64_t group = 16u * static_cast<std::uint64_t>(k);
            const int j = static_cast<int>((c % group) / 16);
            const std::uint64_t base = (c / group) * 16 + c % 16;
            const std::uint32_t h = fewbits::random_word(fewbits::generator::counter_hash,
                                                         fewbits::detail::packed_seed(99), base);
            REQUIRE(w == (h >> (s * j)) << (32 - s));
        }
    }
}

TEST_CASE("counter_hash_packed: over every slice value SR with r bits rounds up exactly F 2^(s - r) times",
          "[random][packed][exact]")
{
    failure_log log;
    for (int r = 1; r <= 16; ++r) {
        const int s = slice_bits(r);
        const std::size_t count = std::size_t{1} << s;
        std::vector<std::uint32_t> words(count);
        for (std::size_t v = 0; v < count; ++v) words[v] = static_cast<std::uint32_t>(v) << (32 - s);
        // x = 1 + 2^-3 u on E4M3's grid [1, 1.125): f = u, with 16 fraction bits below the grid
        for (std::uint32_t fbits : {0x0001u, 0x8000u, 0x5555u, 0xAAAAu, 0xFFFFu, 0x1234u, 0x0F0Fu}) {
            const float x = 1.0f + std::ldexp(static_cast<float>(fbits), -3 - 16);
            const std::vector<float> in(count, x);
            std::vector<fewbits::float8_e4m3fn> q(count);
            fewbits::quantize<fewbits::float8_e4m3fn>(in, q, {fewbits::rounding::stochastic, fewbits::overflow::saturate, r},
                                                      words);
            std::size_t up = 0;
            for (const auto& e : q) up += static_cast<float>(e) > 1.0f;
            const std::size_t F = fbits >> (16 - r);  // floor(f 2^r), f = fbits / 2^16
            const std::size_t want = F << (s - r);
            if (up != want)
                log.add("r " + std::to_string(r) + " f " + hex(fbits, 4) + ": " + std::to_string(up) + " up, want " +
                        std::to_string(want));
        }
    }
    FEWBITS_CHECK_CLEAN(log);
}

TEST_CASE("counter_hash_packed: SR means are within 5 standard errors of f for r = 1..16 at every slice position",
          "[random][packed][stats]")
{
    failure_log log;
    for (int r = 1; r <= 16; ++r) {
        const int k = 32 / slice_bits(r);
        const std::size_t n = std::size_t{1} << 18;
        // f = 0.3 of a grid step, not a multiple of 2^-r: P(up) = floor(0.3 2^r) / 2^r exactly
        const float x = 1.0f + 0.125f * 0.3f;
        const double f_bits = std::floor(0.3 * std::ldexp(1.0, r)) / std::ldexp(1.0, r);
        const std::vector<float> in(n, x);
        std::vector<fewbits::float8_e4m3fn> q(n);
        fewbits::quantize<fewbits::float8_e4m3fn>(in, q, {fewbits::rounding::stochastic, fewbits::overflow::saturate, r},
                                                  fewbits::stream{0xBEEF00ull + static_cast<std::uint64_t>(r), 3, packed});
        for (int j = 0; j < k; ++j) {
            std::size_t up = 0, total = 0;
            for (std::size_t i = 0; i < n; ++i)
                if (static_cast<int>(((i + 3) % (16u * k)) / 16) == j) {
                    ++total;
                    up += static_cast<float>(q[i]) > 1.0f;
                }
            const double p = f_bits, mean = static_cast<double>(up) / static_cast<double>(total);
            const double se = std::sqrt(p * (1 - p) / static_cast<double>(total));
            if (std::fabs(mean - p) > 5 * se)
                log.add("r " + std::to_string(r) + " slice " + std::to_string(j) + ": mean " + std::to_string(mean) +
                        ", want " + std::to_string(p) + " (se " + std::to_string(se) + ")");
        }
    }
    FEWBITS_CHECK_CLEAN(log);
}

// ---- pairwise independence -----------------------------------------------------------------

// R, the r random bits an element's word gives SR: its top r bits.
using word_source = std::function<std::vector<std::uint32_t>(std::uint64_t seed, std::size_t n, int r)>;

std::vector<std::uint32_t> packed_words(std::uint64_t seed, std::size_t n, int r)
{
    std::vector<std::uint32_t> w(n);
    fewbits::fill_random_words({seed, 0, packed}, w, r);
    return w;
}

// The deliberately correlated layout: like counter_hash_packed with 8-bit slices, but slice j
// is bits [4j, 4j + 8) of the word, so neighbouring slices share 4 bits.
std::vector<std::uint32_t> overlapping_words(std::uint64_t seed, std::size_t n, int r)
{
    std::vector<std::uint32_t> w(n);
    for (std::size_t c = 0; c < n; ++c) {
        const std::uint64_t t = c % 64, base = (c / 64) * 16 + t % 16;
        const std::uint32_t h = fewbits::random_word(fewbits::generator::counter_hash, seed, base);
        w[c] = ((h >> (4 * (t / 16))) & 0xFFu) << 24;
    }
    (void)r;
    return w;
}

// Chi-square (df 255) of the joint distribution of 4-bit projections of two elements' R.
double joint_chi2(const std::vector<std::uint32_t>& w, int r, std::size_t a_off, std::size_t b_off, std::size_t stride,
                  int a_shift, int b_shift)
{
    std::vector<double> cells(256, 0.0);
    std::size_t pairs = 0;
    for (std::size_t g = 0; g + stride <= w.size(); g += stride) {
        const std::uint32_t ra = w[g + a_off] >> (32 - r), rb = w[g + b_off] >> (32 - r);
        cells[((ra >> a_shift) & 15u) * 16 + ((rb >> b_shift) & 15u)] += 1.0;
        ++pairs;
    }
    const double expected = static_cast<double>(pairs) / 256.0;
    double chi2 = 0;
    for (double c : cells) chi2 += (c - expected) * (c - expected) / expected;
    return chi2;
}

// Every pair of slices of one word (same column) and neighbouring elements, each with the
// projections (top, top), (top, low), (low, top), (low, low) nibble of R. Limits as in
// test_random's byte tests: df 255 within [161.5, 377.2].
void independence(const word_source& source, int r, std::uint64_t seed, failure_log& log, const std::string& what)
{
    const int k = 32 / slice_bits(r);
    const std::size_t group = 16u * static_cast<std::size_t>(k);
    const std::vector<std::uint32_t> w = source(seed, group << 16, r);  // 2^16 groups: 2^16 pairs per column
    auto check = [&](std::size_t a, std::size_t b, const std::string& pair) {
        for (int sa : {r - 4, 0})
            for (int sb : {r - 4, 0}) {
                // every column of the group is one more sample of the same pair of positions
                double chi2 = 0;
                for (std::size_t col = 0; col < 16; col += 4)
                    chi2 = std::max(chi2, joint_chi2(w, r, a + col, b + col, group, sa, sb));
                if (!(chi2 >= 161.5 && chi2 <= 377.2))
                    log.add(what + " r " + std::to_string(r) + " " + pair + " nibbles at bits " + std::to_string(sa) +
                            ", " + std::to_string(sb) + ": chi-square " + std::to_string(chi2));
            }
    };
    for (int j = 0; j < k; ++j)
        for (int jj = j + 1; jj < k; ++jj)
            check(16u * static_cast<std::size_t>(j), 16u * static_cast<std::size_t>(jj),
                  "slices " + std::to_string(j) + " and " + std::to_string(jj) + " of one word");
    check(0, 1, "neighbours 0 and 1");
    check(15, 16, "neighbours 15 and 16");
}

TEST_CASE("counter_hash_packed: elements sharing a word and neighbours are pairwise independent", "[random][packed][stats]")
{
    failure_log log;
    for (int r : {8, 16}) independence(packed_words, r, 0x1D1Dull + static_cast<std::uint64_t>(r), log, "counter_hash_packed");
    FEWBITS_CHECK_CLEAN(log);
}

TEST_CASE("the pairwise independence test rejects a layout whose slices overlap", "[random][packed][stats]")
{
    failure_log log(100);
    independence(overlapping_words, 8, 0x1D1Dull, log, "overlapping");
    INFO(log.summary());
    // Slices j and j + 1 share 4 bits: (top nibble of j, low nibble of j + 1) are equal.
    CHECK(log.count() >= 3u);
    std::size_t uniform_fail = 0;
    // Per element the overlapping layout is still uniform: only the pair test can see it.
    const std::vector<std::uint32_t> w = overlapping_words(7, 64u << 12, 8);
    std::vector<double> cells(256, 0.0);
    for (std::uint32_t x : w) cells[x >> 24] += 1.0;
    const double e = static_cast<double>(w.size()) / 256.0;
    double chi2 = 0;
    for (double c : cells) chi2 += (c - e) * (c - e) / e;
    uniform_fail += !(chi2 >= 161.5 && chi2 <= 377.2);
    CHECK(uniform_fail == 0u);
}

TEST_CASE("counter_hash_packed: each slice position's R is uniform", "[random][packed][stats]")
{
    failure_log log;
    for (int r : {8, 16}) {
        const int k = 32 / slice_bits(r);
        const std::size_t group = 16u * static_cast<std::size_t>(k);
        const std::vector<std::uint32_t> w = packed_words(0xA11ull + static_cast<std::uint64_t>(r), group << 14, r);
        for (int j = 0; j < k; ++j) {
            std::vector<double> cells(256, 0.0);
            std::size_t count = 0;
            for (std::size_t i = 0; i < w.size(); ++i)
                if (static_cast<int>((i % group) / 16) == j) {
                    cells[w[i] >> 24] += 1.0;  // the top 8 bits of R
                    ++count;
                }
            const double e = static_cast<double>(count) / 256.0;
            double chi2 = 0;
            for (double c : cells) chi2 += (c - e) * (c - e) / e;
            if (!(chi2 >= 161.5 && chi2 <= 377.2))
                log.add("r " + std::to_string(r) + " slice " + std::to_string(j) + ": chi-square " + std::to_string(chi2));
        }
    }
    FEWBITS_CHECK_CLEAN(log);
}

}  // namespace
