// The fused optimizer updates on weights (and optimizer state) kept in their storage formats:
// SGD, SGD with momentum and AdamW, each decoding, updating in float and rounding once into
// storage per element, on the block machinery of kernels.hpp (decode_block, encode_span).
// These are the low-level half of the optimizers: the optimizer objects that step a model's
// parameters with them are in optim/.
//
// SGD and momentum, for element i:
//   sgd_update(w, g, lr, p, s)    w[i] = convert<T>(std::fma(-lr, g[i], float(w[i])), p, word_i)
//   sgd_momentum_update(w, v, g, lr, mu, p, s)
//                                 v[i] = V(std::fma(mu, float(v[i]), g[i])) (V = float: exact;
//                                        low precision: convert<V>(.., p, velocity word_i))
//                                 w[i] = convert<T>(std::fma(-lr, float(v[i]), float(w[i])), p, word_i)
// with word_i = random_word(s.rng, s.seed, s.offset + i) and, for a low-precision velocity,
// velocity word_i = random_word(s.rng, velocity_seed(s), s.offset + i).
// sgd_momentum_update's words overload takes a second span, velocity_words, for the rounding of
// a low-precision velocity (velocity word_i = velocity_words[i], one per element); with a float
// velocity nothing is rounded there and velocity_words must be empty. With the stream's own
// words (fill_random_words(s, ...), and fill_random_words({velocity_seed(s), s.offset, s.rng},
// ...) for the velocity) an overload gives exactly the stream call's bits.
//
// AdamW: the fused AdamW update (PyTorch's torch.optim.AdamW, decoupled weight decay) on weights
// and moments kept in their storage formats: weights in float or any fewbits format,
// moments m and v in float, bfloat16 or float16, each rounded once into its storage under
// one policy (stochastic rounding: no FP32 master weights or moments are needed).
// Contract, for element i of adamw_update(w, m, v, g, o, t, p, s), computed in float from
// the decoded values (constants first computed in double, as PyTorch does with its Python
// floats, then rounded to float):
//   decay = float(1 - lr * weight_decay)    step_size = float(lr / (1 - beta1^t))
//   c1 = float(1 - beta1)  c2 = float(1 - beta2)    root_bc2 = float(sqrt(1 - beta2^t))
//   m[i] = S(fma(beta1, m[i], c1 * g[i]))             rounded with m word_i
//   v[i] = S(fma(c2 * g[i], g[i], beta2 * v[i]))      rounded with v word_i
//   w[i] = W(fma(-step_size, m[i] / (sqrt(v[i]) / root_bc2 + eps), w[i] * decay))
//                                                      rounded with word_i
// where the weight step reads m[i] and v[i] as just stored (the values the next step will
// see, so the update follows the state the optimizer really holds), S(x) / W(x) is
// convert<S>(x, p, word) for a fewbits format and x itself for float, and
//   word_i   = random_word(s.rng, s.seed, s.offset + i)                 (as in sgd_update)
//   m word_i = random_word(s.rng, adamw_m_seed(s), s.offset + i)
//   v word_i = random_word(s.rng, adamw_v_seed(s), s.offset + i)
// The moments' seeds are derive(s, id) with their own ids (like velocity_seed), so the
// three roundings of an element are independent draws, and a result depends only on the
// inputs, the options, t, the policy and the stream: not on the ISA, the SIMD width or how
// a caller chunks the arrays (pass s.offset + start for a chunk).
//
// Errors: std::invalid_argument naming the argument and its value, thrown before anything
// is written: mismatched sizes, an invalid policy, lr not finite (AdamW: lr or weight_decay
// negative or not finite, a beta outside [0, 1), eps not positive and finite, t = 0), a
// momentum outside [0, 1).
// Like every kernel each has an overload taking the caller's random words instead of a stream
// (adamw_update: words, m_words, v_words, one per element for a fewbits format, empty for float).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fewbits/detail/simd.hpp"
#include "fewbits/error.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"
#include "fewbits/types.hpp"

