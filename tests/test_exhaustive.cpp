// Exhaustive: all 2^32 float inputs, round-to-nearest-even with both overflow policies,
// for each named format (one TEST_CASE per format so ctest can run them in parallel).
// The expected result comes from a merge walk over the positive floats in increasing bit
// order against the reference table (no per-input search); a sample of inputs is also
// re-checked with the reference's own search. For float16 and bfloat16 the library is
// additionally compared with the CPU's conversion instructions when present (F16C
// vcvtps2ph, AVX512-BF16 vcvtneps2bf16), skipping subnormals, NaNs compared by class.
#include "fewbits_catch.hpp"
#include "reference.hpp"

#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FEWBITS_TEST_X86 1
#endif

using fewbits_test::failure_log;
using fewbits_test::float_from_bits;
using fewbits_test::hex;
using fewbits_test::show;

namespace {

enum class cpu_conv { none, f16c, avx512bf16 };

#if defined(FEWBITS_TEST_X86)
__attribute__((target("avx512bf16,avx512vl,avx512f"))) void cpu_to_bf16(const float* in, std::uint16_t* out) {
    const __m512 v = _mm512_loadu_ps(in);
    const __m256bh r = _mm512_cvtneps_pbh(v);
    std::memcpy(out, &r, 32);
}

__attribute__((target("f16c,avx"))) void cpu_to_f16(const float* in, std::uint16_t* out) {
    for (int k = 0; k < 16; k += 8) {
        const __m128i r = _mm256_cvtps_ph(_mm256_loadu_ps(in + k), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), r);
    }
}

bool cpu_has(cpu_conv c) {
    __builtin_cpu_init();
    switch (c) {
    case cpu_conv::f16c: return __builtin_cpu_supports("f16c");
    case cpu_conv::avx512bf16:
        return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512f");
    case cpu_conv::none: return false;
    }
    return false;
}

void cpu_convert(cpu_conv c, const float* in, std::uint16_t* out) {
    if (c == cpu_conv::f16c) cpu_to_f16(in, out);
    else cpu_to_bf16(in, out);
}
#else
bool cpu_has(cpu_conv) { return false; }
void cpu_convert(cpu_conv, const float*, std::uint16_t*) {}
#endif

struct result {
    failure_log lib;
    failure_log walk;  // the walk disagreeing with the reference search (a test bug)
    failure_log cpu;
    std::uint64_t cpu_compared = 0;
};

// Expected encodings per table index for RNE; index n is the overflow result.
struct walk_table {
    const ref::grid& g;
    std::vector<double> mid;            // mid[i] = midpoint of (mag[i], mag[i+1])
    std::vector<std::uint32_t> even;    // index chosen at the tie
    std::vector<std::uint32_t> pos, neg;      // non-saturating result for +|x| and -|x|
    std::uint32_t sat_pos, sat_neg;          // saturating overflow
    explicit walk_table(const ref::grid& gr) : g(gr) {
        for (std::size_t i = 0; i < g.n; ++i) {
            mid.push_back(g.mag[i] + (g.mag[i + 1] - g.mag[i]) / 2);
            even.push_back((g.code[i] & 1u) == 0 ? static_cast<std::uint32_t>(i) : static_cast<std::uint32_t>(i + 1));
        }
        for (std::size_t i = 0; i <= g.n; ++i) {
            pos.push_back(ref::from_index(g, ref::mode::nearest_even, false, false, i).bits);
            neg.push_back(ref::from_index(g, ref::mode::nearest_even, false, true, i).bits);
        }
        sat_pos = g.max_code();
        sat_neg = g.max_code() | g.d.sign_mask();
    }
};

