// Counter-based random words for stochastic rounding: a pure function
// random_word(seed, counter) -> uint32, so that a result depends only on (inputs, seed,
// offset) and never on SIMD width, chunking, alignment or thread count. A bulk call with
// stream {seed, offset} gives element i the word random_word(seed, offset + i); counter
// arithmetic wraps mod 2^64. Two generators:
//
// - counter_hash (the default, for speed): per (seed, hi32(counter)) two 32-bit keys a, b
//   come from a 64-bit splitmix64 mix; each word is Wellons' triple32 integer hash of
//   lo32(counter) ^ a with b injected before the last round: 3 multiplies, 4 xor-shifts,
//   2 xors, all 32-bit, so it vectorises on SSE4.1/AVX2/AVX-512/NEON (xsimd 8 emulates the
//   32-bit multiply per lane on plain SSE2). Documented property: for one seed, the words of
//   one block of 2^32 counters (same hi32) are a permutation of all 2^32 values, so a 32-bit
//   word never repeats inside a block (a truly random sequence repeats after about 2^16
//   words). Stochastic rounding only needs uniform, independent-looking words, and the
//   permutation is if anything more uniform; a full-word collision test would tell it apart.
// - philox: Philox4x32-10 (Salmon et al., SC 2011; Random123), checked against the published
//   known-answer vectors. Slower (ten rounds of two 32x32->64 multiplies per 4 words, scalar
//   in bulk) but a standard generator with published crush results: the control.
//
// - counter_hash_packed (layout version 2, opt-in): for r <= 16 random bits, one counter_hash
//   word serves 32/s elements, s = 8 (r <= 8) or 16 (9 <= r <= 16): element c takes the s-bit
//   slice j of word H(base), placed in the top s bits of its word (the rest zero), where
//   counters are cut into groups of 16 * 32/s: group q = c / (16 * 32/s), t = c mod that,
//   base = 16 q + (t mod 16), j = t / 16, and H is counter_hash under a seed of its own
//   (packed_seed). Sixteen neighbouring counters share a slice position and take sixteen
//   different words, so a vector of any width up to 16 lanes is one hash per lane and one
//   shift per output: the layout is the same for every ISA. For r > 16 the words are
//   counter_hash's own. SR reads only the top r bits of a word, so each element's R is its
//   slice's top r bits: uniform whenever the hash's output is (over one 2^32 block of base
//   counters it is a permutation, so exactly uniform there). The words depend on r (the
//   kernels pass the policy's random_bits); tests/test_packed_random.cpp checks the exact law,
//   the per-element uniformity and the independence of the elements that share a word.
//
// Quality evidence for counter_hash (tests/test_random.cpp, N = 2^22 in the test suite and
// 2^26 by hand; numbers in the README): per-bit frequency, byte chi-square at each of the 4
// byte positions, serial correlation, correlation between neighbouring seeds, and a 2D
// chi-square of consecutive top nibbles, each for sequential counters within one seed and
// for the same counter across sequential and derived seeds; plus SR unbiasedness.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fewbits/config.hpp"
#include "fewbits/detail/dispatch.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits {

// The generator of a stream, and so its layout version: counter_hash (version 1, the default),
// philox (the reference), counter_hash_packed (version 2: counter_hash words shared by 32/s
// elements for r <= 16 random bits). Recorded results stay reproducible with the generator
// they were made with; the enumerators' values are fixed (stored in checkpoints).
enum class generator { counter_hash = 0, philox = 1, counter_hash_packed = 2 };

// A position in a random stream: element i of a bulk call uses
// random_word(rng, seed, offset + i).
struct stream {
    std::uint64_t seed = 0;
    std::uint64_t offset = 0;
    generator rng = generator::counter_hash;
};