// xsimd's AVX-512 sqrt inlines GCC 12's self-initialised register (config.hpp).
FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits {

// The seed of the words that round a low-precision momentum velocity: a stream of its own
// (so that the velocity and weight roundings are independent) at the same offsets as s.
constexpr std::uint64_t velocity_seed(const stream& s) noexcept { return derive(s, 0x76656C6F63697479ull).seed; }

namespace detail {

inline void validate_lr(float lr)
{
    if (!std::isfinite(lr)) raise_invalid_argument("lr must be finite, got " + exact_string(lr));
}
inline void validate_momentum(float momentum)
{
    if (!(momentum >= 0.0f && momentum < 1.0f))
        raise_invalid_argument("momentum must be in [0, 1), got " + exact_string(momentum));
}

// Where an update kernel's values live: float arrays as they are, fewbits formats as their codes.
template <class T>
struct cell {
    using type = float;
};
template <low_precision T>
struct cell<T> {
    using type = storage_of<T>;
};
template <class T>
using cell_t = typename cell<T>::type;

template <class T>
cell_t<T>* cells(T* p) noexcept
{
    if constexpr (std::same_as<T, float>)
        return p;
    else
        return storage_pointer(p);
}

// The random words of elements [start, start + n) of a source, for one block: generated into
// buffer from a stream (only when the policy rounds stochastically: otherwise nothing reads
// them), the caller's own words in place (null for float storage, which has none).
inline const std::uint32_t* block_words(const stream& s, std::size_t start, std::size_t n, const policy& p,
                                        std::uint32_t* buffer) noexcept
{
    if (p.mode == rounding::stochastic) fill_random_words(advance(s, start), std::span<std::uint32_t>(buffer, n), p.random_bits);
    return buffer;
}
inline const std::uint32_t* block_words(caller_words w, std::size_t start, std::size_t, const policy&,
                                        std::uint32_t*) noexcept
{
    return w.data == nullptr ? nullptr : w.data + start;
}

// AdamW's per-call constants (adamw_loop), as floats.
struct adamw_constants {
    float decay, c1, c2, step_size, root_bc2, beta1, beta2, eps;
};

#if FEWBITS_DISPATCH
// ---------------------------------------------------------------------------------------
// The fused updates on the dispatched targets: one pass over each vector of a block, which
// loads every array, decodes, updates in float, rounds, stores and decodes the stored moments
// for the weight step, with no intermediate buffer. Float arithmetic on the u32 lanes' bits:
// products, quotients and sums are the GNU vectors' own (IEEE, one rounding each, as the
// scalar code's), fused multiply-adds and square roots the target's instructions (exactly
// rounded, as std::fma and std::sqrt). SSE2 has no FMA instruction: fma_via_double below.

template <int N>
using f32_lanes = typename vec::raw<N>::f32;

// fma(a, b, c) exactly rounded to float without an FMA instruction (SSE2): a * b is exact in
// double (24 + 24 significant bits), s = a * b + c rounded to double and its exact error e
// (Knuth's TwoSum) are turned into the sum rounded to odd (Boldo and Melquiond 2008: if the
// sum was inexact and s's last bit is even, s steps one unit toward e), and a sum rounded to
// odd in 53 bits rounds to float (24 bits, 53 >= 2 * 24 + 2) exactly as the exact sum does,
// subnormal results included (they are double normals). Infinite or NaN sums are left as they
// are and NaN operands win in x86's order (a, b, c), so infinities and NaNs come out as x86's
// FMA instruction gives them. Under
// -ffp-contract=fast a compiler may fuse a * b with what follows: a * b is exact, so nothing
// changes. Assumes MXCSR rounds to nearest, like every float operation of the updates.
template <int N>
FEWBITS_ALWAYS_INLINE inline f32_lanes<N> fma_via_double(f32_lanes<N> a, f32_lanes<N> b, f32_lanes<N> c) noexcept
{
    typedef double d __attribute__((vector_size(8 * N)));
    typedef std::uint64_t q __attribute__((vector_size(8 * N)));
    const d x = __builtin_convertvector(a, d), y = __builtin_convertvector(b, d), z = __builtin_convertvector(c, d);
    const d prod = x * y;
    const d s = prod + z;
    const d bb = s - prod;
    const d e = (prod - (s - bb)) + (z - bb);
    const q sb = reinterpret_cast<q>(s);
    const d inf = d{} + __builtin_inf();
    const q adjust = (~sb & 1u) & reinterpret_cast<q>((e != 0.0) & (s < inf) & (s > -inf));
    const q toward_zero = (sb ^ reinterpret_cast<q>(e)) >> 63;  // 1: e has the other sign than s
    q odd = sb + ((adjust ^ (q{} - toward_zero)) + toward_zero);
    // NaNs as x86's FMA (and std::fma there) gives them: a NaN a, else a NaN b, else a NaN c,
    // even where a * b is 0 * inf (the double product would make that the default NaN).
    // (Chosen explicitly: a compiler may swap the operands of the commutative + and *.)
    const q a_nan = reinterpret_cast<q>(x != x), b_nan = reinterpret_cast<q>(y != y) & ~a_nan,
            c_nan = reinterpret_cast<q>(z != z) & ~a_nan & ~b_nan;
    odd = (odd & ~(a_nan | b_nan | c_nan)) | (reinterpret_cast<q>(x) & a_nan) | (reinterpret_cast<q>(y) & b_nan) |
          (reinterpret_cast<q>(z) & c_nan);
    return __builtin_convertvector(reinterpret_cast<d>(odd), f32_lanes<N>);
}

FEWBITS_TARGET_AVX512 FEWBITS_ALWAYS_INLINE inline f32_lanes<16> fma_avx512(f32_lanes<16> a, f32_lanes<16> b,
                                                                          f32_lanes<16> c) noexcept
{
    return f32_lanes<16>(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
}
FEWBITS_TARGET_AVX512 FEWBITS_ALWAYS_INLINE inline f32_lanes<16> sqrt_avx512(f32_lanes<16> a) noexcept
{
    return f32_lanes<16>(_mm512_sqrt_ps(__m512(a)));
}
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline f32_lanes<8> fma_avx2(f32_lanes<8> a, f32_lanes<8> b,
                                                                     f32_lanes<8> c) noexcept
{
    return f32_lanes<8>(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c)));
}
FEWBITS_TARGET_AVX2 FEWBITS_ALWAYS_INLINE inline f32_lanes<8> sqrt_avx2(f32_lanes<8> a) noexcept
{
    return f32_lanes<8>(_mm256_sqrt_ps(__m256(a)));
}
FEWBITS_ALWAYS_INLINE inline f32_lanes<4> fma_sse2(f32_lanes<4> a, f32_lanes<4> b, f32_lanes<4> c) noexcept
{
    return fma_via_double<4>(a, b, c);
}
FEWBITS_ALWAYS_INLINE inline f32_lanes<4> sqrt_sse2(f32_lanes<4> a) noexcept
{
    return f32_lanes<4>(_mm_sqrt_ps(__m128(a)));
}

// The float lanes of u32 lanes x (a GNU vector cast: no instruction).
#define FEWBITS_AS_F32(x) reinterpret_cast<F>((x).v)
// Every lane the float x, by its bits (F{} + x would turn -0 into +0).
#define FEWBITS_SPLAT(x) FEWBITS_AS_F32(U(std::bit_cast<std::uint32_t>(x)))

// Loads lanes values of T at p + i as float bits into x (codes decoded exactly).
#define FEWBITS_UPDATE_LOAD(T, x, p, widen)                                                                          \
    if constexpr (std::same_as<T, float>)                                                                            \
        (x) = U::load((p) + i);                                                                                      \
    else                                                                                                             \
        (x) = decode_to_float_bits<typename T::format_type>(widen((p) + i))
// The core's encode for one vector: the targets without a faster form of it (AVX2 uses
// encode_lanes_avx2, kernels.hpp).
template <class Format, rounding Mode, overflow Overflow, class U>
FEWBITS_ALWAYS_INLINE inline U encode_lanes(U x, U w, U mask_lanes) noexcept
{
    return encode<Format, float, Mode, Overflow>(x, w, mask_lanes);
}

// Stores the float bits x as T at p + i (rounded with words + i under the policy), and leaves
// in x the value as stored. encode_ names a function template, which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define FEWBITS_UPDATE_STORE(T, x, p, words, narrow, encode_)                                                        \
    if constexpr (std::same_as<T, float>) {                                                                          \
        (x).store((p) + i);                                                                                          \
    } else {                                                                                                         \
        U w_(0u);                                                                                                    \
        if constexpr (Mode == rounding::stochastic) w_ = U::load((words) + i);                                       \
        const U code_ = encode_<typename T::format_type, Mode, Overflow>((x), w_, mask_lanes);                       \
        narrow(code_, (p) + i);                                                                                      \
        (x) = decode_to_float_bits<typename T::format_type>(code_);                                                  \
    }
// NOLINTEND(bugprone-macro-parentheses)

// Each update's whole vectors of [0, n) for one target; returns how many elements it did.
#define FEWBITS_UPDATES_FOR_TARGET(name, attribute, lanes, widen, narrow, encode_, fma_, sqrt_)                      \
    template <class T, rounding Mode, overflow Overflow>                                                             \
    attribute std::size_t sgd_lanes_##name(cell_t<T>* w, const float* g, float lr, const std::uint32_t* words,       \
                                           std::size_t n, std::uint32_t mask) noexcept                               \
    {                                                                                                                \
        using U = vec::u32<lanes>;                                                                                   \
        using F = f32_lanes<lanes>;                                                                                  \
        const U mask_lanes(mask);                                                                                    \
        const F neg_lr = FEWBITS_SPLAT(-lr);                                                                         \
        std::size_t i = 0;                                                                                           \
        for (; i + (lanes) <= n; i += (lanes)) {                                                                     \
            U x;                                                                                                     \
            FEWBITS_UPDATE_LOAD(T, x, w, widen);                                                                     \
            x.v = reinterpret_cast<typename U::R>(fma_(neg_lr, FEWBITS_AS_F32(U::load(g + i)), FEWBITS_AS_F32(x)));  \
            FEWBITS_UPDATE_STORE(T, x, w, words, narrow, encode_)                                                             \
        }                                                                                                            \
        return i;                                                                                                    \
    }                                                                                                                \
    template <class T, class V, rounding Mode, overflow Overflow>                                                    \
    attribute std::size_t momentum_lanes_##name(cell_t<T>* w, cell_t<V>* v, const float* g, float lr,                \
                                                float momentum, const std::uint32_t* words,                          \
                                                const std::uint32_t* v_words, std::size_t n,                         \
                                                std::uint32_t mask) noexcept                                         \
    {                                                                                                                \
        using U = vec::u32<lanes>;                                                                                   \
        using F = f32_lanes<lanes>;                                                                                  \
        const U mask_lanes(mask);                                                                                    \
        const F neg_lr = FEWBITS_SPLAT(-lr), mu = FEWBITS_SPLAT(momentum);                                           \
        std::size_t i = 0;                                                                                           \
        for (; i + (lanes) <= n; i += (lanes)) {                                                                     \
            U vel, x;                                                                                                \
            FEWBITS_UPDATE_LOAD(V, vel, v, widen);                                                                   \
            vel.v = reinterpret_cast<typename U::R>(fma_(mu, FEWBITS_AS_F32(vel), FEWBITS_AS_F32(U::load(g + i))));  \
            FEWBITS_UPDATE_STORE(V, vel, v, v_words, narrow, encode_)                                                         \
            FEWBITS_UPDATE_LOAD(T, x, w, widen);                                                                     \
            x.v = reinterpret_cast<typename U::R>(fma_(neg_lr, FEWBITS_AS_F32(vel), FEWBITS_AS_F32(x)));             \
            FEWBITS_UPDATE_STORE(T, x, w, words, narrow, encode_)                                                             \
        }                                                                                                            \
        return i;                                                                                                    \
    }                                                                                                                \
    template <class W, class S, rounding Mode, overflow Overflow>                                                    \
    attribute std::size_t adamw_lanes_##name(cell_t<W>* w, cell_t<S>* m, cell_t<S>* v, const float* g,               \
                                             const adamw_constants& k, const std::uint32_t* w_words,                 \
                                             const std::uint32_t* m_words, const std::uint32_t* v_words,             \
                                             std::size_t n, std::uint32_t mask) noexcept                             \
    {                                                                                                                \
        using U = vec::u32<lanes>;                                                                                   \
        using F = f32_lanes<lanes>;                                                                                  \
        const U mask_lanes(mask);                                                                                    \
        const F b1 = FEWBITS_SPLAT(k.beta1), b2 = FEWBITS_SPLAT(k.beta2), c1 = FEWBITS_SPLAT(k.c1),                  \
                c2 = FEWBITS_SPLAT(k.c2), neg_step = FEWBITS_SPLAT(-k.step_size),                                    \
                root_bc2 = FEWBITS_SPLAT(k.root_bc2), eps = FEWBITS_SPLAT(k.eps),                                    \
                decay = FEWBITS_SPLAT(k.decay);                                                                      \
        std::size_t i = 0;                                                                                           \
        for (; i + (lanes) <= n; i += (lanes)) {                                                                     \
            const F gi = FEWBITS_AS_F32(U::load(g + i));                                                             \
            U mi, vi, x;                                                                                             \
            FEWBITS_UPDATE_LOAD(S, mi, m, widen);                                                                    \
            FEWBITS_UPDATE_LOAD(S, vi, v, widen);                                                                    \
            mi.v = reinterpret_cast<typename U::R>(fma_(b1, FEWBITS_AS_F32(mi), c1 * gi));                           \
            vi.v = reinterpret_cast<typename U::R>(fma_(c2 * gi, gi, b2 * FEWBITS_AS_F32(vi)));                      \
            FEWBITS_UPDATE_STORE(S, mi, m, m_words, narrow, encode_)                                                          \
            FEWBITS_UPDATE_STORE(S, vi, v, v_words, narrow, encode_)                                                          \
            FEWBITS_UPDATE_LOAD(W, x, w, widen);                                                                     \
            const F denominator = sqrt_(FEWBITS_AS_F32(vi)) / root_bc2 + eps;                                        \
            x.v = reinterpret_cast<typename U::R>(fma_(neg_step, FEWBITS_AS_F32(mi) / denominator, FEWBITS_AS_F32(x) * decay)); \
            FEWBITS_UPDATE_STORE(W, x, w, w_words, narrow, encode_)                                                           \
        }                                                                                                            \
        return i;                                                                                                    \
    }