template <class T>
void worker(const walk_table& wt, std::atomic<std::uint32_t>& next, std::uint32_t nchunks, std::uint32_t chunk_bits,
            cpu_conv cpu, result& out) {
    const ref::grid& g = wt.g;
    const std::size_t n = g.n;
    const auto mismatch = [&](float x, const char* pol, const ref::want& w, std::uint32_t got) {
        out.lib.add(g.name + " nearest_even/" + pol + " input " + show(x) + ": want " + ref::describe(g, w) +
                    ", got " + ref::describe_code(g, got));
    };
    // The rounding core that convert<T> runs after its policy switch (fewbits/rounding.hpp),
    // called with the policy fixed at compile time: the switch and validate() are covered by
    // every other test, and skipping them per input halves the sweep's time.
    using F = typename T::format_type;
    using U = typename fewbits::detail::source_traits<float>::uint;
    const auto rne = [](float v, auto on_overflow) -> std::uint32_t {
        return static_cast<typename F::storage_type>(
            fewbits::detail::encode<F, float, fewbits::rounding::nearest_even, decltype(on_overflow)::value>(
                std::bit_cast<U>(v), U(0), U(0)));
    };
    constexpr std::integral_constant<fewbits::overflow, fewbits::overflow::non_saturating> non_saturating{};
    constexpr std::integral_constant<fewbits::overflow, fewbits::overflow::saturate> saturating{};
    alignas(64) float xin[16], xneg[16];
    std::uint16_t cpu_pos[16], cpu_neg[16];
    const std::uint32_t cpu_inf = g.inf_code();
    for (std::uint32_t c = next++; c < nchunks; c = next++) {
        const std::uint32_t u0 = c << chunk_bits, u1 = u0 + (1u << chunk_bits);  // u1 <= 2^31
        std::size_t idx = 0;
        {
            const float v0 = float_from_bits(u0 < 0x7F800000u ? u0 : 0x7F7FFFFFu);
            idx = static_cast<double>(v0) >= g.ext() ? n : g.floor_index(static_cast<double>(v0));
        }
        for (std::uint32_t ub = u0; ub < u1; ub += 16) {
            const bool do_cpu = cpu != cpu_conv::none;
            if (do_cpu) {
                for (int k = 0; k < 16; ++k) {
                    xin[k] = float_from_bits(ub + static_cast<std::uint32_t>(k));
                    xneg[k] = float_from_bits((ub + static_cast<std::uint32_t>(k)) | 0x80000000u);
                }
                cpu_convert(cpu, xin, cpu_pos);
                cpu_convert(cpu, xneg, cpu_neg);
            }
            for (std::uint32_t k = 0; k < 16; ++k) {
                const std::uint32_t u = ub + k;
                const float x = float_from_bits(u);
                const float mx = float_from_bits(u | 0x80000000u);
                const std::uint32_t got_p = rne(x, non_saturating);
                const std::uint32_t got_n = rne(mx, non_saturating);
                const std::uint32_t got_sp = rne(x, saturating);
                const std::uint32_t got_sn = rne(mx, saturating);
                if (u < 0x7F800000u) {
                    const double v = x;
                    while (idx < n && v >= g.mag[idx + 1]) ++idx;
                    std::size_t res;
                    if (idx >= n) res = n;
                    else if (v == g.mag[idx]) res = idx;
                    else if (v < wt.mid[idx]) res = idx;
                    else if (v > wt.mid[idx]) res = idx + 1;
                    else res = wt.even[idx];
                    const std::uint32_t ep = wt.pos[res], en = wt.neg[res];
                    const std::uint32_t esp = res == n ? wt.sat_pos : ep, esn = res == n ? wt.sat_neg : en;
                    if (got_p != ep) mismatch(x, "non_saturating", {ep, false, false}, got_p);
                    if (got_n != en) mismatch(mx, "non_saturating", {en, false, true}, got_n);
                    if (got_sp != esp) mismatch(x, "saturate", {esp, false, false}, got_sp);
                    if (got_sn != esn) mismatch(mx, "saturate", {esn, false, true}, got_sn);
                    if ((u & 0xFFFFu) == 0x1234u || (u & 0x3FFu) == 0) {  // the walk against the reference search
                        const ref::want a = ref::expected(g, ref::mode::nearest_even, false, 32, v);
                        const ref::want b = ref::expected(g, ref::mode::nearest_even, true, 32, -v);
                        if (a.bits != ep || b.bits != esn)
                            out.walk.add(g.name + " walk/reference disagree at " + show(x));
                    }
                } else {  // inf and NaN: both signs, both policies
                    for (int s = 0; s < 4; ++s) {
                        const bool neg = (s & 1) != 0, saturate = s >= 2;
                        const ref::want w = ref::expected(g, ref::mode::nearest_even, saturate, 32, neg ? mx : x);
                        const std::uint32_t got = s == 0 ? got_p : s == 1 ? got_n : s == 2 ? got_sp : got_sn;
                        if (!ref::matches(g, w, got)) mismatch(neg ? mx : x, saturate ? "saturate" : "non_saturating", w, got);
                    }
                }
                if (do_cpu) {
                    const bool sub_in = u != 0 && u < 0x00800000u;
                    for (int s = 0; s < 2; ++s) {
                        const std::uint32_t lib = s == 0 ? got_p : got_n;
                        const std::uint32_t hw = s == 0 ? cpu_pos[k] : cpu_neg[k];
                        const bool lib_nan = (lib & 0x7FFFu) > cpu_inf;  // ieee 16-bit: exponent all ones, mantissa != 0
                        const bool hw_nan = (hw & 0x7FFFu) > cpu_inf;
                        const bool sub_out = (lib & (cpu_inf)) == 0 && (lib & 0x7FFFu) != 0;
                        if (sub_in || sub_out) continue;
                        ++out.cpu_compared;
                        if (lib_nan || hw_nan) {
                            if (lib_nan != hw_nan)
                                out.cpu.add(g.name + " input " + show(s ? mx : x) + ": cpu " + hex(hw, 4) + ", library " +
                                            hex(lib, 4));
                        } else if (lib != hw) {
                            out.cpu.add(g.name + " input " + show(s ? mx : x) + ": cpu " + hex(hw, 4) + ", library " +
                                        hex(lib, 4));
                        }
                    }
                }
            }
        }
    }
}