namespace detail {

// splitmix64's finaliser (Steele, Lea, Flood 2014): a bijection of 64-bit words with full
// avalanche. Keys and derived seeds go through it so that neighbouring seeds and ids give
// unrelated keys.
constexpr std::uint64_t fmix64(std::uint64_t z) noexcept
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

constexpr std::uint32_t lo32(std::uint64_t x) noexcept { return static_cast<std::uint32_t>(x); }
constexpr std::uint32_t hi32(std::uint64_t x) noexcept { return static_cast<std::uint32_t>(x >> 32); }

struct counter_hash_keys {
    std::uint32_t a;
    std::uint32_t b;
};

// The keys of one block of 2^32 counters. The inner term is splitmix64's first output for
// state seed (the added constant keeps seed 0, the default, from the mix's fixed point 0,
// which would leave block 0 unkeyed). For a fixed seed, z is a bijection of hi (odd
// multiplier, then a bijective mix), so no two blocks of one seed share their keys.
constexpr counter_hash_keys counter_hash_key(std::uint64_t seed, std::uint32_t hi) noexcept
{
    constexpr std::uint64_t golden = 0x9E3779B97F4A7C15ull;  // 2^64 / phi, odd
    const std::uint64_t z = fmix64(fmix64(seed + golden) + std::uint64_t{hi} * golden);
    return {lo32(z), hi32(z)};
}

// The per-word part, written once for a scalar uint32_t or an xsimd batch of them, so that
// the SIMD path takes the very same steps. triple32 (Wellons, "Hash function prospector"):
// each step is invertible, hence a bijection of x for fixed keys.
template <class U>
FEWBITS_ALWAYS_INLINE constexpr U counter_hash_mix(U x, U a, U b) noexcept
{
    U h = x ^ a;
    h ^= h >> 17;
    h *= U(0xED5AD4BBu);
    h ^= h >> 11;
    h *= U(0xAC4C1B51u);
    h ^= b;
    h ^= h >> 15;
    h *= U(0x31848BABu);
    h ^= h >> 14;
    return h;
}

// The high half of a 32 x 32 -> 64-bit product (scalar lanes; vec::mul_hi for vector lanes).
constexpr std::uint32_t mul_hi(std::uint32_t a, std::uint32_t m) noexcept
{
    return hi32(std::uint64_t{a} * m);
}

// Philox4x32-10's ten rounds on counter words c0..c3 with key k0, k1, written once for a
// scalar uint32_t or a vector of them (one block per lane), so that the vector fill takes the
// very same steps.
template <class U>
FEWBITS_ALWAYS_INLINE constexpr void philox_rounds(U& c0, U& c1, U& c2, U& c3, U k0, U k1) noexcept
{
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {  // the Weyl sequence bumps the key between rounds
            k0 += U(0x9E3779B9u);
            k1 += U(0xBB67AE85u);
        }
        const U high1 = mul_hi(c2, m1), low1 = c2 * U(m1);
        const U high0 = mul_hi(c0, m0), low0 = c0 * U(m0);
        c0 = high1 ^ c1 ^ k0;
        c1 = low1;
        c2 = high0 ^ c3 ^ k1;
        c3 = low0;
    }
}

}  // namespace detail

// Philox4x32-10 block function: 128-bit counter and 64-bit key to 128 random bits.
constexpr std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                                     std::array<std::uint32_t, 2> key) noexcept
{
    std::array<std::uint32_t, 4> c = counter;
    detail::philox_rounds<std::uint32_t>(c[0], c[1], c[2], c[3], key[0], key[1]);
    return c;
}

namespace detail {

constexpr std::array<std::uint32_t, 4> philox_block(std::uint64_t seed, std::uint64_t block) noexcept
{
    return philox4x32_10({lo32(block), hi32(block), 0u, 0u}, {lo32(seed), hi32(seed)});
}

}  // namespace detail

// Word (counter & 3) of the Philox block with counter {lo32(counter >> 2), hi32(counter >> 2),
// 0, 0} and key {lo32(seed), hi32(seed)}: four consecutive counters share one block.
constexpr std::uint32_t philox_word(std::uint64_t seed, std::uint64_t counter) noexcept
{
    return detail::philox_block(seed, counter >> 2)[counter & 3];
}