FEWBITS_UPDATES_FOR_TARGET(sse2, FEWBITS_TARGET_SSE2, 4, vec::load_widen<4>, vec::store_narrow, encode_lanes, fma_sse2,
                           sqrt_sse2)
FEWBITS_UPDATES_FOR_TARGET(avx2, FEWBITS_TARGET_AVX2, 8, widen_avx2, narrow_avx2, encode_lanes_avx2, fma_avx2,
                           sqrt_avx2)
FEWBITS_UPDATES_FOR_TARGET(avx512, FEWBITS_TARGET_AVX512, 16, widen_avx512, narrow_avx512, encode_lanes, fma_avx512,
                           sqrt_avx512)
#undef FEWBITS_UPDATES_FOR_TARGET
#undef FEWBITS_UPDATE_STORE
#undef FEWBITS_UPDATE_LOAD
#undef FEWBITS_SPLAT
#undef FEWBITS_AS_F32

// The fused loops serve the modes training rounds its updates in: nearest-even and stochastic.
// The other modes return 0 here and run the caller's block loops (same bits): compiled for
// all seven modes on three targets, the fused loops doubled the build time of every program
// that trains, for modes no optimizer step uses.
template <rounding Mode>
inline constexpr bool fused_update_mode = Mode == rounding::nearest_even || Mode == rounding::stochastic;