template <class T>
void run_exhaustive(cpu_conv cpu_kind = cpu_conv::none) {
    const ref::grid& g = ref::grid_of<T>();
    const walk_table wt(g);
    const cpu_conv cpu = cpu_has(cpu_kind) ? cpu_kind : cpu_conv::none;
    const unsigned nthreads = std::max(1u, std::thread::hardware_concurrency());
    constexpr std::uint32_t chunk_bits = 20;
    const std::uint32_t nchunks = (1u << 31) >> chunk_bits;
    std::atomic<std::uint32_t> next{0};
    std::vector<result> results(nthreads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < nthreads; ++i)
        pool.emplace_back([&, i] { worker<T>(wt, next, nchunks, chunk_bits, cpu, results[i]); });
    for (auto& th : pool) th.join();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result all;
    for (const result& r : results) {
        all.lib.merge(r.lib);
        all.walk.merge(r.walk);
        all.cpu.merge(r.cpu);
        all.cpu_compared += r.cpu_compared;
    }
    const char* cpu_name = cpu == cpu_conv::f16c ? "f16c" : cpu == cpu_conv::avx512bf16 ? "avx512bf16" : "none";
    std::printf("exhaustive %-16s %6.1f s  (%u threads, cpu check: %s, %llu compared)\n", g.name.c_str(), secs,
                nthreads, cpu_name, static_cast<unsigned long long>(all.cpu_compared));
    std::fflush(stdout);
    INFO("format " << g.name);
    {
        INFO("walk self-check");
        FEWBITS_CHECK_CLEAN(all.walk);
    }
    {
        INFO("cpu instruction (" << cpu_name << ") vs library");
        FEWBITS_CHECK_CLEAN(all.cpu);
    }
    FEWBITS_REQUIRE_CLEAN(all.lib);
}

