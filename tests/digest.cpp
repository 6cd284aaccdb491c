// Cross-ISA digest: runs a fixed workload through every bulk kernel (quantize,
// fake_quantize, dequantize, sgd_update, quantize_int8, dequantize_int8) and the random
// generators, for every format, mode and overflow policy, stochastic rounding with 32 and
// 7 random bits and both generators, and folds every output into one 64-bit FNV-1a digest.
// CI builds it for SSE2, AVX2, AVX-512, NEON and without SIMD; the digests must be equal,
// because every result depends only on (inputs, format, policy, seed, offset).
//
// Nothing here may depend on the platform: inputs come from an integer hash (no std::
// distributions, whose output differs between standard libraries), outputs are folded as
// integers byte by byte in a fixed order (not as memory, so endianness cannot matter), and
// no float is ever printed. The sgd_update inputs never make fma create a NaN (inf - inf,
// 0 * inf) nor meet two NaNs: which NaN comes out then differs between x86 and ARM.
// Prints exactly one line, "digest: <16 hex digits>", and returns 0, after computing it once
// per instruction set the kernels can run here (run-time dispatch): each must give it.
// With --generator=counter_hash_packed it digests instead a workload of the version-2
// generator (counter_hash_packed; SR with 1, 7, 8, 9, 12, 16 and 32 random bits through
// quantize, fake_quantize, sgd_update, sgd_momentum_update, adamw_update and quantize_int8,
// and its words): the generator's own pinned digest (tests/CMakeLists.txt).
#include <fewbits/fewbits.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kLength = 10007;

struct fnv1a {
    std::uint64_t h = 0xCBF29CE484222325ull;
    void byte(std::uint8_t b) {
        h ^= b;
        h *= 0x100000001B3ull;
    }
    void u8(std::uint32_t v) { byte(static_cast<std::uint8_t>(v)); }
    void u16(std::uint32_t v) {  // low byte first, whatever the machine's byte order
        byte(static_cast<std::uint8_t>(v));
        byte(static_cast<std::uint8_t>(v >> 8));
    }
    void u32(std::uint32_t v) {
        for (int k = 0; k < 32; k += 8) byte(static_cast<std::uint8_t>(v >> k));
    }
    void u64(std::uint64_t v) {
        for (int k = 0; k < 64; k += 8) byte(static_cast<std::uint8_t>(v >> k));
    }
    void f32(float x) {
        std::uint32_t v;
        std::memcpy(&v, &x, sizeof v);
        u32(v);
    }
};