constexpr std::uint32_t counter_hash_word(std::uint64_t seed, std::uint64_t counter) noexcept
{
    const detail::counter_hash_keys k = detail::counter_hash_key(seed, detail::hi32(counter));
    return detail::counter_hash_mix<std::uint32_t>(detail::lo32(counter), k.a, k.b);
}

namespace detail {

// The slice width of counter_hash_packed for r random bits: 8, 16, or 32 (no sharing).
constexpr int packed_slice_bits(int random_bits) noexcept
{
    return random_bits <= 8 ? 8 : (random_bits <= 16 ? 16 : 32);
}
// The seed of the shared words: not the stream's own, so that no packed word is a
// counter_hash word of the same stream (a bijection of the seed).
constexpr std::uint64_t packed_seed(std::uint64_t seed) noexcept { return seed ^ 0x7061636B65642D32ull; }

}  // namespace detail

// counter_hash_packed's word for counter c with r random bits (see the top of this file).
constexpr std::uint32_t counter_hash_packed_word(std::uint64_t seed, std::uint64_t counter, int random_bits) noexcept
{
    const int s = detail::packed_slice_bits(random_bits);
    if (s == 32) return counter_hash_word(seed, counter);
    const int log2_group = s == 8 ? 6 : 5;  // 16 columns x 4 or 2 slices
    const std::uint64_t t = counter & ((std::uint64_t{1} << log2_group) - 1);
    const std::uint64_t base = ((counter >> log2_group) << 4) + (t & 15);
    const std::uint32_t h = counter_hash_word(detail::packed_seed(seed), base);
    return (h >> (s * static_cast<int>(t >> 4))) << (32 - s);
}

// The default generator: counter_hash.
constexpr std::uint32_t random_word(std::uint64_t seed, std::uint64_t counter) noexcept
{
    return counter_hash_word(seed, counter);
}

// Word counter of generator g for stochastic rounding with random_bits bits (which only
// counter_hash_packed depends on).
constexpr std::uint32_t random_word(generator g, std::uint64_t seed, std::uint64_t counter, int random_bits) noexcept
{
    switch (g) {
    case generator::philox: return philox_word(seed, counter);
    case generator::counter_hash_packed: return counter_hash_packed_word(seed, counter, random_bits);
    default: return counter_hash_word(seed, counter);
    }
}
// The same for 32 random bits (counter_hash_packed then gives counter_hash's words).
constexpr std::uint32_t random_word(generator g, std::uint64_t seed, std::uint64_t counter) noexcept
{
    return random_word(g, seed, counter, 32);
}

// A child stream {seed', 0, parent.rng} for per-sample, per-layer or per-thread randomness.
// For a fixed parent, seed' is a bijection of id (odd multiplier, add, bijective mix), so
// siblings never share a seed; nesting is not commutative (derive(derive(s, a), b) differs
// from derive(derive(s, b), a)) because the mix is applied again at each level. The constants
// differ from the counter_hash key schedule so that a child seed is not a parent's key.
// The parent's offset does not enter: a child is named by (parent seed, id) alone.
constexpr stream derive(stream parent, std::uint64_t id) noexcept
{
    const std::uint64_t base = detail::fmix64(parent.seed ^ 0x6A09E667F3BCC909ull);
    return {detail::fmix64(base + id * 0xD1B54A32D192ED03ull), 0, parent.rng};
}