// The kernels' float split (kernels.hpp, encode_split_avx2: FP16 and FP8, nearest-even and
// SR, in blocks that hold an input outside the normal range) against the core: every float of
// both signs from 2^(q - 2) (q: the exponent of the format's subnormal step; below it
// nearest-even gives zero) through the first binade of normals, and every 512th float from
// 2^(q - 34) (below it every fraction floors to zero) up to there, with nearest-even in both
// overflow policies and SR with 32 and with 8 random bits (words from a fixed hash of the
// input). Run on each instruction set that has the split; the others run the core's lanes,
// which the differential tests cover.
template <class T>
void run_float_split_sweep() {
    using F = typename T::format_type;
    constexpr int q = F::min_exponent - F::mantissa_bits;
    const auto float_bits = [](int e) { return static_cast<std::uint32_t>(e + 127) << 23; };
    const std::uint32_t sampled_from = float_bits(q - 34), every_from = float_bits(q - 2),
                        end = float_bits(F::min_exponent + 1);
    const std::string name = ref::grid_of<T>().name;
    using fewbits::overflow;
    using fewbits::rounding;
    const fewbits::policy policies[] = {{rounding::nearest_even, overflow::non_saturating},
                                        {rounding::nearest_even, overflow::saturate},
                                        {rounding::stochastic, overflow::non_saturating, 32},
                                        {rounding::stochastic, overflow::saturate, 8}};
    int targets = 0;
    for (const std::string& target : fewbits::simd_architectures()) {
        if (target != "avx2") continue;  // the instruction sets with the split
        ++targets;
        fewbits::set_simd_architecture(target);
        failure_log log;
        std::vector<float> in;
        std::vector<std::uint32_t> words;
        std::vector<T> out;
        const auto check = [&](const fewbits::policy& p) {
            for (std::size_t i = 0; i < in.size(); ++i) {
                const std::uint32_t u = std::bit_cast<std::uint32_t>(in[i]);
                words[i] = (u * 0x9E3779B9u) ^ ((u >> 11) * 0x85EBCA6Bu);
            }
            out.resize(in.size());
            fewbits::quantize<T>(in, out, p, words);
            for (std::size_t i = 0; i < in.size(); ++i) {
                const T want = fewbits::convert<T>(in[i], p, words[i]);
                if (want.bits() != out[i].bits())
                    log.add(target + " " + name + " mode " + std::to_string(static_cast<int>(p.mode)) + " overflow " +
                            std::to_string(static_cast<int>(p.on_overflow)) + " r " + std::to_string(p.random_bits) +
                            " input " + show(in[i]) + ": want " + hex(want.bits(), 4) + ", got " + hex(out[i].bits(), 4));
            }
        };
        constexpr std::uint32_t chunk = 1u << 16;
        for (std::uint32_t u0 = sampled_from; u0 < end; u0 += chunk * (u0 < every_from ? 512u : 1u)) {
            const std::uint32_t stride = u0 < every_from ? 512u : 1u;
            in.clear();
            for (std::uint32_t k = 0; k < chunk && u0 + k * stride < end; ++k) {
                const std::uint32_t u = u0 + k * stride;
                in.push_back(std::bit_cast<float>(u));
                in.push_back(std::bit_cast<float>(u | 0x80000000u));
            }
            words.resize(in.size());
            for (const fewbits::policy& p : policies) check(p);
        }
        INFO("format " << name << " on " << target);
        FEWBITS_CHECK_CLEAN(log);
    }
    fewbits::set_simd_architecture("best");
    if (targets == 0) WARN("this CPU has no instruction set with the float split (avx2): nothing compared");
}

}  // namespace

// No ';' in a test name: CTest's discovery splits names there (CMake's list separator).
TEST_CASE("the kernels' float split gives the core's bits for every float near and below the smallest normal, "
          "nearest-even and SR into float8_e4m3fn, float8_e5m2 and float16", "[exhaustive][long]") {
    run_float_split_sweep<fewbits::float8_e4m3fn>();
    run_float_split_sweep<fewbits::float8_e5m2>();
    run_float_split_sweep<fewbits::float16>();
}

TEST_CASE("all 2^32 floats round nearest-even to float8_e4m3fn in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float8_e4m3fn>();
}
TEST_CASE("all 2^32 floats round nearest-even to float8_e5m2 in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float8_e5m2>();
}
TEST_CASE("all 2^32 floats round nearest-even to float16 in both overflow policies, and agree with f16c",
          "[exhaustive][long]") {
    run_exhaustive<fewbits::float16>(cpu_conv::f16c);
}
TEST_CASE("all 2^32 floats round nearest-even to bfloat16 in both overflow policies, and agree with avx512bf16",
          "[exhaustive][long]") {
    run_exhaustive<fewbits::bfloat16>(cpu_conv::avx512bf16);
}
TEST_CASE("all 2^32 floats round nearest-even to float8_e4m3fnuz in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float8_e4m3fnuz>();
}
TEST_CASE("all 2^32 floats round nearest-even to float8_e5m2fnuz in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float8_e5m2fnuz>();
}
TEST_CASE("all 2^32 floats round nearest-even to float6_e3m2fn in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float6_e3m2fn>();
}
TEST_CASE("all 2^32 floats round nearest-even to float6_e2m3fn in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float6_e2m3fn>();
}
TEST_CASE("all 2^32 floats round nearest-even to float4_e2m1fn in both overflow policies", "[exhaustive][long]") {
    run_exhaustive<fewbits::float4_e2m1fn>();
}