// The active target's fused loop; 0 elements on scalar (the caller's loop does them all).
template <class T, rounding Mode, overflow Overflow>
std::size_t sgd_fused(cell_t<T>* w, const float* g, float lr, const std::uint32_t* words, std::size_t n,
                      std::uint32_t mask) noexcept
{
    if constexpr (!fused_update_mode<Mode>) {
        return 0;
    } else {
        switch (active_simd_target()) {
        case simd_target::avx512: return sgd_lanes_avx512<T, Mode, Overflow>(w, g, lr, words, n, mask);
        case simd_target::avx2: return sgd_lanes_avx2<T, Mode, Overflow>(w, g, lr, words, n, mask);
        case simd_target::sse2: return sgd_lanes_sse2<T, Mode, Overflow>(w, g, lr, words, n, mask);
        default: return 0;
        }
    }
}
template <class T, class V, rounding Mode, overflow Overflow>
std::size_t momentum_fused(cell_t<T>* w, cell_t<V>* v, const float* g, float lr, float momentum,
                           const std::uint32_t* words, const std::uint32_t* v_words, std::size_t n,
                           std::uint32_t mask) noexcept
{
    if constexpr (!fused_update_mode<Mode>) {
        return 0;
    } else {
        switch (active_simd_target()) {
        case simd_target::avx512:
            return momentum_lanes_avx512<T, V, Mode, Overflow>(w, v, g, lr, momentum, words, v_words, n, mask);
        case simd_target::avx2:
            return momentum_lanes_avx2<T, V, Mode, Overflow>(w, v, g, lr, momentum, words, v_words, n, mask);
        case simd_target::sse2:
            return momentum_lanes_sse2<T, V, Mode, Overflow>(w, v, g, lr, momentum, words, v_words, n, mask);
        default: return 0;
        }
    }
}
template <class W, class S, rounding Mode, overflow Overflow>
std::size_t adamw_fused(cell_t<W>* w, cell_t<S>* m, cell_t<S>* v, const float* g, const adamw_constants& k,
                        const std::uint32_t* w_words, const std::uint32_t* m_words, const std::uint32_t* v_words,
                        std::size_t n, std::uint32_t mask) noexcept
{
    if constexpr (!fused_update_mode<Mode>) {
        return 0;
    } else {
        switch (active_simd_target()) {
        case simd_target::avx512:
            return adamw_lanes_avx512<W, S, Mode, Overflow>(w, m, v, g, k, w_words, m_words, v_words, n, mask);
        case simd_target::avx2:
            return adamw_lanes_avx2<W, S, Mode, Overflow>(w, m, v, g, k, w_words, m_words, v_words, n, mask);
        case simd_target::sse2:
            return adamw_lanes_sse2<W, S, Mode, Overflow>(w, m, v, g, k, w_words, m_words, v_words, n, mask);
        default: return 0;
        }
    }
}
#endif