namespace detail {

// Lane indices for building counter batches; aligned for every lane type (64 bytes covers
// AVX-512; 16 lanes is the widest).
alignas(64) inline constexpr std::uint32_t lane_iota[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                            8, 9, 10, 11, 12, 13, 14, 15};

// Whole batches of one 2^32 block: counters lo, lo + 1, ... with no carry into hi32 (the
// caller splits there). Returns how many words it wrote (a multiple of the batch size).
template <class U>
FEWBITS_ALWAYS_INLINE inline std::size_t counter_hash_lanes(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                            std::size_t n) noexcept
{
    constexpr std::size_t w = U::size;
    static_assert(w <= sizeof lane_iota / sizeof lane_iota[0]);
    const U ka(k.a), kb(k.b), step(static_cast<std::uint32_t>(w));
    U x = U(lo) + lane_io<U>::load(lane_iota);
    std::size_t i = 0;
    for (; i + w <= n; i += w) {
        lane_io<U>::store(counter_hash_mix<U>(x, ka, kb), out + i);
        x += step;
    }
    return i;
}

#if FEWBITS_DISPATCH
// One copy per target: the lane loop above, inlined where the target's instructions exist.
inline std::size_t counter_hash_sse2(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out, std::size_t n) noexcept
{
    return counter_hash_lanes<vec::u32<4>>(lo, k, out, n);
}
FEWBITS_TARGET_AVX2 inline std::size_t counter_hash_avx2(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                         std::size_t n) noexcept
{
    return counter_hash_lanes<vec::u32<8>>(lo, k, out, n);
}
FEWBITS_TARGET_AVX512 inline std::size_t counter_hash_avx512(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                             std::size_t n) noexcept
{
    return counter_hash_lanes<vec::u32<16>>(lo, k, out, n);
}
#endif

// The words of whole batches on the active target; the caller finishes the tail.
inline std::size_t counter_hash_simd(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out, std::size_t n) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return counter_hash_avx512(lo, k, out, n);
    case simd_target::avx2: return counter_hash_avx2(lo, k, out, n);
    case simd_target::sse2: return counter_hash_sse2(lo, k, out, n);
    default: return 0;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available)
        if (active_simd_target() != simd_target::scalar) return counter_hash_lanes<simd::u32>(lo, k, out, n);
    return 0;
#else
    (void)lo, (void)k, (void)out, (void)n;
    return 0;
#endif
}

inline void fill_counter_hash(std::uint64_t seed, std::uint64_t offset, std::uint32_t* out,
                              std::size_t n) noexcept
{
    std::uint64_t counter = offset;
    while (n > 0) {
        // One piece per block of 2^32 counters: the keys change where hi32 does.
        const std::uint32_t lo = lo32(counter);
        const std::uint64_t to_boundary = (std::uint64_t{1} << 32) - lo;
        const std::size_t len = n < to_boundary ? n : static_cast<std::size_t>(to_boundary);
        const counter_hash_keys k = counter_hash_key(seed, hi32(counter));
        std::size_t i = counter_hash_simd(lo, k, out, len);
        for (; i < len; ++i)
            out[i] = counter_hash_mix<std::uint32_t>(lo + static_cast<std::uint32_t>(i), k.a, k.b);
        out += len;
        n -= len;
        counter += len;  // wraps mod 2^64 like the counters themselves
    }
}

// counter_hash_packed, whole groups of 16 * K counters (K = 32 / S slices per word) from base
// counter lo (a multiple of 16, and lo + 16 * groups within one 2^32 block of base counters):
// per 16 columns, one hash per lane and K shifted stores.
template <class U, int S>
FEWBITS_ALWAYS_INLINE inline void counter_hash_packed_lanes(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                            std::size_t groups) noexcept
{
    constexpr int W = static_cast<int>(U::size), K = 32 / S;
    static_assert(16 % W == 0);
    const U ka(k.a), kb(k.b), step(static_cast<std::uint32_t>(W));
    U x = U(lo) + lane_io<U>::load(lane_iota);
    for (std::size_t q = 0; q < groups; ++q, out += std::ptrdiff_t{16} * K) {
        for (int col = 0; col < 16; col += W) {
            const U h = counter_hash_mix<U>(x, ka, kb);
            lane_io<U>::store(h << (32 - S), out + static_cast<std::ptrdiff_t>(col));
            for (int j = 1; j < K; ++j)
                lane_io<U>::store((h >> (S * j)) << (32 - S), out + std::ptrdiff_t{16} * j + col);
            x += step;
        }
    }
}