std::uint64_t mix(std::uint64_t z) {  // splitmix64 finaliser
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float from_bits(std::uint32_t v) {
    float x;
    std::memcpy(&x, &v, sizeof x);
    return x;
}
std::uint32_t to_bits(float x) {
    std::uint32_t v;
    std::memcpy(&v, &x, sizeof v);
    return v;
}

// Inputs chosen to sit on the boundaries of the formats: zeros, float limits, infinities,
// NaNs (quiet, signalling, payloads), the formats' max and the ties next to it, ties into
// the subnormals and across carries.
const std::uint32_t kBoundary[] = {
    0x00000000u, 0x00000001u, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x7F800000u, 0x7FC00000u,
    0x7FC00001u, 0x7F800001u, 0x7FA00000u, 0x7FFFFFFFu, 0x7FE12345u,
    0x43E00000u /* 448 */, 0x43E80000u /* 464 */, 0x43E88000u /* 465 */, 0x43F00000u /* 480 */,
    0x43700000u /* 240 */, 0x43780000u /* 248 */, 0x47600000u /* 57344 */, 0x47700000u /* 61440 */,
    0x477FE000u /* 65504 */, 0x477FF000u /* 65520 */, 0x41E00000u /* 28 */, 0x41F00000u /* 30 */,
    0x40F00000u /* 7.5 */, 0x40C00000u /* 6 */, 0x40E00000u /* 7 */, 0x40A00000u /* 5 */,
    0x40200000u /* 2.5 */, 0x3F400000u /* 0.75 */, 0x3E800000u /* 0.25 */, 0x43000000u /* 128 */,
    0x43400000u /* 192 */, 0x43410000u /* 193 */, 0x43800000u /* 256 */, 0x3F880000u /* 1.0625 */,
    0x3F980000u /* 1.1875 */, 0x3B000000u /* 2^-9 */, 0x3A800000u /* 2^-10 */, 0x3B400000u /* 3*2^-10 */,
    0x37800000u /* 2^-16 */, 0x37000000u /* 2^-17 */, 0x33800000u /* 2^-24 */, 0x33000000u /* 2^-25 */,
    0x3F801000u /* 1 + 2^-11 */, 0x3F803000u /* 1 + 3*2^-11 */, 0x3F808000u /* bf16 tie */,
    0x3F818000u /* bf16 tie, odd */, 0x7F7F8000u /* bf16 tie at max */, 0x7F7F7FFFu, 0x3C800000u /* 2^-6 */,
    0x3C000000u /* 2^-7 */, 0x38800000u /* 2^-14 */, 0x387FC000u /* fp16 carry tie */,
    0x00040000u /* 2^-131 */, 0x00010000u /* 2^-133 */, 0x00008000u /* 2^-134 */, 0x00018000u,
    0x3F7FFFFFu /* just below 1 */, 0x3FFFFFFFu /* just below 2 */, 0x477FEFFFu, 0x43E7FFFFu,
};

// The fixed input: the boundary values with both signs, then hashed values: raw bit
// patterns, log-uniform magnitudes (2^-160 .. 2^130) and short dyadic numbers (ties).
std::vector<float> make_input() {
    std::vector<float> v;
    v.reserve(kLength);
    for (std::uint32_t b : kBoundary) {
        v.push_back(from_bits(b));
        v.push_back(from_bits(b ^ 0x80000000u));
    }
    for (std::uint64_t i = v.size(); v.size() < kLength; ++i) {
        const std::uint64_t h = mix(i * 0x2545F4914F6CDD1Dull + 0xF00D);
        const std::uint32_t hi = static_cast<std::uint32_t>(h >> 32);
        const std::uint32_t sign = static_cast<std::uint32_t>(h >> 63) << 31;
        std::uint32_t bits;
        switch (h % 8) {
        case 0: bits = hi; break;
        case 1:
        case 2:
        case 3:
        case 4: {
            const int e = -160 + static_cast<int>((h >> 8) % 291);  // exponent in [-160, 130]
            const std::uint32_t significand = 0x800000u | (hi & 0x7FFFFFu);
            if (e >= -126) {
                // exact (or inf above float's range): an integer of 24 bits scaled by a power of two
                bits = to_bits(std::ldexp(static_cast<float>(significand), e - 23));
            } else {
                // float subnormal or zero, truncated in integer arithmetic (no library rounding)
                const int sh = -126 - e;
                bits = sh >= 24 ? 0u : significand >> sh;
            }
            break;
        }
        default: {
            // k / 2^j with k < 2^12, j in [0, 24): ties and short fractions of many formats
            const float k = static_cast<float>(hi >> 20);
            bits = to_bits(std::ldexp(k, -static_cast<int>((h >> 4) % 24)));
            break;
        }
        }
        v.push_back(from_bits(sign | (bits & 0x7FFFFFFFu)));
    }
    return v;
}

struct sr_setting {
    int random_bits;
    fewbits::generator gen;
};

// Streams: counters crossing 2^32, wrapping past 2^64, and plain.
fewbits::stream stream_for(int k, fewbits::generator gen) {
    static const std::uint64_t offsets[] = {0, (std::uint64_t{1} << 32) - 5000, std::uint64_t{0} - 3000, 123456789};
    return fewbits::stream{0xF3B1D16E57ull + static_cast<std::uint64_t>(k) * 0x9E3779B97F4A7C15ull,
                           offsets[k % 4], gen};
}

template <class T>
void fold(fnv1a& d, std::span<const T> v) {
    for (const T& t : v) {
        if constexpr (sizeof(typename T::storage_type) == 1) d.u8(t.bits());
        else d.u16(t.bits());
    }
}

void fold(fnv1a& d, std::span<const float> v) {
    for (float x : v) d.f32(x);
}

template <class T>
void format_workload(fnv1a& d, const std::vector<float>& in, int& k) {
    using S = typename T::storage_type;
    const std::size_t n = in.size();
    std::vector<T> q(n);
    std::vector<float> f(n);

    // dequantize: every encoding, then the nearest-even quantization of the input
    const std::uint32_t codes = 1u << T::format_type::total_bits;
    std::vector<T> all(codes);
    for (std::uint32_t c = 0; c < codes; ++c) all[c] = T::from_bits(static_cast<S>(c));
    std::vector<float> fall(codes);
    fewbits::dequantize<T>(all, fall);
    fold(d, std::span<const float>(fall));
    std::vector<T> w0(n);
    fewbits::quantize<T>(in, std::span<T>(w0));
    fewbits::dequantize<T>(w0, f);
    fold(d, std::span<const float>(f));

    // sgd_update gradients: the input shuffled, with no inf (so fma never computes inf - inf
    // or 0 * inf) and no NaN where the weight is NaN (so fma never meets two NaNs)
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) {
        float x = in[(i * 7 + 3) % n];
        const float w = static_cast<float>(w0[i]);
        if (std::isinf(x)) x = std::signbit(x) ? -3.0e38f : 3.0e38f;
        if (std::isnan(x) && std::isnan(w)) x = 1.5f;
        g[i] = x;
    }

    std::vector<fewbits::policy> policies;
    std::vector<fewbits::generator> gens;
    for (int mode = 0; mode <= 6; ++mode)
        for (fewbits::overflow ov : {fewbits::overflow::non_saturating, fewbits::overflow::saturate}) {
            fewbits::policy p;
            p.mode = static_cast<fewbits::rounding>(mode);
            p.on_overflow = ov;
            if (p.mode != fewbits::rounding::stochastic) {
                policies.push_back(p);
                gens.push_back(fewbits::generator::counter_hash);
                continue;
            }
            for (sr_setting s : {sr_setting{32, fewbits::generator::counter_hash}, sr_setting{32, fewbits::generator::philox},
                                 sr_setting{7, fewbits::generator::counter_hash}, sr_setting{7, fewbits::generator::philox}}) {
                p.random_bits = s.random_bits;
                policies.push_back(p);
                gens.push_back(s.gen);
            }
        }
    for (std::size_t c = 0; c < policies.size(); ++c) {
        const fewbits::policy& p = policies[c];
        const fewbits::stream s = stream_for(k++, gens[c]);
        fewbits::quantize<T>(in, std::span<T>(q), p, s);
        fold(d, std::span<const T>(q));
        fewbits::fake_quantize<T>(in, std::span<float>(f), p, s);
        fold(d, std::span<const float>(f));
        std::vector<T> w = w0;
        fewbits::sgd_update<T>(std::span<T>(w), g, 0.375f, p, s);
        fold(d, std::span<const T>(w));
    }
}