template <class T, class Words>
void sgd_update_loop(std::span<T> w, std::span<const float> g, float lr, const policy& p, const Words& source)
{
    using Format = typename T::format_type;
    auto* bits = storage_pointer(w.data());
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        constexpr rounding Mode = decltype(mode)::value;
        constexpr overflow Overflow = decltype(on_overflow)::value;
        for_each_block(w.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            std::size_t i = 0;
#if FEWBITS_DISPATCH
            i = sgd_fused<T, Mode, Overflow>(bits + start, g.data() + start, lr, words, length, mask);
#endif
            // The rest (the tail, or everything without dispatch), in the core's block loops.
            const std::size_t rest = length - i, at = start + i;
            float updated[block_size];
            decode_block<Format>(bits + at, updated, rest);
            // Explicit fma: compiler contraction can never change a bit of the update.
            for (std::size_t k = 0; k < rest; ++k) updated[k] = std::fma(-lr, g[at + k], updated[k]);
            encode_block<Format, Mode, Overflow>(updated, bits + at, words + i, rest, mask);
        });
    });
}

// velocity_source: the word source of a low-precision velocity (unused for a float one).
template <class T, class V, class Words>
void sgd_momentum_loop(std::span<T> w, std::span<V> velocity, std::span<const float> g, float lr, float momentum,
                       const policy& p, const Words& source, const Words& velocity_source)
{
    using Format = typename T::format_type;
    auto* bits = storage_pointer(w.data());
    auto* vcells = cells(velocity.data());
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        constexpr rounding Mode = decltype(mode)::value;
        constexpr overflow Overflow = decltype(on_overflow)::value;
        alignas(64) std::uint32_t v_buffer[block_size];
        for_each_block(w.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            const std::uint32_t* v_words = nullptr;
            if constexpr (!std::same_as<V, float>) v_words = block_words(velocity_source, start, length, p, v_buffer);
            std::size_t i = 0;
#if FEWBITS_DISPATCH
            i = momentum_fused<T, V, Mode, Overflow>(bits + start, vcells + start, g.data() + start, lr, momentum,
                                                     words, v_words, length, mask);
#endif
            // The rest (the tail, or everything without dispatch), in the core's block loops.
            const std::size_t rest = length - i, at = start + i;
            float v[block_size];
            if constexpr (std::same_as<V, float>) {
                for (std::size_t k = 0; k < rest; ++k)
                    v[k] = velocity[at + k] = std::fma(momentum, velocity[at + k], g[at + k]);
            } else {
                using VFormat = typename V::format_type;
                decode_block<VFormat>(vcells + at, v, rest);
                for (std::size_t k = 0; k < rest; ++k) v[k] = std::fma(momentum, v[k], g[at + k]);
                encode_block<VFormat, Mode, Overflow>(v, vcells + at, v_words + i, rest, mask);
                decode_block<VFormat>(vcells + at, v, rest);  // the update uses the velocity as stored
            }
            float updated[block_size];
            decode_block<Format>(bits + at, updated, rest);
            for (std::size_t k = 0; k < rest; ++k) updated[k] = std::fma(-lr, v[k], updated[k]);
            encode_block<Format, Mode, Overflow>(updated, bits + at, words + i, rest, mask);
        });
    });
}

}  // namespace detail

