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
// Quality evidence for counter_hash (tests/test_random.cpp, N = 2^22 in the test suite and
// 2^26 by hand; numbers in the README): per-bit frequency, byte chi-square at each of the 4
// byte positions, serial correlation, correlation between neighbouring seeds, and a 2D
// chi-square of consecutive top nibbles, each for sequential counters within one seed and
// for the same counter across sequential and derived seeds; plus SR unbiasedness.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fewbits/config.hpp"
#include "fewbits/detail/dispatch.hpp"

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits {

enum class generator { counter_hash, philox };

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

}  // namespace detail

// Philox4x32-10 block function: 128-bit counter and 64-bit key to 128 random bits.
constexpr std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                                     std::array<std::uint32_t, 2> key) noexcept
{
    constexpr std::uint64_t m0 = 0xD2511F53u;
    constexpr std::uint64_t m1 = 0xCD9E8D57u;
    std::array<std::uint32_t, 4> c = counter;
    std::array<std::uint32_t, 2> k = key;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {  // the Weyl sequence bumps the key between rounds
            k[0] += 0x9E3779B9u;
            k[1] += 0xBB67AE85u;
        }
        const std::uint64_t p0 = m0 * c[0];
        const std::uint64_t p1 = m1 * c[2];
        c = {detail::hi32(p1) ^ c[1] ^ k[0], detail::lo32(p1), detail::hi32(p0) ^ c[3] ^ k[1],
             detail::lo32(p0)};
    }
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

// The default generator: counter_hash.
constexpr std::uint32_t random_word(std::uint64_t seed, std::uint64_t counter) noexcept
{
    return counter_hash_word(seed, counter);
}

constexpr std::uint32_t random_word(generator g, std::uint64_t seed, std::uint64_t counter) noexcept
{
    return g == generator::philox ? philox_word(seed, counter) : counter_hash_word(seed, counter);
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

// One Philox block per 4 counters, each block computed once.
inline void fill_philox(std::uint64_t seed, std::uint64_t offset, std::uint32_t* out,
                        std::size_t n) noexcept
{
    std::uint64_t counter = offset;
    while (n > 0) {
        const std::array<std::uint32_t, 4> block = philox_block(seed, counter >> 2);
        std::size_t j = counter & 3;
        const std::size_t first = j;
        for (; j < 4 && n > 0; ++j, --n) *out++ = block[j];
        counter += j - first;
    }
}

}  // namespace detail

// out[i] = random_word(s.rng, s.seed, s.offset + i), vectorised for counter_hash.
inline void fill_random_words(stream s, std::span<std::uint32_t> out) noexcept
{
    if (s.rng == generator::philox)
        detail::fill_philox(s.seed, s.offset, out.data(), out.size());
    else
        detail::fill_counter_hash(s.seed, s.offset, out.data(), out.size());
}

}  // namespace fewbits

FEWBITS_SIMD_DIAGNOSTICS_POP
