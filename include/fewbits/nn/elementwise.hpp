// Fused multiply-adds over float arrays, for the training layer's FP32 updates and sums:
// out[i] = fma(s, x[i], y[i]) and out[i] = fma(x[i], y[i], z[i]), one rounding each, the same
// bits on every build and instruction set. std::fma is exact everywhere but, in a build whose
// target has no FMA (x86-64 without -march), a library call per element; with run-time
// dispatch (FEWBITS_DISPATCH) these loops run on the CPU's AVX2 or AVX-512 FMA instructions
// instead, chosen like the kernels' (FEWBITS_SIMD, set_simd_architecture). out may be x, y or z
// (element by element in place); otherwise the arrays must not overlap.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

#include "fewbits/config.hpp"
#include "fewbits/detail/dispatch.hpp"
#include "fewbits/error.hpp"

#if FEWBITS_DISPATCH
#include <immintrin.h>
#endif

namespace fewbits::nn {

namespace detail {

#if FEWBITS_DISPATCH
#define FEWBITS_ELEMENTWISE_FMA(SUFFIX, ISA, WIDTH, LOAD, STORE, BROADCAST, FMA)                                       \
    FEWBITS_TARGET_##ISA inline void fma_scalar_##SUFFIX(float s, const float* x, const float* y, float* out,          \
                                           std::size_t n) noexcept                                                     \
    {                                                                                                                  \
        std::size_t i = 0;                                                                                             \
        const auto sv = BROADCAST(s);                                                                             \
        for (; i + (WIDTH) <= n; i += (WIDTH)) STORE(out + i, FMA(sv, LOAD(x + i), LOAD(y + i)));                 \
        for (; i < n; ++i) out[i] = std::fma(s, x[i], y[i]);                                                           \
    }                                                                                                                  \
    FEWBITS_TARGET_##ISA inline void fma_arrays_##SUFFIX(const float* x, const float* y, const float* z, float* out,   \
                                           std::size_t n) noexcept                                                     \
    {                                                                                                                  \
        std::size_t i = 0;                                                                                             \
        for (; i + (WIDTH) <= n; i += (WIDTH)) STORE(out + i, FMA(LOAD(x + i), LOAD(y + i), LOAD(z + i)));             \
        for (; i < n; ++i) out[i] = std::fma(x[i], y[i], z[i]);                                                        \
    }
FEWBITS_ELEMENTWISE_FMA(avx2, AVX2, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
                        _mm256_fmadd_ps)
FEWBITS_ELEMENTWISE_FMA(avx512, AVX512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
                        _mm512_fmadd_ps)
#undef FEWBITS_ELEMENTWISE_FMA
#endif

}  // namespace detail

// out[i] = fma(s, x[i], y[i]).
inline void fma_scalar(float s, std::span<const float> x, std::span<const float> y, std::span<float> out)
{
    require_same_size(out.size(), "out", x.size(), "x");
    require_same_size(out.size(), "out", y.size(), "y");
#if FEWBITS_DISPATCH
    switch (fewbits::detail::active_simd_target()) {
    case fewbits::detail::simd_target::avx512:
        return detail::fma_scalar_avx512(s, x.data(), y.data(), out.data(), out.size());
    case fewbits::detail::simd_target::avx2:
        return detail::fma_scalar_avx2(s, x.data(), y.data(), out.data(), out.size());
    default: break;
    }
#endif
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::fma(s, x[i], y[i]);
}

// out[i] = fma(x[i], y[i], z[i]).
inline void fma_arrays(std::span<const float> x, std::span<const float> y, std::span<const float> z,
                       std::span<float> out)
{
    require_same_size(out.size(), "out", x.size(), "x");
    require_same_size(out.size(), "out", y.size(), "y");
    require_same_size(out.size(), "out", z.size(), "z");
#if FEWBITS_DISPATCH
    switch (fewbits::detail::active_simd_target()) {
    case fewbits::detail::simd_target::avx512:
        return detail::fma_arrays_avx512(x.data(), y.data(), z.data(), out.data(), out.size());
    case fewbits::detail::simd_target::avx2:
        return detail::fma_arrays_avx2(x.data(), y.data(), z.data(), out.data(), out.size());
    default: break;
    }
#endif
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::fma(x[i], y[i], z[i]);
}

}  // namespace fewbits::nn
