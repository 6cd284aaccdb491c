// The kernels' hardware-conversion fast paths against the scalar core, on dense boundary inputs:
// quantize into FP16 and BF16 with round-to-nearest-even (both overflow policies), and dequantize
// of every FP16 code and every code of the FP8 formats decoded through FP16. On every instruction
// set this process runs (x86: vcvtps2ph, vcvtneps2bf16, vcvtph2ps; aarch64: FCVTN, BFCVTN,
// FCVTL). On aarch64 also: under each non-default FPCR state (rounding modes, FZ, FZ16, AHP, DN,
// FEAT_AFP's FIZ/AH) the kernels give the default environment's bits; the NEON entries decline
// exactly when FPCR is not at its reset value; FPSR's flags are left as they were; and the BF16
// path and its fallback are each checked directly.
//
// The inputs, for a 16-bit format F: for every finite magnitude code c of F, its value, the
// midpoint to the next code (the rounding boundary, up to the next binade, max to max + 1 ulp
// included), each of those +-1 float ulp, both signs; float subnormals (smallest and largest),
// +-0, +-inf, quiet and signalling NaNs with many payloads; and random floats (every bit pattern,
// and F's range). Each set is checked in one whole call at input offsets 0..3, and at every length
// 1..40 from many starts (tails and unaligned starts).
// Set FEWBITS_TEST_SEED to rerun with another seed; FEWBITS_TEST_EXPECT_BF16=0|1 (set by the
// aarch64 qemu registrations) makes the test fail if the CPU's BF16 support is not as expected.
#include "fewbits_catch.hpp"

#include <fewbits/fewbits.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

using fewbits_test::failure_log;
using fewbits_test::float_bits;
using fewbits_test::float_from_bits;
using fewbits_test::hex;