void int8_workload(fnv1a& d, int& k) {
    const float scales[] = {0.0123f, 1.0f, 3e-39f /* subnormal */, 1e30f};
    std::vector<std::int8_t> q(kLength);
    std::vector<float> f(kLength);
    std::vector<std::int8_t> all(256);
    for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(i - 128);
    std::vector<float> fall(256);
    for (float scale : scales) {
        // |x| / scale mostly in [0, 140), as k / 64 with k hashed, plus the shared boundary values
        std::vector<float> in(kLength);
        std::size_t i = 0;
        for (std::uint32_t b : kBoundary) {
            in[i++] = from_bits(b);
            in[i++] = from_bits(b ^ 0x80000000u);
        }
        for (; i < kLength; ++i) {
            const std::uint64_t h = mix(i * 0x9E3779B97F4A7C15ull + to_bits(scale));
            const int kk = static_cast<int>(h % (2 * 140 * 64 + 1)) - 140 * 64;
            in[i] = std::ldexp(static_cast<float>(kk), -6) * scale;
        }
        fewbits::dequantize_int8(all, fall, scale);
        fold(d, std::span<const float>(fall));
        for (int mode = 0; mode <= 6; ++mode)
            for (fewbits::int8_range range : {fewbits::int8_range::symmetric, fewbits::int8_range::full}) {
                fewbits::policy p;
                p.mode = static_cast<fewbits::rounding>(mode);
                p.int8 = range;
                const bool sr = p.mode == fewbits::rounding::stochastic;
                for (sr_setting s : {sr_setting{32, fewbits::generator::counter_hash}, sr_setting{32, fewbits::generator::philox},
                                     sr_setting{7, fewbits::generator::counter_hash}, sr_setting{7, fewbits::generator::philox}}) {
                    if (!sr && (s.random_bits != 32 || s.gen != fewbits::generator::counter_hash)) continue;
                    p.random_bits = s.random_bits;
                    for (fewbits::overflow ov : {fewbits::overflow::non_saturating, fewbits::overflow::saturate}) {
                        p.on_overflow = ov;
                        fewbits::quantize_int8(in, std::span<std::int8_t>(q), scale, p, stream_for(k++, s.gen));
                        for (std::int8_t v : q) d.u8(static_cast<std::uint8_t>(v));
                    }
                }
            }
        fewbits::dequantize_int8(q, f, scale);
        fold(d, std::span<const float>(f));
    }
}