#if FEWBITS_DISPATCH
template <int S>
inline void counter_hash_packed_sse2(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out, std::size_t g) noexcept
{
    counter_hash_packed_lanes<vec::u32<4>, S>(lo, k, out, g);
}
template <int S>
FEWBITS_TARGET_AVX2 inline void counter_hash_packed_avx2(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                         std::size_t g) noexcept
{
    counter_hash_packed_lanes<vec::u32<8>, S>(lo, k, out, g);
}
template <int S>
FEWBITS_TARGET_AVX512 inline void counter_hash_packed_avx512(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out,
                                                             std::size_t g) noexcept
{
    counter_hash_packed_lanes<vec::u32<16>, S>(lo, k, out, g);
}
#endif

// Whole groups on the active target; false if none ran (scalar: the caller does them).
template <int S>
inline bool counter_hash_packed_simd(std::uint32_t lo, counter_hash_keys k, std::uint32_t* out, std::size_t g) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: counter_hash_packed_avx512<S>(lo, k, out, g); return true;
    case simd_target::avx2: counter_hash_packed_avx2<S>(lo, k, out, g); return true;
    case simd_target::sse2: counter_hash_packed_sse2<S>(lo, k, out, g); return true;
    default: return false;
    }
#elif FEWBITS_HAS_XSIMD
    if constexpr (simd::available && 16 % simd::u32::size == 0)
        if (active_simd_target() != simd_target::scalar) {
            counter_hash_packed_lanes<simd::u32, S>(lo, k, out, g);
            return true;
        }
    return false;
#else
    (void)lo, (void)k, (void)out, (void)g;
    return false;
#endif
}

template <int S>
inline void fill_counter_hash_packed(std::uint64_t seed, std::uint64_t offset, std::uint32_t* out, std::size_t n) noexcept
{
    constexpr std::uint64_t group = std::uint64_t{16} * (32 / S);
    std::uint64_t counter = offset;
    // Element by element up to a group boundary, whole groups in vectors, then the rest.
    while (n > 0 && counter % group != 0) {
        *out++ = counter_hash_packed_word(seed, counter++, S);
        --n;
    }
    const std::uint64_t key_seed = packed_seed(seed);
    while (n >= group) {
        const std::uint64_t base = (counter / group) * 16;
        const std::uint32_t lo = lo32(base);
        // Groups up to the end of this 2^32 block of base counters (the keys change there).
        const std::uint64_t to_boundary = ((std::uint64_t{1} << 32) - lo) / 16;
        const std::uint64_t groups = std::min<std::uint64_t>(n / group, to_boundary);
        const counter_hash_keys k = counter_hash_key(key_seed, hi32(base));
        if (!counter_hash_packed_simd<S>(lo, k, out, static_cast<std::size_t>(groups)))
            for (std::size_t i = 0; i < groups * group; ++i) out[i] = counter_hash_packed_word(seed, counter + i, S);
        out += groups * group;
        n -= static_cast<std::size_t>(groups * group);
        counter += groups * group;
    }
    for (; n > 0; --n) *out++ = counter_hash_packed_word(seed, counter++, S);
}

#if FEWBITS_DISPATCH
// Philox4x32-10 for consecutive blocks N at a time, lane j running block counter
// {lo + j, hi, 0, 0} (the caller keeps lo + blocks within 2^32), the words in counter order:
// out[4 j + i] = word i of block j. Returns how many blocks it did (a multiple of N).
template <int N>
FEWBITS_ALWAYS_INLINE inline std::size_t philox_lanes(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed,
                                                      std::uint32_t* out, std::size_t blocks) noexcept
{
    using U = vec::u32<N>;
    // The keys as vectors from the start (GCC 12 builds a vector of a scalar that changes in
    // the loop lane by lane).
    const U k0(lo32(seed)), k1(hi32(seed));
    U counter = U(lo) + U::load(lane_iota);
    std::size_t b = 0;
    for (; b + N <= blocks; b += N, counter += U(std::uint32_t{N})) {
        U c0 = counter, c1(hi), c2(0u), c3(0u);
        philox_rounds(c0, c1, c2, c3, k0, k1);
        vec::store_interleaved4(c0, c1, c2, c3, out + 4 * b);
    }
    return b;
}