namespace {

std::uint64_t base_seed() {
    if (const char* s = std::getenv("FEWBITS_TEST_SEED")) return std::strtoull(s, nullptr, 0);
    return 0x66617374706174ull;
}

using fewbits_test::prng;

template <class T>
std::uint32_t bits_of(T t) {
    return static_cast<std::uint32_t>(t.bits());
}

template <class T>
float value_of_code(std::uint32_t code) {
    return static_cast<float>(T::from_bits(static_cast<typename T::storage_type>(code)));
}

// The inputs described at the top, for the 16-bit format of T.
template <class T>
std::vector<float> boundary_inputs(prng& rng) {
    using F = typename T::format_type;
    std::vector<std::uint32_t> bits;
    auto around = [&](std::uint32_t b) {
        for (std::uint32_t d : {b - 1, b, b + 1}) {
            bits.push_back(d & 0x7FFFFFFFu);
            bits.push_back(d | 0x80000000u);
        }
    };
    const std::uint32_t inf_code = F::max_magnitude + 1;
    for (std::uint32_t c = 0; c < inf_code; ++c) {
        const double here = value_of_code<T>(c), next = value_of_code<T>(c + 1);  // c + 1 may be inf
        around(float_bits(float(here)));
        const double mid = c + 1 == inf_code ? here + (here - double(value_of_code<T>(c - 1))) / 2 : (here + next) / 2;
        around(float_bits(float(mid)));  // exact: F's values and midpoints are floats
    }
    for (std::uint32_t k = 1; k <= 64; ++k) {  // float subnormals: the smallest and the largest
        around(k);
        around(0x00800000u - k);
    }
    around(0x00800000u);  // the smallest float normal
    for (int k = 0; k < 256; ++k) around(rng.u32() & 0x007FFFFFu);
    for (std::uint32_t b : {0x7F7FFFFFu, 0x7F800000u, 0x47800000u, 0x477FF000u, 0x477FEFFFu, 0x7F7F8000u})
        around(b);  // FLT_MAX, inf, 2^16, FP16 max + half ulp and below, BF16's last tie
    // NaNs: quiet and signalling, payloads in the top bits (kept), in the low bits only (dropped,
    // so a signalling NaN must still come out quiet), both signs.
    for (std::uint32_t payload : {0x1u, 0x2u, 0x1FFFu, 0x2000u, 0x3FFFFFu, 0x200000u, 0x155555u, 0x2AAAAAu, 0xFFFFu,
                                  0x10000u, 0x7FFFu, 0x8000u, 0x3F0001u})
        for (std::uint32_t quiet : {0u, 0x400000u})
            for (std::uint32_t sign : {0u, 0x80000000u}) bits.push_back(sign | 0x7F800000u | quiet | payload);
    for (int k = 0; k < 512; ++k) bits.push_back(0x7F800000u | (rng.u32() & 0x807FFFFFu) | 1u);
    std::vector<float> in;
    in.reserve(bits.size());
    for (std::uint32_t b : bits) in.push_back(float_from_bits(b));
    // Shuffled, so that each vector mixes specials, overflow, subnormals and ties.
    for (std::size_t i = in.size(); i > 1; --i) std::swap(in[i - 1], in[rng.below(i)]);
    return in;
}

// Random floats: every bit pattern, and magnitudes in the format's range (exponent fields
// 100..145 cover FP16's subnormals to beyond its max; BF16 has float's range).
std::vector<float> random_inputs(std::size_t n, prng& rng) {
    std::vector<float> in(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t b = rng.u32();
        if (i % 2 == 1) b = (b & 0x807FFFFFu) | std::uint32_t(100 + rng.below(46)) << 23;
        in[i] = float_from_bits(b);
    }
    return in;
}

std::string policy_name(fewbits::overflow o) {
    return o == fewbits::overflow::saturate ? "nearest_even/saturate" : "nearest_even/non_saturating";
}

template <class T>
std::vector<std::uint32_t> expected_codes(const std::vector<float>& in, const fewbits::policy& p) {
    std::vector<std::uint32_t> want(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) want[i] = bits_of(fewbits::convert<T>(in[i], p));
    return want;
}

// quantize<T> over in[start, start + len) compared with want; the first mismatch is logged.
template <class T>
void check_quantize_span(const std::vector<float>& in, const std::vector<std::uint32_t>& want, std::size_t start,
                         std::size_t len, const fewbits::policy& p, std::vector<T>& out, const std::string& ctx,
                         failure_log& log) {
    fewbits::quantize<T>(std::span<const float>(in).subspan(start, len), std::span<T>(out).first(len), p);
    for (std::size_t i = 0; i < len; ++i) {
        if (bits_of(out[i]) != want[start + i]) {
            log.add(ctx + " " + policy_name(p.on_overflow) + " start " + std::to_string(start) + " length " +
                    std::to_string(len) + " element " + std::to_string(i) + " input " +
                    hex(float_bits(in[start + i]), 8) + ": want " + hex(want[start + i], 4) + ", got " +
                    hex(bits_of(out[i]), 4));
            return;
        }
    }
}

// Whole calls at input offsets 0..3, then every length 1..40 from many starts.
template <class T>
void check_quantize(const std::vector<float>& in, const std::vector<std::uint32_t>& want, const fewbits::policy& p,
                    const std::string& ctx, failure_log& log, prng& rng) {
    std::vector<T> out(in.size());
    for (std::size_t offset = 0; offset < 4; ++offset)
        check_quantize_span<T>(in, want, offset, in.size() - offset, p, out, ctx, log);
    for (std::size_t len = 1; len <= 40; ++len)
        for (int k = 0; k < 8; ++k) {
            const std::size_t start = k < 4 ? std::size_t(k) : rng.below(in.size() - len + 1);
            check_quantize_span<T>(in, want, start, len, p, out, ctx, log);
        }
}

template <class T>
struct decode_case {
    std::vector<T> codes;
    std::vector<std::uint32_t> want;  // the float bits
};

// Every code of T: in order (NaN codes then share vectors with their neighbours), then shuffled,
// enough times over to fill 2^16 elements.
template <class T>
decode_case<T> every_code(prng& rng) {
    constexpr std::uint32_t count = 1u << T::format_type::total_bits;
    decode_case<T> d;
    for (std::uint32_t rep = 0; rep < (1u << 16) / count; ++rep)
        for (std::uint32_t c = 0; c < count; ++c) d.codes.push_back(T::from_bits(static_cast<typename T::storage_type>(c)));
    for (std::size_t i = d.codes.size() / 2; i > 1; --i) std::swap(d.codes[d.codes.size() / 2 + i - 1], d.codes[d.codes.size() / 2 + rng.below(i)]);
    for (const T& c : d.codes) d.want.push_back(float_bits(static_cast<float>(c)));
    return d;
}

template <class T>
void check_dequantize_span(const decode_case<T>& d, std::size_t start, std::size_t len, std::vector<float>& out,
                           const std::string& ctx, failure_log& log) {
    fewbits::dequantize<T>(std::span<const T>(d.codes).subspan(start, len), std::span<float>(out).first(len));
    for (std::size_t i = 0; i < len; ++i) {
        if (float_bits(out[i]) != d.want[start + i]) {
            log.add(ctx + " dequantize start " + std::to_string(start) + " length " + std::to_string(len) + " code " +
                    hex(bits_of(d.codes[start + i]), 4) + ": want " + hex(d.want[start + i], 8) + ", got " +
                    hex(float_bits(out[i]), 8));
            return;
        }
    }
}

template <class T>
void check_dequantize(const decode_case<T>& d, const std::string& ctx, failure_log& log, prng& rng) {
    std::vector<float> out(d.codes.size());
    for (std::size_t offset = 0; offset < 4; ++offset) check_dequantize_span<T>(d, offset, d.codes.size() - offset, out, ctx, log);
    for (std::size_t len = 1; len <= 40; ++len)
        for (int k = 0; k < 8; ++k) {
            const std::size_t start = k < 4 ? std::size_t(k) : rng.below(d.codes.size() - len + 1);
            check_dequantize_span<T>(d, start, len, out, ctx, log);
        }
}

template <class F>
void for_each_simd(F&& f) {
    for (const std::string& arch : fewbits::simd_architectures()) {
        fewbits::set_simd_architecture(arch);
        f(std::string("simd ") + arch);
    }
    fewbits::set_simd_architecture("best");
}

constexpr fewbits::overflow kOverflows[] = {fewbits::overflow::non_saturating, fewbits::overflow::saturate};

template <class T>
void check_encode_all(const char* name, std::size_t random_count) {
    const std::uint64_t seed = base_seed() ^ bits_of(T::from_bits(1));
    prng rng(seed);
    const std::vector<float> edges = boundary_inputs<T>(rng);
    const std::vector<float> randoms = random_inputs(random_count, rng);
    for (fewbits::overflow o : kOverflows) {
        const fewbits::policy p{fewbits::rounding::nearest_even, o};
        const std::vector<std::uint32_t> want_edges = expected_codes<T>(edges, p);
        const std::vector<std::uint32_t> want_randoms = expected_codes<T>(randoms, p);
        for_each_simd([&](const std::string& simd) {
            failure_log log;
            check_quantize<T>(edges, want_edges, p, simd + " " + name + " boundary inputs", log, rng);
            check_quantize<T>(randoms, want_randoms, p, simd + " " + name + " random inputs", log, rng);
            INFO("seed " << hex(seed, 16) << ", " << edges.size() << " boundary and " << randoms.size()
                         << " random inputs");
            FEWBITS_CHECK_CLEAN(log);
        });
    }
}

}  // namespace