void random_workload(fnv1a& d) {
    for (fewbits::generator gen : {fewbits::generator::counter_hash, fewbits::generator::philox}) {
        for (std::uint64_t c = 0; c < 4096; ++c) {
            d.u32(fewbits::random_word(gen, 0, c));
            d.u32(fewbits::random_word(gen, mix(c), std::uint64_t{0} - 2048 + c));
            d.u32(fewbits::random_word(gen, 0x123456789ABCDEFull, mix(c + 77)));
        }
        fewbits::stream parent{0xABCDEFull, 42, gen};
        for (std::uint64_t id = 0; id < 64; ++id) {
            const fewbits::stream child = fewbits::derive(parent, id);
            d.u64(child.seed);
            d.u64(child.offset);
            d.u8(child.rng == fewbits::generator::philox ? 1u : 0u);
            d.u32(fewbits::random_word(child.rng, child.seed, child.offset));
            parent = child;
        }
    }
    for (std::uint64_t c = 0; c < 1024; ++c) d.u32(fewbits::random_word(mix(c), c));
}

// The block-scaled formats: MX (E4M3, E2M1 packed, INT8) under each scale rule, nearest-even
// and SR with 8 bits, NVFP4 in both chains, and the Hadamard transform.
void block_workload(fnv1a& d, const std::vector<float>& all) {
    const std::span<const float> in(all.data(), all.size() / 32 * 32);
    std::vector<fewbits::float8_e4m3fn> q(in.size());
    std::vector<std::int8_t> qi(in.size());
    std::vector<std::uint8_t> packed(in.size() / 2);
    std::vector<fewbits::float8_e8m0fnu> scales(in.size() / 32);
    std::vector<fewbits::float8_e4m3fn> nv(in.size() / 16);
    std::vector<float> out(in.size());
    for (auto rule : {fewbits::mx_scale_rule::floor, fewbits::mx_scale_rule::rceil, fewbits::mx_scale_rule::even})
        for (fewbits::policy p : {fewbits::policy{fewbits::rounding::nearest_even, fewbits::overflow::saturate},
                                  fewbits::policy{fewbits::rounding::stochastic, fewbits::overflow::saturate, 8}}) {
            const fewbits::mx_options o{rule, p, 0.75f};
            fewbits::mx_quantize<fewbits::float8_e4m3fn>(in, q, scales, o, {5, 9});
            fewbits::mx_dequantize<fewbits::float8_e4m3fn>(q, scales, out);
            fold(d, std::span<const float>(out));
            fewbits::mxfp4_quantize(in, packed, scales, o, {6, 9});
            fewbits::mxfp4_dequantize(packed, scales, out);
            fold(d, std::span<const float>(out));
            fewbits::mx_quantize<std::int8_t>(in, qi, scales, o, {7, 9});
            fewbits::mx_dequantize<std::int8_t>(qi, scales, out);
            fold(d, std::span<const float>(out));
        }
    for (auto chain : {fewbits::nvfp4_scale_rule::transformer_engine, fewbits::nvfp4_scale_rule::torchao}) {
        fewbits::nvfp4_options o;
        o.scale = chain;
        o.elements = {fewbits::rounding::stochastic, fewbits::overflow::saturate, 8};
        const float t = fewbits::nvfp4_quantize(in, packed, nv, o, {8, 0});
        fewbits::nvfp4_dequantize(packed, nv, t, out);
        fold(d, std::span<const float>(out));
    }
    std::vector<float> h(in.begin(), in.begin() + 4096);
    for (float& x : h) x = std::isfinite(x) ? x * 1e-30f : 0.0f;
    fewbits::random_hadamard_transform(h, 1024, 64, {9, 0});
    fold(d, std::span<const float>(h));
}