inline std::size_t philox_sse2(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed, std::uint32_t* out,
                               std::size_t blocks) noexcept
{
    return philox_lanes<4>(lo, hi, seed, out, blocks);
}
FEWBITS_TARGET_AVX2 inline std::size_t philox_avx2(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed,
                                                   std::uint32_t* out, std::size_t blocks) noexcept
{
    return philox_lanes<8>(lo, hi, seed, out, blocks);
}
FEWBITS_TARGET_AVX512 inline std::size_t philox_avx512(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed,
                                                       std::uint32_t* out, std::size_t blocks) noexcept
{
    return philox_lanes<16>(lo, hi, seed, out, blocks);
}
#endif

// Whole batches of blocks on the active target (none without dispatch: xsimd has no
// 32 x 32 -> 64-bit lane product on every architecture); the caller does the rest.
inline std::size_t philox_simd(std::uint32_t lo, std::uint32_t hi, std::uint64_t seed, std::uint32_t* out,
                               std::size_t blocks) noexcept
{
#if FEWBITS_DISPATCH
    switch (active_simd_target()) {
    case simd_target::avx512: return philox_avx512(lo, hi, seed, out, blocks);
    case simd_target::avx2: return philox_avx2(lo, hi, seed, out, blocks);
    case simd_target::sse2: return philox_sse2(lo, hi, seed, out, blocks);
    default: return 0;
    }
#else
    (void)lo, (void)hi, (void)seed, (void)out, (void)blocks;
    return 0;
#endif
}

// One Philox block per 4 counters, each block computed once: whole blocks in vectors (up to
// where the block counter's low half wraps), a partial block at either end word by word.
inline void fill_philox(std::uint64_t seed, std::uint64_t offset, std::uint32_t* out,
                        std::size_t n) noexcept
{
    std::uint64_t counter = offset;
    while (n > 0) {
        const std::uint64_t block = counter >> 2;
        if (counter % 4 == 0 && n >= 4) {
            const std::uint64_t to_boundary = (std::uint64_t{1} << 32) - lo32(block);
            const std::size_t blocks = n / 4 < to_boundary ? n / 4 : static_cast<std::size_t>(to_boundary);
            std::size_t b = philox_simd(lo32(block), hi32(block), seed, out, blocks);
            for (; b < blocks; ++b) {
                const std::array<std::uint32_t, 4> words = philox_block(seed, block + b);
                std::copy(words.begin(), words.end(), out + 4 * b);
            }
            out += 4 * blocks;
            n -= 4 * blocks;
            counter += 4 * static_cast<std::uint64_t>(blocks);  // wraps mod 2^64 like the counters
            continue;
        }
        const std::array<std::uint32_t, 4> words = philox_block(seed, block);
        std::size_t j = counter & 3;
        const std::size_t first = j;
        for (; j < 4 && n > 0; ++j, --n) *out++ = words[j];
        counter += j - first;
    }
}

}  // namespace detail

// out[i] = random_word(s.rng, s.seed, s.offset + i, random_bits), vectorised for counter_hash
// and counter_hash_packed. The kernels pass their policy's random_bits.
inline void fill_random_words(stream s, std::span<std::uint32_t> out, int random_bits = 32) noexcept
{
    switch (s.rng) {
    case generator::philox: detail::fill_philox(s.seed, s.offset, out.data(), out.size()); return;
    case generator::counter_hash_packed:
        switch (detail::packed_slice_bits(random_bits)) {
        case 8: detail::fill_counter_hash_packed<8>(s.seed, s.offset, out.data(), out.size()); return;
        case 16: detail::fill_counter_hash_packed<16>(s.seed, s.offset, out.data(), out.size()); return;
        default: break;
        }
        break;
    default: break;
    }
    detail::fill_counter_hash(s.seed, s.offset, out.data(), out.size());
}

}  // namespace fewbits

FEWBITS_SIMD_DIAGNOSTICS_POP