TEST_CASE("quantize into FP16 with nearest-even gives convert's bits on every rounding boundary and 1M random floats, "
          "at every length 1..40 and unaligned starts",
          "[fast_paths][fp16]") {
    check_encode_all<fewbits::float16>("fp16", std::size_t(1) << 20);
}

TEST_CASE("quantize into BF16 with nearest-even gives convert's bits on every rounding boundary and 1M random floats, "
          "at every length 1..40 and unaligned starts",
          "[fast_paths][bf16]") {
    check_encode_all<fewbits::bfloat16>("bf16", std::size_t(1) << 20);
}

TEST_CASE("dequantize of every FP16, E5M2, E4M3 and E4M3 FNUZ code gives float(code) bit for bit, NaNs included",
          "[fast_paths][decode]") {
    prng rng(base_seed() ^ 0xDEC0DEull);
    for_each_simd([&](const std::string& simd) {
        failure_log log;
        check_dequantize(every_code<fewbits::float16>(rng), simd + " fp16", log, rng);
        check_dequantize(every_code<fewbits::float8_e5m2>(rng), simd + " e5m2", log, rng);
        check_dequantize(every_code<fewbits::float8_e4m3fn>(rng), simd + " e4m3fn", log, rng);
        check_dequantize(every_code<fewbits::float8_e4m3fnuz>(rng), simd + " e4m3fnuz", log, rng);
        FEWBITS_CHECK_CLEAN(log);
    });
}

// ---------------------------------------------------------------------------------------
// aarch64: FPCR and FPSR, and the NEON entries themselves.

#if FEWBITS_NEON_FAST_PATHS