template <low_precision T>
void sgd_update(std::span<T> w, std::span<const float> g, float lr, policy p = {}, stream s = {})
{
    validate(p);
    require_same_size(w.size(), "w", g.size(), "g");
    detail::validate_lr(lr);
    detail::sgd_update_loop(w, g, lr, p, s);
}
template <low_precision T>
void sgd_update(std::span<T> w, std::span<const float> g, float lr, policy p, std::span<const std::uint32_t> words)
{
    validate(p);
    require_same_size(w.size(), "w", g.size(), "g");
    detail::validate_lr(lr);
    detail::require_words(w.size(), "w", words, "words");
    detail::sgd_update_loop(w, g, lr, p, detail::caller_words{words.data()});
}

template <low_precision T, class V>
    requires(std::same_as<V, float> || low_precision<V>)
void sgd_momentum_update(std::span<T> w, std::span<V> velocity, std::span<const float> g, float lr, float momentum,
                         policy p = {}, stream s = {})
{
    validate(p);
    require_same_size(w.size(), "w", velocity.size(), "velocity");
    require_same_size(w.size(), "w", g.size(), "g");
    detail::validate_lr(lr);
    detail::validate_momentum(momentum);
    detail::sgd_momentum_loop(w, velocity, g, lr, momentum, p, s, stream{velocity_seed(s), s.offset, s.rng});
}
// velocity_words: one word per element for a low-precision velocity; empty for a float one.
template <low_precision T, class V>
    requires(std::same_as<V, float> || low_precision<V>)
void sgd_momentum_update(std::span<T> w, std::span<V> velocity, std::span<const float> g, float lr, float momentum,
                         policy p, std::span<const std::uint32_t> words,
                         std::span<const std::uint32_t> velocity_words = {})
{
    validate(p);
    require_same_size(w.size(), "w", velocity.size(), "velocity");
    require_same_size(w.size(), "w", g.size(), "g");
    detail::validate_lr(lr);
    detail::validate_momentum(momentum);
    detail::require_words(w.size(), "w", words, "words");
    if constexpr (std::same_as<V, float>) {
        if (!velocity_words.empty())
            raise_invalid_argument("velocity_words must be empty for a float velocity (nothing rounds it), got size " +
                                   std::to_string(velocity_words.size()));
    } else {
        detail::require_words(w.size(), "w", velocity_words, "velocity_words");
    }
    detail::sgd_momentum_loop(w, velocity, g, lr, momentum, p, detail::caller_words{words.data()},
                              detail::caller_words{velocity_words.data()});
}

struct adamw_options {
    float lr = 1e-3f;
    float beta1 = 0.9f;
    float beta2 = 0.999f;
    float eps = 1e-8f;
    float weight_decay = 1e-2f;
};

// Throws std::invalid_argument naming the first invalid member and its value.
inline void validate(const adamw_options& o)
{
    if (!(o.lr >= 0.0f) || !std::isfinite(o.lr))
        raise_invalid_argument("adamw_options.lr must be finite and non-negative, got " + exact_string(o.lr));
    if (!(o.beta1 >= 0.0f && o.beta1 < 1.0f))
        raise_invalid_argument("adamw_options.beta1 must be in [0, 1), got " + exact_string(o.beta1));
    if (!(o.beta2 >= 0.0f && o.beta2 < 1.0f))
        raise_invalid_argument("adamw_options.beta2 must be in [0, 1), got " + exact_string(o.beta2));
    if (!(o.eps > 0.0f) || !std::isfinite(o.eps))
        raise_invalid_argument("adamw_options.eps must be positive and finite, got " + exact_string(o.eps));
    if (!(o.weight_decay >= 0.0f) || !std::isfinite(o.weight_decay))
        raise_invalid_argument("adamw_options.weight_decay must be finite and non-negative, got " +
                               exact_string(o.weight_decay));
}

