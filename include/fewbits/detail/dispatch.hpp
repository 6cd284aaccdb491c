// Which instruction set the kernels run, chosen at run time. With FEWBITS_DISPATCH (GCC or
// clang on x86-64, see config.hpp) every kernel is compiled for each target below, whatever
// -march the program was built with, and the first kernel call picks the best target the CPU
// (and OS) supports, or a lower one forced by the environment variable FEWBITS_SIMD or by
// set_simd_architecture(). Without it there is exactly one target: xsimd's compile-time
// architecture, or scalar. Every target gives the same bits (the digest and the differential
// tests check each one in one process).
//
// Also here: the uniform lane interface (lane_io) through which the kernels' loops use a
// dispatched vector type, an xsimd batch or (for the tail) nothing at all.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fewbits/config.hpp"
#include "fewbits/detail/decode.hpp"
#include "fewbits/detail/simd.hpp"
#include "fewbits/detail/vec.hpp"

#if FEWBITS_DISPATCH
#include <immintrin.h>  // the widening and narrowing of codes on AVX2 and AVX-512 (kernels.hpp)
#endif

FEWBITS_SIMD_DIAGNOSTICS_PUSH

namespace fewbits::detail {

// Ordered: a higher target needs everything a lower one does.
enum class simd_target : int { scalar = 0, sse2 = 1, avx2 = 2, avx512 = 3, compiled = 4 };

#if FEWBITS_DISPATCH
// The extra instructions each target's functions may use. AVX2 comes with FMA, F16C, BMI1/2
// and LZCNT (x86-64-v3); AVX-512 with F, BW, DQ and VL (x86-64-v4).
#define FEWBITS_TARGET_SSE2
#define FEWBITS_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")))
#define FEWBITS_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")))

inline constexpr const char* target_name(simd_target t) noexcept
{
    switch (t) {
    case simd_target::sse2: return "sse2";
    case simd_target::avx2: return "avx2";
    case simd_target::avx512: return "avx512";
    default: return "scalar";
    }
}

// The best target this CPU and OS run (libgcc's and compiler-rt's CPU model check the OS's
// XSAVE support for the AVX and AVX-512 registers too).
inline simd_target best_simd_target() noexcept
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
        return simd_target::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
        return simd_target::avx2;
    return simd_target::sse2;  // x86-64's baseline
}
#else
inline constexpr const char* target_name(simd_target t) noexcept
{
#if FEWBITS_HAS_XSIMD
    if (t == simd_target::compiled) {
        if constexpr (simd::available) return simd::arch::name();
    }
#endif
    (void)t;
    return "scalar";
}
inline simd_target best_simd_target() noexcept
{
#if FEWBITS_HAS_XSIMD
    if constexpr (simd::available) return simd_target::compiled;
#endif
    return simd_target::scalar;
}
#endif

// Parses a target name; false if it names none.
inline bool parse_simd_target(const char* name, simd_target& t) noexcept
{
    for (simd_target c : {simd_target::scalar, simd_target::sse2, simd_target::avx2, simd_target::avx512,
                          simd_target::compiled}) {
        if (std::strcmp(name, target_name(c)) == 0) {
            t = c;
            return true;
        }
    }
    return false;
}

// The targets this process can run, lowest first: scalar, then each one up to the best.
inline int supported_simd_targets(simd_target* out) noexcept
{
    const simd_target best = best_simd_target();
    int n = 0;
    out[n++] = simd_target::scalar;
#if FEWBITS_DISPATCH
    for (simd_target t : {simd_target::sse2, simd_target::avx2, simd_target::avx512})
        if (t <= best) out[n++] = t;
#else
    if (best == simd_target::compiled) out[n++] = best;
#endif
    return n;
}

inline bool is_supported(simd_target t) noexcept
{
    simd_target all[5];
    const int n = supported_simd_targets(all);
    for (int i = 0; i < n; ++i)
        if (all[i] == t) return true;
    return false;
}

// The target at start-up: the best, unless FEWBITS_SIMD names a supported one. A name that is
// unknown or above this CPU is reported on stderr once and ignored (the environment is no
// function argument to throw for, and a kernel call must not fail because of it).
inline simd_target initial_simd_target() noexcept
{
    const simd_target best = best_simd_target();
    const char* env = std::getenv("FEWBITS_SIMD");
    if (env == nullptr || *env == '\0') return best;
    simd_target t;
    if (parse_simd_target(env, t) && is_supported(t)) return t;
    std::fprintf(stderr, "fewbits: FEWBITS_SIMD=%s is not a target this CPU runs (%s); using %s\n", env,
                 "scalar, sse2, avx2 or avx512 up to the CPU's best", target_name(best));
    return best;
}

inline std::atomic<int>& active_target_slot() noexcept
{
    static std::atomic<int> slot{static_cast<int>(initial_simd_target())};
    return slot;
}

inline simd_target active_simd_target() noexcept
{
    return static_cast<simd_target>(active_target_slot().load(std::memory_order_relaxed));
}

// ---------------------------------------------------------------------------------------
// lane_io<U>: loads, stores, narrowing and widening for a lane type U.

template <class U>
struct lane_io;

#if FEWBITS_DISPATCH
template <int N>
struct lane_io<vec::u32<N>> {
    using U = vec::u32<N>;
    FEWBITS_ALWAYS_INLINE static U load(const void* p) noexcept { return U::load(p); }
    FEWBITS_ALWAYS_INLINE static void store(const U& v, void* p) noexcept { v.store(p); }
    template <class S>
    FEWBITS_ALWAYS_INLINE static void store_narrow(const U& v, S* out) noexcept
    {
        vec::store_narrow(v, out);
    }
    template <class S>
    FEWBITS_ALWAYS_INLINE static U load_widen(const S* in) noexcept
    {
        return vec::load_widen<N>(in);
    }
};
template <int N>
struct lane_ops<vec::u32<N>> {
    FEWBITS_ALWAYS_INLINE static vec::u32<N> int_to_float_bits(vec::u32<N> m) noexcept
    {
        return vec::int_to_float_bits(m);
    }
};
#endif

#if FEWBITS_HAS_XSIMD
template <class A>
struct lane_io<xsimd::batch<std::uint32_t, A>> {
    using U = xsimd::batch<std::uint32_t, A>;
    FEWBITS_ALWAYS_INLINE static U load(const void* p) noexcept
    {
        return U::load_unaligned(static_cast<const std::uint32_t*>(p));
    }
    FEWBITS_ALWAYS_INLINE static void store(const U& v, void* p) noexcept
    {
        v.store_unaligned(static_cast<std::uint32_t*>(p));
    }
    template <class S>
    FEWBITS_ALWAYS_INLINE static void store_narrow(const U& v, S* out) noexcept
    {
        simd::store_narrow<S, A>(v, out);
    }
    template <class S>
    FEWBITS_ALWAYS_INLINE static U load_widen(const S* in) noexcept
    {
        return simd::load_widen<S, A>(in);
    }
};
#endif

}  // namespace fewbits::detail

FEWBITS_SIMD_DIAGNOSTICS_POP
