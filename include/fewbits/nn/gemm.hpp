// The matrix product of the training library: a portable blocked GEMM with a fixed summation order.
//
// Contract: C (m x n) = [C +] op(A) (m x k) * op(B) (k x n), every C(i, j) accumulated in float
// as acc = fma(A(i, p), B(p, j), acc) (one rounding per step) for p = 0, 1, ..., k - 1 in that
// order, starting from C(i, j) (accumulate) or 0. A transposed B is first copied into a k x n
// buffer (the product then runs along contiguous rows): the same sums as for a B stored
// transposed by the caller. gemm_batched does `count` independent products at fixed strides
// (one per sequence or head), each with this contract. Consequences:
//  - the result does not depend on the thread count: threads get whole rows of C, cut at
//    multiples of the register tile, and never share an accumulator;
//  - it does not depend on how the caller splits rows either, for the same reason;
//  - it does not depend on the build or the instruction set: every path computes exactly these
//    fused multiply-adds in this order.
// The inner loops vectorise over the output columns j: every lane holds a different C(i, j),
// so vectorising changes no sum. With run-time dispatch (FEWBITS_DISPATCH, x86-64) whole tiles
// run on AVX-512 or AVX2 FMA instructions, chosen like the kernels' (FEWBITS_SIMD,
// set_simd_architecture); without it, on xsimd's batches where the build targets FMA
// (-march with FMA, aarch64). Everything else (SSE2, edge tiles) computes std::fma, exact
// everywhere and slow where the CPU has no FMA instruction.
//
// Optional BLAS: define FEWBITS_GEMM_CBLAS (and link a CBLAS, e.g. Debian's OpenBLAS) to send
// every product to cblas_sgemm instead. The order of the sums is then the library's: results
// depend on the BLAS build, the kernel it picks for the CPU and its own thread count
// (OPENBLAS_NUM_THREADS), not on fewbits' threads argument, which the BLAS path ignores.
// On one machine with a fixed BLAS thread count OpenBLAS's GEMM gives the same bits run after
// run (it splits the output, not the sums, among its threads), so fewbits' 1 vs N thread
// identity still holds; the portable kernel's guarantee (independent of any thread count,
// the same on every machine for one build) does not.
#pragma once

#if defined(FEWBITS_GEMM_CBLAS)
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "fewbits/config.hpp"
#include "fewbits/detail/dispatch.hpp"
#include "fewbits/detail/simd.hpp"
#include "fewbits/nn/parallel.hpp"
#include "fewbits/nn/scratch.hpp"

#if FEWBITS_DISPATCH
#include <immintrin.h>
#endif