namespace {

std::uint64_t get_fpcr() {
    std::uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v) : : "memory");
    return v;
}
void set_fpcr(std::uint64_t v) { __asm__ volatile("msr fpcr, %0" : : "r"(v) : "memory"); }
std::uint64_t get_fpsr() {
    std::uint64_t v;
    __asm__ volatile("mrs %0, fpsr" : "=r"(v) : : "memory");
    return v;
}
void set_fpsr(std::uint64_t v) { __asm__ volatile("msr fpsr, %0" : : "r"(v) : "memory"); }

struct fpcr_state {
    const char* name;
    std::uint64_t bits;
};
// Each bit that can change a conversion, alone and together.
constexpr fpcr_state kFpcrStates[] = {
    {"RMode=RP", 1u << 22}, {"RMode=RM", 2u << 22},   {"RMode=RZ", 3u << 22},         {"FZ", 1u << 24},
    {"FZ16", 1u << 19},     {"AHP", 1u << 26},        {"DN", 1u << 25},               {"FIZ", 1u << 0},
    {"AH", 1u << 1},        {"FZ+DN+AHP", 7u << 24},  {"RZ+FZ+FZ16+DN+AHP", (7u << 24) | (3u << 22) | (1u << 19)},
};

// Runs f with FPCR = bits (then back to the reset value); false if the CPU ignores one of the
// bits (FEAT_AFP's FIZ and AH read as zero without it), in which case f was not run.
template <class F>
bool with_fpcr(std::uint64_t bits, F&& f) {
    set_fpcr(bits);
    const bool took = get_fpcr() == bits;
    if (took) f();
    set_fpcr(0);
    return took;
}

template <class T>
struct encode_case {
    std::vector<float> in;
    std::vector<std::uint32_t> want[2];  // per overflow policy
};
template <class T>
encode_case<T> make_encode_case(prng& rng, std::size_t random_count) {
    encode_case<T> c;
    c.in = boundary_inputs<T>(rng);
    const std::vector<float> randoms = random_inputs(random_count, rng);
    c.in.insert(c.in.end(), randoms.begin(), randoms.end());
    for (int k = 0; k < 2; ++k) c.want[k] = expected_codes<T>(c.in, {fewbits::rounding::nearest_even, kOverflows[k]});
    return c;
}

// The kernels under FPCR = bits: every result must be the default environment's.
template <class T>
void check_encode_under(const encode_case<T>& c, const char* name, const fpcr_state& s, failure_log& log) {
    for (int k = 0; k < 2; ++k) {
        const fewbits::policy p{fewbits::rounding::nearest_even, kOverflows[k]};
        std::vector<T> out(c.in.size());
        for (std::size_t offset : {std::size_t(0), std::size_t(3)}) {
            const std::size_t len = c.in.size() - offset - 1;  // an odd tail
            if (!with_fpcr(s.bits, [&] {
                    fewbits::quantize<T>(std::span<const float>(c.in).subspan(offset, len), std::span<T>(out).first(len),
                                         p);
                })) {
                WARN("FPCR " << s.name << " is not implemented by this CPU: not checked");
                return;
            }
            for (std::size_t i = 0; i < len; ++i)
                if (bits_of(out[i]) != c.want[k][offset + i]) {
                    log.add(std::string("FPCR ") + s.name + " " + name + " " + policy_name(p.on_overflow) + " input " +
                            hex(float_bits(c.in[offset + i]), 8) + ": want " + hex(c.want[k][offset + i], 4) +
                            ", got " + hex(bits_of(out[i]), 4));
                    break;
                }
        }
    }
}

template <class T>
void check_decode_under(const decode_case<T>& d, const char* name, const fpcr_state& s, failure_log& log) {
    std::vector<float> out(d.codes.size());
    const std::size_t len = d.codes.size() - 1;
    if (!with_fpcr(s.bits, [&] {
            fewbits::dequantize<T>(std::span<const T>(d.codes).first(len), std::span<float>(out).first(len));
        }))
        return;  // reported by check_encode_under
    for (std::size_t i = 0; i < len; ++i)
        if (float_bits(out[i]) != d.want[i]) {
            log.add(std::string("FPCR ") + s.name + " " + name + " dequantize code " + hex(bits_of(d.codes[i]), 4) +
                    ": want " + hex(d.want[i], 8) + ", got " + hex(float_bits(out[i]), 8));
            return;
        }
}