// The seeds of the words that round the first and the second moment: streams of their own
// ("adamw.m" and "adamw.v" in ASCII as derive ids), independent of the weight's words and of
// each other, at the same offsets as s.
constexpr std::uint64_t adamw_m_seed(const stream& s) noexcept { return derive(s, 0x6164616D772E6Dull).seed; }
constexpr std::uint64_t adamw_v_seed(const stream& s) noexcept { return derive(s, 0x6164616D772E76ull).seed; }

// Where a value of type T can live in adamw_update: float, or a fewbits format.
template <class T>
concept adamw_weight = std::same_as<T, float> || low_precision<T>;
template <class T>
concept adamw_moment = std::same_as<T, float> || std::same_as<T, bfloat16> || std::same_as<T, float16>;

namespace detail {

// out = the values of in[0, n) as float (a copy for float, exact decoding otherwise).
template <class T>
void read_values(const T* in, float* out, std::size_t n) noexcept
{
    if constexpr (std::same_as<T, float>) {
        for (std::size_t i = 0; i < n; ++i) out[i] = in[i];
    } else {
        decode_block<typename T::format_type>(storage_pointer(in), out, n);
    }
}

// Stores values[0, n) into out[0, n): as they are for float, else rounded under p with
// words[0, n) (read only for stochastic rounding; null for float).
template <class T>
void store_values(const float* values, T* out, std::size_t n, const policy& p, const std::uint32_t* words)
{
    if constexpr (std::same_as<T, float>) {
        for (std::size_t i = 0; i < n; ++i) out[i] = values[i];
    } else {
        encode_span<typename T::format_type>(values, storage_pointer(out), n, p, caller_words{words});
    }
}

// out[i] = sqrt(in[i]). On x86 xsimd's square root is the correctly rounded instruction, so the
// vector loop gives std::sqrt's bits; it exists because std::sqrt may set errno, which keeps
// compilers from vectorising a scalar loop over it.
inline void sqrt_block(const float* in, float* out, std::size_t n) noexcept
{
    std::size_t i = 0;
    // Not on ARM: xsimd 8.1's float sqrt for NEON (also on aarch64) is a Newton approximation
    // (vrsqrteq_f32 and two steps), not the correctly rounded root; std::sqrt is exact everywhere.
#if FEWBITS_HAS_XSIMD && !defined(__aarch64__) && !defined(__arm__)
    if constexpr (simd::available) {
        constexpr std::size_t W = simd::f32::size;
        for (; i + W <= n; i += W) xsimd::sqrt(simd::f32::load_unaligned(in + i)).store_unaligned(out + i);
    }
#endif
    for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

}  // namespace detail

namespace detail {

// Throws for any bad argument of adamw_update, before anything is written.
inline void validate_adamw(std::size_t w, std::size_t m, std::size_t v, std::size_t g, const adamw_options& o,
                           std::uint64_t step, const policy& p)
{
    validate(p);
    require_same_size(w, "w", m, "m");
    require_same_size(w, "w", v, "v");
    require_same_size(w, "w", g, "g");
    validate(o);
    if (step == 0) raise_invalid_argument("step must be at least 1 (the first update is step 1), got 0");
}

// The update over word sources (stream or caller_words) for w, m and v: both overloads run it.
template <class W, class S, class Words>
void adamw_loop(std::span<W> w, std::span<S> m, std::span<S> v, std::span<const float> g, const adamw_options& o,
                std::uint64_t step, const policy& p, const Words& w_words, const Words& m_words, const Words& v_words)
{
    // The per-call constants, in double like PyTorch's Python scalars, then rounded to float.
    const double t = static_cast<double>(step);
    const float decay = static_cast<float>(1.0 - static_cast<double>(o.lr) * static_cast<double>(o.weight_decay));
    const float c1 = static_cast<float>(1.0 - static_cast<double>(o.beta1));
    const float c2 = static_cast<float>(1.0 - static_cast<double>(o.beta2));
    const float step_size =
        static_cast<float>(static_cast<double>(o.lr) / (1.0 - std::pow(static_cast<double>(o.beta1), t)));
    const float root_bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(o.beta2), t)));
    const float b1 = o.beta1, b2 = o.beta2, eps = o.eps;

    const std::uint32_t mask = random_mask<float>(p.random_bits);
    const adamw_constants k{decay, c1, c2, step_size, root_bc2, b1, b2, eps};
    alignas(64) float wf[block_size], mf[block_size], vf[block_size];
    alignas(64) std::uint32_t w_buffer[block_size], m_buffer[block_size], v_buffer[block_size];
    for (std::size_t start = 0; start < w.size(); start += block_size) {
        const std::size_t length = std::min(block_size, w.size() - start);
        const std::uint32_t *ww = nullptr, *mw = nullptr, *vw = nullptr;
        if constexpr (!std::same_as<W, float>) ww = block_words(w_words, start, length, p, w_buffer);
        if constexpr (!std::same_as<S, float>) {
            mw = block_words(m_words, start, length, p, m_buffer);
            vw = block_words(v_words, start, length, p, v_buffer);
        }
        std::size_t i = 0;
#if FEWBITS_DISPATCH
        with_policy(p, [&](auto mode, auto on_overflow) {
            i = adamw_fused<W, S, decltype(mode)::value, decltype(on_overflow)::value>(
                cells(w.data()) + start, cells(m.data()) + start, cells(v.data()) + start, g.data() + start, k, ww,
                mw, vw, length, mask);
        });
#else
        (void)mask;
        (void)k;
#endif
        // The rest (the tail, or everything without dispatch), in the core's block loops.
        const std::size_t n = length - i, at = start + i;
        const float* gb = g.data() + at;
        read_values(m.data() + at, mf, n);
        read_values(v.data() + at, vf, n);
        // Explicit fma everywhere: compiler contraction can never change a bit of the update.
        for (std::size_t e = 0; e < n; ++e) mf[e] = std::fma(b1, mf[e], c1 * gb[e]);
        for (std::size_t e = 0; e < n; ++e) vf[e] = std::fma(c2 * gb[e], gb[e], b2 * vf[e]);
        store_values(mf, m.data() + at, n, p, mw == nullptr ? nullptr : mw + i);
        store_values(vf, v.data() + at, n, p, vw == nullptr ? nullptr : vw + i);
        if constexpr (!std::same_as<S, float>) {  // the weight step reads the moments as stored
            read_values(m.data() + at, mf, n);
            read_values(v.data() + at, vf, n);
        }
        read_values(w.data() + at, wf, n);
        sqrt_block(vf, vf, n);  // v is not needed any more, its square root is
        for (std::size_t e = 0; e < n; ++e)
            wf[e] = std::fma(-step_size, mf[e] / (vf[e] / root_bc2 + eps), wf[e] * decay);
        store_values(wf, w.data() + at, n, p, ww == nullptr ? nullptr : ww + i);
    }
}

