// The fused AdamW update (PyTorch's torch.optim.AdamW, decoupled weight decay) on weights
// and moments kept in their storage formats: weights in float or any fewbits format,
// moments m and v in float, bfloat16 or float16, each rounded once into its storage under
// one policy (stochastic rounding: no FP32 master weights or moments are needed). It owns
// adamw_options, their validation, the streams of the moments' random words and the kernel;
// the rounding itself is kernels.hpp's block machinery (decode_block, encode_span).
//
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
// Errors: std::invalid_argument naming the argument and its value, thrown before anything
// is written: mismatched sizes, an invalid policy, lr or weight_decay negative or not
// finite, a beta outside [0, 1), eps not positive and finite, t = 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "fewbits/error.hpp"
#include "fewbits/kernels.hpp"
#include "fewbits/policy.hpp"
#include "fewbits/random.hpp"
#include "fewbits/rounding.hpp"
#include "fewbits/types.hpp"

namespace fewbits {

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

// Stores values[0, n) into out: as they are for float, else rounded under p with the words
// of s (element i: random_word(s.rng, s.seed, s.offset + i)).
template <class T>
void store_values(const float* values, T* out, std::size_t n, const policy& p, const stream& s)
{
    if constexpr (std::same_as<T, float>) {
        for (std::size_t i = 0; i < n; ++i) out[i] = values[i];
    } else {
        encode_span<typename T::format_type>(values, storage_pointer(out), n, p, s);
    }
}

}  // namespace detail

template <adamw_weight W, adamw_moment S>
void adamw_update(std::span<W> w, std::span<S> m, std::span<S> v, std::span<const float> g, const adamw_options& o,
                  std::uint64_t step, policy p = {}, stream s = {})
{
    validate(p);
    require_same_size(w.size(), "w", m.size(), "m");
    require_same_size(w.size(), "w", v.size(), "v");
    require_same_size(w.size(), "w", g.size(), "g");
    validate(o);
    if (step == 0) raise_invalid_argument("step must be at least 1 (the first update is step 1), got 0");

    // The per-call constants, in double like PyTorch's Python scalars, then rounded to float.
    const double t = static_cast<double>(step);
    const float decay = static_cast<float>(1.0 - static_cast<double>(o.lr) * static_cast<double>(o.weight_decay));
    const float c1 = static_cast<float>(1.0 - static_cast<double>(o.beta1));
    const float c2 = static_cast<float>(1.0 - static_cast<double>(o.beta2));
    const float step_size =
        static_cast<float>(static_cast<double>(o.lr) / (1.0 - std::pow(static_cast<double>(o.beta1), t)));
    const float root_bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(o.beta2), t)));
    const float b1 = o.beta1, b2 = o.beta2, eps = o.eps;
    const std::uint64_t m_seed = adamw_m_seed(s), v_seed = adamw_v_seed(s);

    alignas(64) float wf[detail::block_size], mf[detail::block_size], vf[detail::block_size];
    for (std::size_t start = 0; start < w.size(); start += detail::block_size) {
        const std::size_t n = std::min(detail::block_size, w.size() - start);
        const std::uint64_t offset = s.offset + start;
        const float* gb = g.data() + start;
        detail::read_values(m.data() + start, mf, n);
        detail::read_values(v.data() + start, vf, n);
        // Explicit fma everywhere: compiler contraction can never change a bit of the update.
        for (std::size_t i = 0; i < n; ++i) mf[i] = std::fma(b1, mf[i], c1 * gb[i]);
        for (std::size_t i = 0; i < n; ++i) vf[i] = std::fma(c2 * gb[i], gb[i], b2 * vf[i]);
        detail::store_values(mf, m.data() + start, n, p, stream{m_seed, offset, s.rng});
        detail::store_values(vf, v.data() + start, n, p, stream{v_seed, offset, s.rng});
        // The weight step reads the moments back as stored.
        detail::read_values(m.data() + start, mf, n);
        detail::read_values(v.data() + start, vf, n);
        detail::read_values(w.data() + start, wf, n);
        for (std::size_t i = 0; i < n; ++i)
            wf[i] = std::fma(-step_size, mf[i] / (std::sqrt(vf[i]) / root_bc2 + eps), wf[i] * decay);
        detail::store_values(wf, w.data() + start, n, p, stream{s.seed, offset, s.rng});
    }
}

}  // namespace fewbits