// The fast path directly (entry point or loop), over in, against want.
// run does whole vectors of `width` elements.
template <class Run>
void check_direct(const std::vector<float>& in, const std::vector<std::uint32_t>& want, const std::string& ctx,
                  std::size_t width, Run&& run, failure_log& log) {
    std::vector<std::uint16_t> out(in.size(), 0xA5A5);
    const std::size_t done = run(in.data(), out.data(), in.size());
    if (done != in.size() / width * width)
        log.add(ctx + ": did " + std::to_string(done) + " of " + std::to_string(in.size()));
    for (std::size_t i = 0; i < done; ++i)
        if (out[i] != want[i]) {
            log.add(ctx + " input " + hex(float_bits(in[i]), 8) + ": want " + hex(want[i], 4) + ", got " + hex(out[i], 4));
            return;
        }
}

}  // namespace

TEST_CASE("aarch64: under every FPCR rounding mode, FZ, FZ16, AHP, DN, FIZ and AH the FP16/BF16 quantize and the "
          "FP16/FP8 dequantize kernels give the default environment's bits",
          "[fast_paths][fpcr]") {
    REQUIRE(get_fpcr() == 0);  // the test's own starting point: the reset value
    prng rng(base_seed() ^ 0xF9C8ull);
    const encode_case<fewbits::float16> fp16 = make_encode_case<fewbits::float16>(rng, std::size_t(1) << 20);
    const encode_case<fewbits::bfloat16> bf16 = make_encode_case<fewbits::bfloat16>(rng, std::size_t(1) << 20);
    const decode_case<fewbits::float16> d16 = every_code<fewbits::float16>(rng);
    const decode_case<fewbits::float8_e5m2> d52 = every_code<fewbits::float8_e5m2>(rng);
    const decode_case<fewbits::float8_e4m3fn> d43 = every_code<fewbits::float8_e4m3fn>(rng);
    const decode_case<fewbits::float8_e4m3fnuz> d43z = every_code<fewbits::float8_e4m3fnuz>(rng);
    for (const fpcr_state& s : kFpcrStates) {
        failure_log log;
        check_encode_under(fp16, "fp16", s, log);
        check_encode_under(bf16, "bf16", s, log);
        check_decode_under(d16, "fp16", s, log);
        check_decode_under(d52, "e5m2", s, log);
        check_decode_under(d43, "e4m3fn", s, log);
        check_decode_under(d43z, "e4m3fnuz", s, log);
        INFO("FPCR " << s.name << " (" << hex(s.bits, 8) << "), bf16 by " << (fewbits::detail::cpu_has_bf16() ? "BFCVTN" : "the core"));
        FEWBITS_CHECK_CLEAN(log);
    }
}

TEST_CASE("aarch64: the NEON entries take a block exactly when FPCR is at its reset value (BF16 only with FEAT_BF16), "
          "and leave FPSR's flags as they were",
          "[fast_paths][fpcr]") {
    namespace d = fewbits::detail;
    using fewbits::overflow;
    using fewbits::rounding;
    std::vector<float> in(64, 1e30f);  // overflows FP16: sets FPSR's overflow and inexact flags if left
    in[5] = float_from_bits(0x7F800001u);  // a signalling NaN: the invalid flag
    std::vector<std::uint16_t> out(in.size());
    std::vector<std::uint8_t> codes(64, 0x7D);  // E5M2 signalling NaN
    codes[3] = 0x7E;
    std::vector<float> back(64);
    std::size_t done = 0;
    CHECK(d::encode_neon<fewbits::binary16_format, rounding::nearest_even, overflow::saturate>(in.data(), out.data(), 64, done));
    CHECK(done == 64u);
    CHECK(d::encode_neon<fewbits::bfloat16_format, rounding::nearest_even, overflow::saturate>(in.data(), out.data(), 64, done) ==
          d::cpu_has_bf16());
    CHECK(d::decode_neon<fewbits::e5m2_format>(codes.data(), back.data(), 64, done));
    CHECK_FALSE(d::encode_neon<fewbits::binary16_format, rounding::stochastic, overflow::saturate>(in.data(), out.data(), 64, done));
    std::vector<std::uint8_t> bytes(64);
    CHECK_FALSE(d::encode_neon<fewbits::e4m3fn_format, rounding::nearest_even, overflow::saturate>(in.data(), bytes.data(), 64, done));
    CHECK_FALSE(d::decode_neon<fewbits::e5m2fnuz_format>(codes.data(), back.data(), 64, done));
    for (const fpcr_state& s : kFpcrStates) {
        bool fp16 = true, bf16 = true, dec = true;
        if (!with_fpcr(s.bits, [&] {
                fp16 = d::encode_neon<fewbits::binary16_format, rounding::nearest_even, overflow::saturate>(in.data(), out.data(), 64, done);
                bf16 = d::encode_neon<fewbits::bfloat16_format, rounding::nearest_even, overflow::saturate>(in.data(), out.data(), 64, done);
                dec = d::decode_neon<fewbits::e5m2_format>(codes.data(), back.data(), 64, done);
            }))
            continue;
        INFO("FPCR " << s.name);
        CHECK_FALSE(fp16);
        CHECK_FALSE(bf16);
        CHECK_FALSE(dec);
    }
    // FPSR: clear and all cumulative flags (IOC, DZC, OFC, UFC, IXC, IDC) stay as they were.
    for (std::uint64_t flags : {std::uint64_t(0), std::uint64_t(0x9F)}) {
        std::vector<fewbits::float16> h(in.size());
        std::vector<fewbits::bfloat16> b(in.size());
        std::vector<fewbits::float8_e5m2> e(codes.size());
        for (std::size_t i = 0; i < codes.size(); ++i) e[i] = fewbits::float8_e5m2::from_bits(codes[i]);
        set_fpsr(flags);
        fewbits::quantize<fewbits::float16>(in, h, {rounding::nearest_even, overflow::non_saturating});
        fewbits::quantize<fewbits::bfloat16>(in, b, {rounding::nearest_even, overflow::saturate});
        fewbits::dequantize<fewbits::float8_e5m2>(std::span<const fewbits::float8_e5m2>(e), back);
        const std::uint64_t after = get_fpsr();
        set_fpsr(0);
        INFO("FPSR set to " << hex(flags, 8));
        CHECK(after == flags);
    }
}

