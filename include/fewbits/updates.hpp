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

template <class T, class Words>
void sgd_update_loop(std::span<T> w, std::span<const float> g, float lr, const policy& p, const Words& source)
{
    using Format = typename T::format_type;
    auto* bits = storage_pointer(w.data());
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        for_each_block(w.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            float updated[block_size];
            decode_block<Format>(bits + start, updated, length);
            // Explicit fma: compiler contraction can never change a bit of the update.
            for (std::size_t i = 0; i < length; ++i) updated[i] = std::fma(-lr, g[start + i], updated[i]);
            encode_block<Format, decltype(mode)::value, decltype(on_overflow)::value>(updated, bits + start, words,
                                                                                    length, mask);
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
    const std::uint32_t mask = random_mask<float>(p.random_bits);
    with_policy<Format::has_nan>(p, [&](auto mode, auto on_overflow) {
        for_each_block(w.size(), p, source, [&](std::size_t start, std::size_t length, const std::uint32_t* words) {
            float v[block_size];
            if constexpr (std::same_as<V, float>) {
                for (std::size_t i = 0; i < length; ++i)
                    v[i] = velocity[start + i] = std::fma(momentum, velocity[start + i], g[start + i]);
            } else {
                using VFormat = typename V::format_type;
                auto* vbits = storage_pointer(velocity.data()) + start;
                decode_block<VFormat>(vbits, v, length);
                for (std::size_t i = 0; i < length; ++i) v[i] = std::fma(momentum, v[i], g[start + i]);
                encode_span<VFormat>(v, vbits, length, p, advance(velocity_source, start));
                decode_block<VFormat>(vbits, v, length);  // the update uses the velocity as stored
            }
            float updated[block_size];
            decode_block<Format>(bits + start, updated, length);
            for (std::size_t i = 0; i < length; ++i) updated[i] = std::fma(-lr, v[i], updated[i]);
            encode_block<Format, decltype(mode)::value, decltype(on_overflow)::value>(updated, bits + start, words,
                                                                                    length, mask);
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

// Stores values[0, n) into out[start, start + n): as they are for float, else rounded under p
// with the words of the source (a stream or the caller's words) from element start on. A
// float store never touches the source (the caller's words are then empty: no null + start).
template <class T, class Words>
void store_values(const float* values, T* out, std::size_t start, std::size_t n, const policy& p, const Words& words)
{
    if constexpr (std::same_as<T, float>) {
        for (std::size_t i = 0; i < n; ++i) out[start + i] = values[i];
    } else {
        encode_span<typename T::format_type>(values, storage_pointer(out) + start, n, p, advance(words, start));
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

    alignas(64) float wf[block_size], mf[block_size], vf[block_size];
    for (std::size_t start = 0; start < w.size(); start += block_size) {
        const std::size_t n = std::min(block_size, w.size() - start);
        const float* gb = g.data() + start;
        read_values(m.data() + start, mf, n);
        read_values(v.data() + start, vf, n);
        // Explicit fma everywhere: compiler contraction can never change a bit of the update.
        for (std::size_t i = 0; i < n; ++i) mf[i] = std::fma(b1, mf[i], c1 * gb[i]);
        for (std::size_t i = 0; i < n; ++i) vf[i] = std::fma(c2 * gb[i], gb[i], b2 * vf[i]);
        store_values(mf, m.data(), start, n, p, m_words);
        store_values(vf, v.data(), start, n, p, v_words);
        if constexpr (!std::same_as<S, float>) {  // the weight step reads the moments as stored
            read_values(m.data() + start, mf, n);
            read_values(v.data() + start, vf, n);
        }
        read_values(w.data() + start, wf, n);
        sqrt_block(vf, vf, n);  // v is not needed any more, its square root is
        for (std::size_t i = 0; i < n; ++i)
            wf[i] = std::fma(-step_size, mf[i] / (vf[i] / root_bc2 + eps), wf[i] * decay);
        store_values(wf, w.data(), start, n, p, w_words);
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
