// The matrix product of the SGD layer: a portable blocked GEMM with a fixed summation order.
//
// Contract: C (m x n) = [C +] op(A) (m x k) * op(B) (k x n), every C(i, j) accumulated in float
// as acc = acc + A(i, p) * B(p, j) for p = 0, 1, ..., k - 1 in that order, starting from C(i, j)
// (accumulate) or 0. A transposed B is first copied into a k x n buffer (the product then runs
// along contiguous rows): the same sums as for a B stored transposed by the caller.
// gemm_batched does `count` independent products at fixed strides (one per sequence or head),
// each with this contract. Consequences, within one build (compiler and flags):
//  - the result does not depend on the thread count: threads get whole rows of C, cut at
//    multiples of the register tile, and never share an accumulator;
//  - it does not depend on how the caller splits rows either, for the same reason.
// Across builds the last bits may differ: where the target has FMA the compiler may fuse
// a * b + acc (one rounding instead of two). That is the only freedom it has: the order of
// the additions is fixed by the loops below, never by the vector width.
// The inner loops vectorise over the output columns j (xsimd batches when available, else
// the compiler's auto-vectorisation): every lane holds a different C(i, j), so vectorising
// changes no sum.
//
// Optional BLAS: define FEWBITS_SGD_CBLAS (and link a CBLAS, e.g. Debian's OpenBLAS) to send
// every product to cblas_sgemm instead. The order of the sums is then the library's: results
// depend on the BLAS build, the kernel it picks for the CPU and its own thread count
// (OPENBLAS_NUM_THREADS), not on fewbits' threads argument, which the BLAS path ignores.
// On one machine with a fixed BLAS thread count OpenBLAS's GEMM gives the same bits run after
// run (it splits the output, not the sums, among its threads), so fewbits' 1 vs N thread
// identity still holds; the portable kernel's guarantee (independent of any thread count,
// the same on every machine for one build) does not.
#pragma once

#if defined(FEWBITS_SGD_CBLAS)
#include <cblas.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "fewbits/config.hpp"
#include "fewbits/detail/simd.hpp"
#include "fewbits/sgd/parallel.hpp"

namespace fewbits::sgd {

// op(A): A as stored (row i at a + i * lda) or transposed (A(i, p) = a[p * lda + i]).
enum class transpose { no, yes };

namespace detail {

// Register tile: gemm_mr rows by gemm_nr columns of C stay in registers through the whole
// k loop. 6 x (2 vectors) fits the 16 vector registers of SSE2/AVX2/NEON with room for the
// B loads and the broadcast; AVX-512 has twice the width and 32 registers.
inline constexpr std::size_t gemm_mr = 6;
#if FEWBITS_HAS_XSIMD
inline constexpr std::size_t gemm_nr =
    fewbits::detail::simd::available ? 2 * fewbits::detail::simd::f32::size : 16;
#else
inline constexpr std::size_t gemm_nr = 16;
#endif

// a * b + acc in the portable loops. Where the target has FMA, the compiler may fuse some
// of these and not others (in one loop version and not in another: the no-xsimd build at
// -march=x86-64-v3 gave different bits for 1 and 2 threads), so there they are all fused
// explicitly; without FMA there is nothing to fuse.
inline float multiply_add(float a, float b, float acc) noexcept
{
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    return std::fma(a, b, acc);
#else
    return acc + a * b;
#endif
}

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
    if constexpr (fewbits::detail::simd::available) {
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
                    for (std::size_t q = 0; q < NR / W; ++q) v[r][q] = v[r][q] + ar * bv[q];
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
                for (std::size_t j = 0; j < NR; ++j) acc[r][j] = multiply_add(ar, brow[j], acc[r][j]);
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
                for (std::size_t j = 0; j < NR; ++j) acc[r][j] = multiply_add(ar, bpad[j], acc[r][j]);
            }
        }
    }
    for (std::size_t r = 0; r < mr; ++r)
        for (std::size_t j = 0; j < nr; ++j) c[r * ldc + j] = acc[r][j];
}

}  // namespace detail

// Which matrix product this build uses (for reports and benchmark labels).
inline constexpr const char* gemm_backend =
#if defined(FEWBITS_SGD_CBLAS)
    "cblas";
#else
    "portable";
#endif

// C = [C +] op(A) * B as described at the top of this header. Pointers must not alias C.
// threads: how many threads may share the rows of C (results identical for every value).
inline void gemm(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda, transpose a_op,
                 const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate, unsigned threads = 1)
{
#if defined(FEWBITS_SGD_CBLAS)
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
    using detail::gemm_nr;
    const std::size_t a_row_step = a_op == transpose::no ? lda : 1;
    const std::size_t a_p_step = a_op == transpose::no ? 1 : lda;
    // Rough cost per row; below ~1 Mflop per thread, starting a thread costs more than it saves.
    const std::size_t min_rows = std::max<std::size_t>(gemm_mr, (1u << 20) / std::max<std::size_t>(1, n * k));
    const std::size_t grain = (min_rows + gemm_mr - 1) / gemm_mr * gemm_mr;
    parallel_for(m, threads, grain, [&](std::size_t row_begin, std::size_t row_end) {
        for (std::size_t i = row_begin; i < row_end; i += gemm_mr) {
            const std::size_t mr = std::min(gemm_mr, row_end - i);
            for (std::size_t j = 0; j < n; j += gemm_nr) {
                const std::size_t nr = std::min(gemm_nr, n - j);
                detail::gemm_tile<gemm_mr, gemm_nr>(mr, nr, k, a + i * a_row_step, a_row_step, a_p_step, b + j, ldb,
                                                    c + i * ldc + j, ldc, accumulate);
            }
        }
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
#if defined(FEWBITS_SGD_CBLAS)
    if (m != 0 && n != 0 && k != 0) {
        cblas_sgemm(CblasRowMajor, a_op == transpose::no ? CblasNoTrans : CblasTrans, CblasTrans, static_cast<int>(m),
                    static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                    accumulate ? 1.0f : 0.0f, c, static_cast<int>(ldc));
        return;
    }
#endif
    std::vector<float> bt(k * n);
    for (std::size_t j = 0; j < n; ++j)
        for (std::size_t p = 0; p < k; ++p) bt[p * n + j] = b[j * ldb + p];
    gemm(m, n, k, a, lda, a_op, bt.data(), n, c, ldc, accumulate, threads);
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

}  // namespace fewbits::sgd