TEST_CASE("aarch64: the BF16 nearest-even loops, BFCVTN where the CPU has FEAT_BF16 and the core's lanes everywhere, "
          "give convert's bits, and FP16's FCVTN loop too",
          "[fast_paths][bf16_paths]") {
    namespace d = fewbits::detail;
    using fewbits::overflow;
    using fewbits::rounding;
    if (const char* e = std::getenv("FEWBITS_TEST_EXPECT_BF16")) {
        INFO("FEWBITS_TEST_EXPECT_BF16=" << e);
        REQUIRE(d::cpu_has_bf16() == (std::string(e) == "1"));
    }
    prng rng(base_seed() ^ 0xBF16ull);
    const encode_case<fewbits::bfloat16> bf16 = make_encode_case<fewbits::bfloat16>(rng, std::size_t(1) << 18);
    const encode_case<fewbits::float16> fp16 = make_encode_case<fewbits::float16>(rng, std::size_t(1) << 18);
    failure_log log;
    auto lanes = [](auto overflow_constant) {
        return [](const float* in, std::uint16_t* out, std::size_t n) {
            return d::encode_lanes<d::simd::u32, fewbits::bfloat16_format, rounding::nearest_even,
                                   decltype(overflow_constant)::value>(in, out, nullptr, n, 0u);
        };
    };
    check_direct(bf16.in, bf16.want[0], "bf16 core lanes non_saturating", d::simd::u32::size,
                 lanes(std::integral_constant<overflow, overflow::non_saturating>{}), log);
    check_direct(bf16.in, bf16.want[1], "bf16 core lanes saturate", d::simd::u32::size,
                 lanes(std::integral_constant<overflow, overflow::saturate>{}), log);
    check_direct(fp16.in, fp16.want[0], "fp16 FCVTN non_saturating", 16, d::fp16_rne_neon<overflow::non_saturating>, log);
    check_direct(fp16.in, fp16.want[1], "fp16 FCVTN saturate", 16, d::fp16_rne_neon<overflow::saturate>, log);
    if (d::cpu_has_bf16()) {
        check_direct(bf16.in, bf16.want[0], "bf16 BFCVTN non_saturating", 16, d::bf16_rne_neon<overflow::non_saturating>, log);
        check_direct(bf16.in, bf16.want[1], "bf16 BFCVTN saturate", 16, d::bf16_rne_neon<overflow::saturate>, log);
    } else {
        WARN("this CPU has no FEAT_BF16: BFCVTN not checked here (qemu -cpu max has it)");
    }
    FEWBITS_CHECK_CLEAN(log);
}

#endif  // FEWBITS_NEON_FAST_PATHS