// A words span for storage T: one word per element for a fewbits format; empty for float,
// which nothing rounds.
template <class T>
void require_storage_words(std::size_t n, std::span<const std::uint32_t> words, const char* name)
{
    if constexpr (std::same_as<T, float>) {
        if (!words.empty())
            raise_invalid_argument(std::string(name) + " must be empty for float storage (nothing rounds it), got size " +
                                   std::to_string(words.size()));
    } else {
        require_words(n, "w", words, name);
    }
}

}  // namespace detail

template <adamw_weight W, adamw_moment S>
void adamw_update(std::span<W> w, std::span<S> m, std::span<S> v, std::span<const float> g, const adamw_options& o,
                  std::uint64_t step, policy p = {}, stream s = {})
{
    detail::validate_adamw(w.size(), m.size(), v.size(), g.size(), o, step, p);
    detail::adamw_loop(w, m, v, g, o, step, p, s, stream{adamw_m_seed(s), s.offset, s.rng},
                       stream{adamw_v_seed(s), s.offset, s.rng});
}

// The same update with the caller's words: word_i = words[i], m word_i = m_words[i],
// v word_i = v_words[i]. Each span holds one word per element for a fewbits format (even when
// p does not round stochastically; the words are then not read) and must be empty for float
// storage. With the stream's own words (fill_random_words(s, ..) and the streams of
// adamw_m_seed(s) and adamw_v_seed(s) at s.offset) it gives exactly the stream call's bits.
template <adamw_weight W, adamw_moment S>
void adamw_update(std::span<W> w, std::span<S> m, std::span<S> v, std::span<const float> g, const adamw_options& o,
                  std::uint64_t step, policy p, std::span<const std::uint32_t> words,
                  std::span<const std::uint32_t> m_words = {}, std::span<const std::uint32_t> v_words = {})
{
    detail::validate_adamw(w.size(), m.size(), v.size(), g.size(), o, step, p);
    detail::require_storage_words<W>(w.size(), words, "words");
    detail::require_storage_words<S>(w.size(), m_words, "m_words");
    detail::require_storage_words<S>(w.size(), v_words, "v_words");
    detail::adamw_loop(w, m, v, g, o, step, p, detail::caller_words{words.data()}, detail::caller_words{m_words.data()},
                       detail::caller_words{v_words.data()});
}

}  // namespace fewbits

FEWBITS_SIMD_DIAGNOSTICS_POP