namespace fewbits::nn {

// op(A): A as stored (row i at a + i * lda) or transposed (A(i, p) = a[p * lda + i]).
enum class transpose { no, yes };

namespace detail {

// xsimd's batches compute the tiles where the build itself targets FMA (and there is no run-time
// dispatch): xsimd::fma is then one exact instruction (elsewhere xsimd emulates it inexactly).
#if FEWBITS_HAS_XSIMD && !FEWBITS_DISPATCH && (defined(__FMA__) || defined(__ARM_FEATURE_FMA))
inline constexpr bool gemm_xsimd = fewbits::detail::simd::available;
#else
inline constexpr bool gemm_xsimd = false;
#endif

// Register tile: gemm_mr rows by gemm_nr columns of C stay in registers through the whole
// k loop. 6 x (2 vectors) fits the 16 vector registers of SSE2/AVX2/NEON with room for the
// B loads and the broadcast; AVX-512 has twice the width and 32 registers. The tile sizes
// change which C(i, j) are computed together, never a sum.
inline constexpr std::size_t gemm_mr = 6;
#if FEWBITS_HAS_XSIMD
inline constexpr std::size_t gemm_nr = gemm_xsimd ? 2 * fewbits::detail::simd::f32::size : 16;
#else
inline constexpr std::size_t gemm_nr = 16;
#endif

// One tile of MR x NR (compile-time sizes: the compiler keeps acc in registers and
// vectorises the column loop). Rows r < mr and columns c < nr are live; the others are
// computed on zeros and never stored, so a partial tile takes the same arithmetic path.
template <std::size_t MR, std::size_t NR>
inline void gemm_tile(std::size_t mr, std::size_t nr, std::size_t k, const float* a, std::size_t a_row_step,
                      std::size_t a_p_step, const float* b, std::size_t ldb, float* c, std::size_t ldc,
                      bool accumulate) noexcept
{
    alignas(64) float acc[MR][NR] = {};
    if (accumulate)
        for (std::size_t r = 0; r < mr; ++r)
            for (std::size_t j = 0; j < nr; ++j) acc[r][j] = c[r * ldc + j];
#if FEWBITS_HAS_XSIMD
    if constexpr (gemm_xsimd) {
        // The same arithmetic written with explicit batches, so that the accumulators are
        // registers for certain (auto-vectorisation of acc[][] spills them on some targets).
        using vec = fewbits::detail::simd::f32;
        constexpr std::size_t W = vec::size;
        static_assert(NR % W == 0);
        if (nr == NR && mr == MR) {
            vec v[MR][NR / W];
            for (std::size_t r = 0; r < MR; ++r)
                for (std::size_t q = 0; q < NR / W; ++q) v[r][q] = vec::load_aligned(&acc[r][q * W]);
            for (std::size_t p = 0; p < k; ++p) {
                const float* brow = b + p * ldb;
                vec bv[NR / W];
                for (std::size_t q = 0; q < NR / W; ++q) bv[q] = vec::load_unaligned(brow + q * W);
                for (std::size_t r = 0; r < MR; ++r) {
                    const vec ar(a[r * a_row_step + p * a_p_step]);
                    for (std::size_t q = 0; q < NR / W; ++q) v[r][q] = xsimd::fma(ar, bv[q], v[r][q]);
                }
            }
            for (std::size_t r = 0; r < MR; ++r)
                for (std::size_t q = 0; q < NR / W; ++q) v[r][q].store_unaligned(c + r * ldc + q * W);
            return;
        }
    }
#endif
    if (nr == NR) {
        for (std::size_t p = 0; p < k; ++p) {
            const float* brow = b + p * ldb;
            for (std::size_t r = 0; r < MR; ++r) {
                const float ar = r < mr ? a[r * a_row_step + p * a_p_step] : 0.0f;
                for (std::size_t j = 0; j < NR; ++j) acc[r][j] = std::fma(ar, brow[j], acc[r][j]);
            }
        }
    } else {
        // Partial column tile: copy the live columns of B so the same full-width loop runs.
        alignas(64) float bpad[NR];
        for (std::size_t p = 0; p < k; ++p) {
            const float* brow = b + p * ldb;
            for (std::size_t j = 0; j < NR; ++j) bpad[j] = j < nr ? brow[j] : 0.0f;
            for (std::size_t r = 0; r < MR; ++r) {
                const float ar = r < mr ? a[r * a_row_step + p * a_p_step] : 0.0f;
                for (std::size_t j = 0; j < NR; ++j) acc[r][j] = std::fma(ar, bpad[j], acc[r][j]);
            }
        }
    }
    for (std::size_t r = 0; r < mr; ++r)
        for (std::size_t j = 0; j < nr; ++j) c[r * ldc + j] = acc[r][j];
}

#if FEWBITS_DISPATCH
// A tile of mr <= MR rows and nr <= 2 vectors of columns on AVX2 or AVX-512: acc = fma(a, b, acc)
// in the contract's order. A partial tile computes on zero-padded columns of B, through a buffer
// for C, and stores only its live part; the loop for whole tiles has no test in it.
#define FEWBITS_GEMM_TILE(NAME, ISA, VEC, WIDTH, LOAD, STORE, ZERO, BROADCAST, FMA)                                    \
    template <std::size_t MR, bool WholeRows, bool WholeColumns>                                                       \
    FEWBITS_TARGET_##ISA FEWBITS_ALWAYS_INLINE inline void NAME##_loop(                                                \
        std::size_t mr, std::size_t nr, std::size_t k, const float* a, std::size_t a_row_step, std::size_t a_p_step,   \
        const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate) noexcept                          \
    {                                                                                                                  \
        constexpr std::size_t NR = std::size_t{2} * (WIDTH);                                                           \
        VEC v[MR][2];                                                                                                  \
        for (std::size_t r = 0; r < MR; ++r)                                                                           \
            for (std::size_t q = 0; q < 2; ++q)                                                                        \
                v[r][q] = accumulate && (WholeRows || r < mr) ? LOAD(c + r * ldc + q * (WIDTH)) : ZERO();              \
        alignas(64) float bpad[NR];                                                                                    \
        if constexpr (!WholeColumns)                                                                                   \
            for (std::size_t j = nr; j < NR; ++j) bpad[j] = 0.0f;                                                      \
        for (std::size_t p = 0; p < k; ++p) {                                                                          \
            const float* brow = b + p * ldb;                                                                           \
            if constexpr (!WholeColumns) {                                                                             \
                for (std::size_t j = 0; j < nr; ++j) bpad[j] = brow[j];                                                \
                brow = bpad;                                                                                           \
            }                                                                                                          \
            const VEC b0 = LOAD(brow), b1 = LOAD(brow + (WIDTH));                                                      \
            for (std::size_t r = 0; r < MR; ++r) {                                                                     \
                if (WholeRows || r < mr) {                                                                             \
                    const VEC ar = BROADCAST(a[r * a_row_step + p * a_p_step]);                                        \
                    v[r][0] = FMA(ar, b0, v[r][0]);                                                                    \
                    v[r][1] = FMA(ar, b1, v[r][1]);                                                                    \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (std::size_t r = 0; r < (WholeRows ? MR : mr); ++r)                                                        \
            for (std::size_t q = 0; q < 2; ++q) STORE(c + r * ldc + q * (WIDTH), v[r][q]);                             \
    }                                                                                                                  \
    template <std::size_t MR>                                                                                          \
    FEWBITS_TARGET_##ISA inline void NAME(std::size_t mr, std::size_t nr, std::size_t k, const float* a,               \
                                          std::size_t a_row_step, std::size_t a_p_step, const float* b,                \
                                          std::size_t ldb, float* c, std::size_t ldc, bool accumulate) noexcept        \
    {                                                                                                                  \
        constexpr std::size_t NR = std::size_t{2} * (WIDTH);                                                           \
        if (mr == MR && nr == NR) {                                                                                    \
            NAME##_loop<MR, true, true>(mr, nr, k, a, a_row_step, a_p_step, b, ldb, c, ldc, accumulate);               \
            return;                                                                                                    \
        }                                                                                                              \
        alignas(64) float cbuf[MR][NR];                                                                                \
        if (accumulate)                                                                                                \
            for (std::size_t r = 0; r < mr; ++r)                                                                       \
                for (std::size_t j = 0; j < NR; ++j) cbuf[r][j] = j < nr ? c[r * ldc + j] : 0.0f;                      \
        NAME##_loop<MR, false, false>(mr, nr, k, a, a_row_step, a_p_step, b, ldb, &cbuf[0][0], NR, accumulate);        \
        for (std::size_t r = 0; r < mr; ++r)                                                                           \
            for (std::size_t j = 0; j < nr; ++j) c[r * ldc + j] = cbuf[r][j];                                          \
    }
FEWBITS_GEMM_TILE(gemm_tile_avx2, AVX2, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps,
                  _mm256_setzero_ps, _mm256_set1_ps, _mm256_fmadd_ps)
FEWBITS_GEMM_TILE(gemm_tile_avx512, AVX512, __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps,
                  _mm512_setzero_ps, _mm512_set1_ps, _mm512_fmadd_ps)
#undef FEWBITS_GEMM_TILE
#endif

// The columns of the tiles on the active instruction set (0: portable tiles).
inline std::size_t gemm_wide_columns() noexcept
{
#if FEWBITS_DISPATCH
    switch (fewbits::detail::active_simd_target()) {
    case fewbits::detail::simd_target::avx512: return 32;
    case fewbits::detail::simd_target::avx2: return 16;
    default: return 0;
    }
#else
    return 0;
#endif
}

// One row block of C (mr <= gemm_mr rows): tiles of `wide` columns on the dispatched
// instruction set, or portable tiles.
inline void gemm_rows(std::size_t mr, std::size_t n, std::size_t k, const float* a, std::size_t a_row_step,
                      std::size_t a_p_step, const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate,
                      std::size_t wide) noexcept
{
#if FEWBITS_DISPATCH
    if (wide > 0) {
        for (std::size_t j = 0; j < n; j += wide) {
            const std::size_t nr = std::min(wide, n - j);
            if (wide == 32)
                gemm_tile_avx512<gemm_mr>(mr, nr, k, a, a_row_step, a_p_step, b + j, ldb, c + j, ldc, accumulate);
            else
                gemm_tile_avx2<gemm_mr>(mr, nr, k, a, a_row_step, a_p_step, b + j, ldb, c + j, ldc, accumulate);
        }
        return;
    }
#else
    (void)wide;
#endif
    for (std::size_t j = 0; j < n; j += gemm_nr)
        gemm_tile<gemm_mr, gemm_nr>(mr, std::min(gemm_nr, n - j), k, a, a_row_step, a_p_step, b + j, ldb, c + j, ldc,
                                    accumulate);
}

}  // namespace detail

// Which matrix product this build uses (for reports and benchmark labels).
inline constexpr const char* gemm_backend =
#if defined(FEWBITS_GEMM_CBLAS)
    "cblas";
#else
    "portable";
#endif

// C = [C +] op(A) * B as described at the top of this header. Pointers must not alias C.
// threads: how many threads may share the rows of C (results identical for every value).
inline void gemm(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, transpose a_op,
                 const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate, unsigned threads = 1)
{
#if defined(FEWBITS_GEMM_CBLAS)
    if (m == 0 || n == 0) return;
    if (k == 0) {  // BLAS leaves C alone with k = 0 only when beta = 1
        if (!accumulate)
            for (std::size_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
        return;
    }
    (void)threads;
    cblas_sgemm(CblasRowMajor, a_op == transpose::no ? CblasNoTrans : CblasTrans, CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                accumulate ? 1.0f : 0.0f, c, static_cast<int>(ldc));
    return;
#endif
    using detail::gemm_mr;
    const std::size_t a_row_step = a_op == transpose::no ? lda : 1;
    const std::size_t a_p_step = a_op == transpose::no ? 1 : lda;
    // Rough cost per row; below ~1 Mflop per thread, starting a thread costs more than it saves.
    const std::size_t min_rows = std::max<std::size_t>(gemm_mr, (1u << 20) / std::max<std::size_t>(1, n * k));
    const std::size_t grain = (min_rows + gemm_mr - 1) / gemm_mr * gemm_mr;
    const std::size_t wide = detail::gemm_wide_columns();
    parallel_for(m, threads, grain, [&](std::size_t row_begin, std::size_t row_end) {
        for (std::size_t i = row_begin; i < row_end; i += gemm_mr)
            detail::gemm_rows(std::min(gemm_mr, row_end - i), n, k, a + i * a_row_step, a_row_step, a_p_step, b, ldb,
                              c + i * ldc, ldc, accumulate, wide);
    });
}

// C = [C +] op(A) * op(B): B transposed (op(B)(p, j) = b[j * ldb + p]) or not.
inline void gemm(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, transpose a_op,
                 const float* b, std::size_t ldb, transpose b_op, float* c, std::size_t ldc, bool accumulate,
                 unsigned threads = 1)
{
    if (b_op == transpose::no) {
        gemm(m, n, k, a, lda, a_op, b, ldb, c, ldc, accumulate, threads);
        return;
    }
#if defined(FEWBITS_GEMM_CBLAS)
    if (m != 0 && n != 0 && k != 0) {
        cblas_sgemm(CblasRowMajor, a_op == transpose::no ? CblasNoTrans : CblasTrans, CblasTrans, static_cast<int>(m),
                    static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                    accumulate ? 1.0f : 0.0f, c, static_cast<int>(ldc));
        return;
    }
#endif
    scratch_tensor scratch;  // the transposed copy lives only for this product
    float* bt = scratch.take(k, n).data();
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t p = 0; p < k; ++p) bt[p * n + j] = b[j * ldb + p];
    gemm(m, n, k, a, lda, a_op, bt, n, c, ldc, accumulate, threads);
}

// count products C_i = [C_i +] op(A_i) * op(B_i) with A_i = a + i * stride_a, B_i = b + i * stride_b,
// C_i = c + i * stride_c. With at least as many products as threads they are shared among the
// threads whole; otherwise each one shares its rows. Either way every C_i gets gemm's bits.
inline void gemm_batched(std::size_t count, std::size_t m, std::size_t n, std::size_t k, const float* a,
                         std::size_t lda, std::size_t stride_a, transpose a_op, const float* b, std::size_t ldb,
                         std::size_t stride_b, transpose b_op, float* c, std::size_t ldc, std::size_t stride_c,
                         bool accumulate, unsigned threads = 1)
{
    if (count >= threads) {
        parallel_for(count, threads, 1, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin; i < end; ++i)
                gemm(m, n, k, a + i * stride_a, lda, a_op, b + i * stride_b, ldb, b_op, c + i * stride_c, ldc,
                     accumulate, 1);
        });
        return;
    }
    for (std::size_t i = 0; i < count; ++i)
        gemm(m, n, k, a + i * stride_a, lda, a_op, b + i * stride_b, ldb, b_op, c + i * stride_c, ldc, accumulate,
             threads);
}

}  // namespace fewbits::nn
