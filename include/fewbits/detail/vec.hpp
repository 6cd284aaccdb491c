// The lane type of the dispatched kernels (FEWBITS_DISPATCH, see config.hpp): N 32-bit
// unsigned lanes in a GNU vector (GCC and clang), with the operators the rounding core and
// the generator use, plus loads, widening loads and narrowing stores. Every function is
// always inlined and carries no target of its own, so the same source becomes SSE2, AVX2 or
// AVX-512 code inside each target's kernel (dispatch.hpp): the compiler picks the
// instructions for the function it is inlined into. Comparisons give a mask (all ones where
// true), select blends by it; unsigned compares and variable shifts are the vector
// extensions' own, defined lane by lane like the scalar operators.
#pragma once

#include "fewbits/config.hpp"

#if FEWBITS_DISPATCH

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <immintrin.h>  // with GCC, declares the AVX-512 builtins used below (its target pragmas enable them)

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail::vec {

// The vector types per width (the vector_size attribute must not depend on a template
// parameter, which GCC ignores on a dependent typedef).
template <int N>
struct raw;
#define FEWBITS_VEC_RAW(N)                                                              \
    template <>                                                                         \
    struct raw<N> {                                                                     \
        typedef std::uint32_t u32 __attribute__((vector_size(4 * (N))));                  \
        typedef std::int32_t i32 __attribute__((vector_size(4 * (N))));                   \
        typedef float f32 __attribute__((vector_size(4 * (N))));                          \
        typedef std::uint16_t u16 __attribute__((vector_size(2 * (N))));                  \
        typedef std::uint8_t u8 __attribute__((vector_size((N))));                        \
        typedef std::uint64_t u64 __attribute__((vector_size(4 * (N))));                 \
        typedef long long i64 __attribute__((vector_size(4 * (N))));                     \
    };
FEWBITS_VEC_RAW(4)
FEWBITS_VEC_RAW(8)
FEWBITS_VEC_RAW(16)
#undef FEWBITS_VEC_RAW

// A lane comparison's result: all ones where true. With GCC, 16 lanes (AVX-512's width, used
// only inside the AVX-512 kernels) keep it in a mask register instead: GCC 12 would turn each
// comparison into a mask register and then into a vector (vmovdqa32 {z}) and blend with a
// vpternlogd, where the builtins below compare into the register and blend from it in one
// instruction each (E4M3 nearest-even on wide inputs: 3.0 -> 3.4 G elements/s, docs/benchmarks.md).
// The builtins are expanded where these always-inlined functions end up: in the AVX-512
// kernels. clang compiles the vector form well already and checks builtins before inlining.
#if defined(__GNUC__) && !defined(__clang__)
#define FEWBITS_VEC_GCC_BUILTINS 1
#else
#define FEWBITS_VEC_GCC_BUILTINS 0
#endif
template <int N>
struct mask {
    typename raw<N>::u32 m;
};
#if FEWBITS_VEC_GCC_BUILTINS
template <>
struct mask<16> {
    std::uint16_t k;
};
#endif

// AVX-512's predicates for unsigned compares, and the comparison of two vectors.
enum class predicate : int { eq = 0, lt = 1, ne = 4, gt = 6 };
template <predicate P, int N>
FEWBITS_ALWAYS_INLINE inline mask<N> compare(typename raw<N>::u32 a, typename raw<N>::u32 b) noexcept
{
    using R = typename raw<N>::u32;
#if FEWBITS_VEC_GCC_BUILTINS
    if constexpr (N == 16) {
        using I = typename raw<N>::i32;
        return {__builtin_ia32_ucmpd512_mask(I(a), I(b), int(P), std::uint16_t(0xFFFF))};
    } else
#endif
    if constexpr (P == predicate::eq)
        return {R(a == b)};
    else if constexpr (P == predicate::lt)
        return {R(a < b)};
    else if constexpr (P == predicate::ne)
        return {R(a != b)};
    else
        return {R(a > b)};
}

template <int N>
struct u32 {
    using R = typename raw<N>::u32;
    using value_type = std::uint32_t;
    static constexpr std::size_t size = N;
    R v;

    FEWBITS_ALWAYS_INLINE u32() = default;
    FEWBITS_ALWAYS_INLINE u32(std::uint32_t x) noexcept : v(R{} + x) {}  // every lane x
    FEWBITS_ALWAYS_INLINE static u32 of(R r) noexcept
    {
        u32 a;
        a.v = r;
        return a;
    }
    FEWBITS_ALWAYS_INLINE static u32 load(const void* p) noexcept
    {
        u32 a;
        std::memcpy(&a.v, p, sizeof a.v);
        return a;
    }
    FEWBITS_ALWAYS_INLINE void store(void* p) const noexcept { std::memcpy(p, &v, sizeof v); }

    FEWBITS_ALWAYS_INLINE friend u32 operator+(u32 a, u32 b) noexcept { return of(a.v + b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator-(u32 a, u32 b) noexcept { return of(a.v - b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator*(u32 a, u32 b) noexcept { return of(a.v * b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator&(u32 a, u32 b) noexcept { return of(a.v & b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator|(u32 a, u32 b) noexcept { return of(a.v | b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator^(u32 a, u32 b) noexcept { return of(a.v ^ b.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator<<(u32 a, int k) noexcept { return of(a.v << k); }
    FEWBITS_ALWAYS_INLINE friend u32 operator>>(u32 a, int k) noexcept { return of(a.v >> k); }
    // Per-lane shift counts; the core keeps every count below 32.
    FEWBITS_ALWAYS_INLINE friend u32 operator<<(u32 a, u32 k) noexcept { return of(a.v << k.v); }
    FEWBITS_ALWAYS_INLINE friend u32 operator>>(u32 a, u32 k) noexcept { return of(a.v >> k.v); }
    FEWBITS_ALWAYS_INLINE u32& operator+=(u32 b) noexcept { return *this = *this + b; }
    FEWBITS_ALWAYS_INLINE u32& operator*=(u32 b) noexcept { return *this = *this * b; }
    FEWBITS_ALWAYS_INLINE u32& operator^=(u32 b) noexcept { return *this = *this ^ b; }
    FEWBITS_ALWAYS_INLINE u32& operator>>=(int k) noexcept { return *this = *this >> k; }

    FEWBITS_ALWAYS_INLINE friend mask<N> operator<(u32 a, u32 b) noexcept { return compare<predicate::lt, N>(a.v, b.v); }
    FEWBITS_ALWAYS_INLINE friend mask<N> operator>(u32 a, u32 b) noexcept { return compare<predicate::gt, N>(a.v, b.v); }
    FEWBITS_ALWAYS_INLINE friend mask<N> operator==(u32 a, u32 b) noexcept { return compare<predicate::eq, N>(a.v, b.v); }
    FEWBITS_ALWAYS_INLINE friend mask<N> operator!=(u32 a, u32 b) noexcept { return compare<predicate::ne, N>(a.v, b.v); }
};

template <int N>
FEWBITS_ALWAYS_INLINE inline mask<N> operator&&(mask<N> a, mask<N> b) noexcept
{
#if FEWBITS_VEC_GCC_BUILTINS
    if constexpr (N == 16) return {std::uint16_t(a.k & b.k)};
    else
#endif
    return {a.m & b.m};
}
template <int N>
FEWBITS_ALWAYS_INLINE inline u32<N> select(mask<N> c, u32<N> a, u32<N> b) noexcept
{
#if FEWBITS_VEC_GCC_BUILTINS
    if constexpr (N == 16) {
        using I = typename raw<N>::i32;
        using R = typename raw<N>::u32;
        return u32<N>::of(R(__builtin_ia32_blendmd_512_mask(I(b.v), I(a.v), c.k)));
    } else
#endif
    return u32<N>::of((c.m & a.v) | (~c.m & b.v));
}
// min and max as the vector ?: of a comparison, which GCC and clang turn into pminud/pmaxud
// (select would cost a compare and a blend; select itself stays a blend: GCC 12 scalarises
// a vector ?: whose condition is a stored mask).
template <int N>
FEWBITS_ALWAYS_INLINE inline u32<N> min(u32<N> a, u32<N> b) noexcept
{
    return u32<N>::of(a.v < b.v ? a.v : b.v);
}
template <int N>
FEWBITS_ALWAYS_INLINE inline u32<N> max(u32<N> a, u32<N> b) noexcept
{
    return u32<N>::of(a.v < b.v ? b.v : a.v);
}

// The float bits of small non-negative integers (< 2^24): an exact int -> float conversion.
template <int N>
FEWBITS_ALWAYS_INLINE inline u32<N> int_to_float_bits(u32<N> m) noexcept
{
    using Raw = raw<N>;
    const typename Raw::f32 f = __builtin_convertvector(reinterpret_cast<typename Raw::i32>(m.v), typename Raw::f32);
    return u32<N>::of(reinterpret_cast<typename Raw::u32>(f));
}

// The high 32 bits of each lane's 64-bit product with m (Philox's multiply, random.hpp): the
// even lanes' products in 64-bit lanes, then the odd lanes'. GCC multiplies 64-bit lanes in full
// (vpmullq, or three pmuludq each without AVX-512DQ) even when their high halves are zero, so with
// GCC the 32 x 32 -> 64 products are pmuludq's builtins, expanded in the target's kernel like
// the mask builtins above; clang finds pmuludq in the plain form.
template <int N>
FEWBITS_ALWAYS_INLINE inline u32<N> mul_hi(u32<N> a, std::uint32_t m) noexcept
{
    using R = typename raw<N>::u32;
    using W = typename raw<N>::u64;
    const W wide = W(a.v);
    W even, odd;
#if FEWBITS_VEC_GCC_BUILTINS
    using I = typename raw<N>::i32;
    const I mm = I(R{} + m);
    if constexpr (N == 4) {
        even = W(__builtin_ia32_pmuludq128(I(a.v), mm));
        odd = W(__builtin_ia32_pmuludq128(I(wide >> 32), mm));
    } else if constexpr (N == 8) {
        even = W(__builtin_ia32_pmuludq256(I(a.v), mm));
        odd = W(__builtin_ia32_pmuludq256(I(wide >> 32), mm));
    } else {
        using L = typename raw<N>::i64;
        even = W(__builtin_ia32_pmuludq512_mask(I(a.v), mm, L{}, static_cast<unsigned char>(0xFF)));
        odd = W(__builtin_ia32_pmuludq512_mask(I(wide >> 32), mm, L{}, static_cast<unsigned char>(0xFF)));
    }
#else
    even = (wide & 0xFFFFFFFFu) * m;
    odd = (wide >> 32) * m;
#endif
    return u32<N>::of(R((even >> 32) | ((odd >> 32) << 32)));
}

// Stores four vectors lane by lane interleaved: out[4 j + i] = lane j of vector i, by 4 x 4
// transposes of their 128-bit pieces (lanes G .. G + 3).
template <int G, int N>
FEWBITS_ALWAYS_INLINE inline void store_interleaved4_piece(u32<N> v0, u32<N> v1, u32<N> v2, u32<N> v3,
                                                           std::uint32_t* out) noexcept
{
    using Q = typename raw<4>::u32;
    const Q a = __builtin_shufflevector(v0.v, v0.v, G, G + 1, G + 2, G + 3);
    const Q b = __builtin_shufflevector(v1.v, v1.v, G, G + 1, G + 2, G + 3);
    const Q c = __builtin_shufflevector(v2.v, v2.v, G, G + 1, G + 2, G + 3);
    const Q d = __builtin_shufflevector(v3.v, v3.v, G, G + 1, G + 2, G + 3);
    const Q ab_low = __builtin_shufflevector(a, b, 0, 4, 1, 5), ab_high = __builtin_shufflevector(a, b, 2, 6, 3, 7);
    const Q cd_low = __builtin_shufflevector(c, d, 0, 4, 1, 5), cd_high = __builtin_shufflevector(c, d, 2, 6, 3, 7);
    const Q rows[4] = {__builtin_shufflevector(ab_low, cd_low, 0, 1, 4, 5),
                       __builtin_shufflevector(ab_low, cd_low, 2, 3, 6, 7),
                       __builtin_shufflevector(ab_high, cd_high, 0, 1, 4, 5),
                       __builtin_shufflevector(ab_high, cd_high, 2, 3, 6, 7)};
    std::memcpy(out + std::ptrdiff_t{4} * G, rows, sizeof rows);
}
template <int N>
FEWBITS_ALWAYS_INLINE inline void store_interleaved4(u32<N> v0, u32<N> v1, u32<N> v2, u32<N> v3,
                                                     std::uint32_t* out) noexcept
{
    store_interleaved4_piece<0>(v0, v1, v2, v3, out);
    if constexpr (N >= 8) store_interleaved4_piece<4>(v0, v1, v2, v3, out);
    if constexpr (N >= 16) {
        store_interleaved4_piece<8>(v0, v1, v2, v3, out);
        store_interleaved4_piece<12>(v0, v1, v2, v3, out);
    }
}

// Stores the low 8 or 16 bits of each lane (the values fit) to out[0 .. N).
template <class S, int N>
FEWBITS_ALWAYS_INLINE inline void store_narrow(u32<N> a, S* out) noexcept
{
    static_assert(sizeof(S) == 1 || sizeof(S) == 2);
    if constexpr (sizeof(S) == 1) {
        const typename raw<N>::u8 n = __builtin_convertvector(a.v, typename raw<N>::u8);
        std::memcpy(out, &n, sizeof n);
    } else {
        const typename raw<N>::u16 n = __builtin_convertvector(a.v, typename raw<N>::u16);
        std::memcpy(out, &n, sizeof n);
    }
}

// Loads in[0 .. N) zero-extended to 32-bit lanes.
template <int N, class S>
FEWBITS_ALWAYS_INLINE inline u32<N> load_widen(const S* in) noexcept
{
    static_assert(sizeof(S) == 1 || sizeof(S) == 2);
    if constexpr (sizeof(S) == 1) {
        typename raw<N>::u8 n;
        std::memcpy(&n, in, sizeof n);
        return u32<N>::of(__builtin_convertvector(n, typename raw<N>::u32));
    } else {
        typename raw<N>::u16 n;
        std::memcpy(&n, in, sizeof n);
        return u32<N>::of(__builtin_convertvector(n, typename raw<N>::u32));
    }
}

}  // namespace fewbits::detail::vec

FEWBITS_SIMD_DIAGNOSTICS_POP

#endif  // FEWBITS_DISPATCH