// The version-2 generator's workload: streams at offsets 0, unaligned, and just before the
// places where its base counters cross 2^32 (counter 2^34 for 8-bit slices, 2^33 for 16-bit)
// and where counters wrap past 2^64.
template <class T>
void packed_format_workload(fnv1a& d, const std::vector<float>& in, int& k) {
    static const std::uint64_t offsets[] = {0, 77, (std::uint64_t{1} << 34) - 5003, (std::uint64_t{1} << 33) - 4099,
                                            std::uint64_t{0} - 3001};
    const std::size_t n = in.size();
    std::vector<T> q(n), w0(n);
    std::vector<float> f(n), g(n), vel(n);
    fewbits::quantize<T>(in, std::span<T>(w0));
    for (std::size_t i = 0; i < n; ++i) {
        float x = in[(i * 7 + 3) % n];  // finite gradients, no NaN against a NaN weight
        if (!std::isfinite(x)) x = 1.5f;
        g[i] = x;
        vel[i] = in[(i * 11 + 5) % n];
        if (!std::isfinite(vel[i])) vel[i] = -0.25f;
    }
    for (int r : {1, 7, 8, 9, 12, 16, 32})
        for (fewbits::overflow ov : {fewbits::overflow::non_saturating, fewbits::overflow::saturate}) {
            fewbits::policy p;
            p.mode = fewbits::rounding::stochastic;
            p.on_overflow = ov;
            p.random_bits = r;
            const fewbits::stream s{0x5EEDull + static_cast<std::uint64_t>(k) * 0x9E3779B97F4A7C15ull,
                                    offsets[static_cast<std::size_t>(k) % 5], fewbits::generator::counter_hash_packed};
            ++k;
            fewbits::quantize<T>(in, std::span<T>(q), p, s);
            fold(d, std::span<const T>(q));
            fewbits::fake_quantize<T>(in, std::span<float>(f), p, s);
            fold(d, std::span<const float>(f));
            std::vector<T> w = w0;
            fewbits::sgd_update<T>(std::span<T>(w), g, 0.375f, p, s);
            fold(d, std::span<const T>(w));
            w = w0;
            std::vector<float> v = vel;
            fewbits::sgd_momentum_update<T, float>(std::span<T>(w), std::span<float>(v), g, 0.125f, 0.875f, p, s);
            fold(d, std::span<const T>(w));
            fold(d, std::span<const float>(v));
        }
}

std::uint64_t packed_digest() {
    fnv1a d;
    const std::vector<float> in = make_input();
    fold(d, std::span<const float>(in));
    int k = 0;
    packed_format_workload<fewbits::float8_e4m3fn>(d, in, k);
    packed_format_workload<fewbits::float8_e5m2>(d, in, k);
    packed_format_workload<fewbits::float16>(d, in, k);
    packed_format_workload<fewbits::bfloat16>(d, in, k);
    // AdamW with BF16 weights and moments (finite, small inputs: no NaN meets another).
    {
        const std::size_t n = in.size();
        std::vector<fewbits::bfloat16> w(n), m(n), v(n);
        std::vector<float> g(n);
        for (std::size_t i = 0; i < n; ++i) {
            const float x = std::isfinite(in[i]) ? std::fmod(in[i], 64.0f) : 0.5f;
            w[i] = fewbits::bfloat16(x);
            m[i] = fewbits::bfloat16(x * 0.01f);
            v[i] = fewbits::bfloat16(std::fabs(x) * 1e-3f);
            g[i] = std::isfinite(in[(i * 5 + 1) % n]) ? std::fmod(in[(i * 5 + 1) % n], 8.0f) : -1.0f;
        }
        for (int r : {8, 16}) {
            fewbits::policy p;
            p.mode = fewbits::rounding::stochastic;
            p.random_bits = r;
            fewbits::adamw_update<fewbits::bfloat16, fewbits::bfloat16>(
                std::span<fewbits::bfloat16>(w), std::span<fewbits::bfloat16>(m), std::span<fewbits::bfloat16>(v), g,
                {}, 3, p, fewbits::stream{0xADA3ull + static_cast<std::uint64_t>(r), 1000, fewbits::generator::counter_hash_packed});
            fold(d, std::span<const fewbits::bfloat16>(w));
            fold(d, std::span<const fewbits::bfloat16>(m));
            fold(d, std::span<const fewbits::bfloat16>(v));
        }
    }
    // INT8 SR with 8 and 16 random bits.
    {
        std::vector<std::int8_t> q(in.size());
        for (int r : {8, 16}) {
            fewbits::policy p;
            p.mode = fewbits::rounding::stochastic;
            p.random_bits = r;
            fewbits::quantize_int8(in, std::span<std::int8_t>(q), 0.0123f, p,
                                   fewbits::stream{0x1E7ull + static_cast<std::uint64_t>(r), 5, fewbits::generator::counter_hash_packed});
            for (std::int8_t x : q) d.u8(static_cast<std::uint8_t>(x));
        }
    }
    // The words themselves, one at a time and in bulk.
    std::vector<std::uint32_t> words(3001);
    for (int r : {1, 8, 9, 16, 17}) {
        for (std::uint64_t c = 0; c < 1024; ++c) {
            d.u32(fewbits::random_word(fewbits::generator::counter_hash_packed, mix(c), c, r));
            d.u32(fewbits::random_word(fewbits::generator::counter_hash_packed, 7, std::uint64_t{0} - 512 + c, r));
        }
        fewbits::fill_random_words({0xF111ull, (std::uint64_t{1} << 34) - 1500, fewbits::generator::counter_hash_packed},
                                   words, r);
        for (std::uint32_t x : words) d.u32(x);
    }
    return d.h;
}

std::uint64_t digest() {
    fnv1a d;
    const std::vector<float> in = make_input();
    fold(d, std::span<const float>(in));  // the input itself: a changed input must change the digest
    int k = 0;
    format_workload<fewbits::float8_e4m3fn>(d, in, k);
    format_workload<fewbits::float8_e5m2>(d, in, k);
    format_workload<fewbits::float16>(d, in, k);
    format_workload<fewbits::bfloat16>(d, in, k);
    format_workload<fewbits::float8_e4m3fnuz>(d, in, k);
    format_workload<fewbits::float8_e5m2fnuz>(d, in, k);
    format_workload<fewbits::float6_e3m2fn>(d, in, k);
    format_workload<fewbits::float6_e2m3fn>(d, in, k);
    format_workload<fewbits::float4_e2m1fn>(d, in, k);
    format_workload<fewbits::minifloat<fewbits::format<4, 0, fewbits::encoding::fn>>>(d, in, k);
    format_workload<fewbits::minifloat<fewbits::format<4, 1, fewbits::encoding::ieee>>>(d, in, k);
    int8_workload(d, k);
    random_workload(d);
    block_workload(d, in);
    return d.h;
}

}  // namespace

// The digest once per instruction set this process runs (fewbits::simd_architectures: scalar
// and every dispatched target up to the CPU's best). All must be equal; each is listed on
// stderr, and a difference fails the program.
int main(int argc, char** argv) {
    bool packed = false;
    if (argc == 2 && std::strcmp(argv[1], "--generator=counter_hash_packed") == 0) {
        packed = true;
    } else if (argc != 1) {
        std::fprintf(stderr, "usage: fewbits_digest [--generator=counter_hash_packed]\n");
        return 2;
    }
    std::uint64_t first = 0;
    bool same = true;
    const std::vector<std::string> archs = fewbits::simd_architectures();
    for (std::size_t a = 0; a < archs.size(); ++a) {
        fewbits::set_simd_architecture(archs[a]);
        const std::uint64_t h = packed ? packed_digest() : digest();
        std::fprintf(stderr, "digest[%s]: %016llx\n", archs[a].c_str(), static_cast<unsigned long long>(h));
        if (a == 0) first = h;
        same = same && h == first;
    }
    if (!same) {
        std::printf("digest: differs between instruction sets (see stderr)\n");
        return 1;
    }
    std::printf("digest: %016llx\n", static_cast<unsigned long long>(first));
    return 0;
}
