// Built by build_flags.sh once per (compiler, -O level, -march) with -Wall -Wextra -Werror:
// a user's program that calls every bulk kernel (stream and caller-words overloads) must compile warning-free however it is
// built, and every result must equal the scalar core (convert, convert_int8), element by
// element. Exits 1 with the first mismatch, 0 when everything agrees.
#include <fewbits/fewbits.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace {

int failures = 0;

void fail(const char* kernel, const char* format, std::size_t i, unsigned got, unsigned want)
{
    if (failures++ < 10)
        std::printf("MISMATCH %s<%s> at element %zu: got 0x%X, convert gives 0x%X\n", kernel, format, i, got, want);
}

std::uint32_t bits_of(float x)
{
    std::uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}

// Inputs with every kind of value: zeros, subnormals, normals of many binades, ties, values
// beyond each format's max, infinities and NaNs. 203 elements: odd, so every SIMD width
// leaves a tail.
std::vector<float> inputs()
{
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 448.0f, 464.0f, 465.0f, 57344.0f, 65504.0f, 65520.0f,
                            1e-40f, -1e-45f, 3e38f, -3e38f, INFINITY, -INFINITY, NAN, -NAN, 0.3f, 1.0625f};
    std::uint64_t h = 0x9E3779B97F4A7C15ull;
    while (v.size() < 203) {
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        const int e = static_cast<int>(h % 48) - 24;
        v.push_back(std::ldexp(static_cast<float>((h >> 8) % 4096) / 4096.0f + 0.5f, e) * ((h >> 40) & 1 ? -1.0f : 1.0f));
    }
    return v;
}

template <class T>
void check_format(const char* name, const std::vector<float>& in)
{
    const std::size_t n = in.size();
    const fewbits::stream s{0xC0FFEE, 77};
    std::vector<std::uint32_t> words(n);
    fewbits::fill_random_words(s, words);
    for (std::size_t i = 0; i < n; ++i)
        if (words[i] != fewbits::random_word(s.seed, s.offset + i)) fail("fill_random_words", name, i, words[i], 0);

    for (fewbits::rounding mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic}) {
        const fewbits::policy p{mode, fewbits::overflow::saturate, 32, fewbits::int8_range::symmetric};
        auto want = [&](float x, std::size_t i) { return fewbits::convert<T>(x, p, words[i]); };

        std::vector<T> q(n);
        fewbits::quantize<T>(in, std::span<T>(q), p, s);
        for (std::size_t i = 0; i < n; ++i)
            if (q[i].bits() != want(in[i], i).bits()) fail("quantize", name, i, q[i].bits(), want(in[i], i).bits());

        // The caller-supplied words overloads (here the stream's own words, and other words).
        std::vector<T> qw(n);
        fewbits::quantize<T>(in, std::span<T>(qw), p, words);
        for (std::size_t i = 0; i < n; ++i)
            if (qw[i].bits() != want(in[i], i).bits()) fail("quantize(words)", name, i, qw[i].bits(), want(in[i], i).bits());
        std::vector<std::uint32_t> other(n);
        fewbits::fill_random_words({99, 1}, other);
        fewbits::quantize<T>(in, std::span<T>(qw), p, other);
        for (std::size_t i = 0; i < n; ++i) {
            const T expect = fewbits::convert<T>(in[i], p, other[i]);
            if (qw[i].bits() != expect.bits()) fail("quantize(other words)", name, i, qw[i].bits(), expect.bits());
        }

        std::vector<float> f(n);
        fewbits::fake_quantize<T>(in, f, p, other);
        for (std::size_t i = 0; i < n; ++i) {
            const float expect = static_cast<float>(fewbits::convert<T>(in[i], p, other[i]));
            if (bits_of(f[i]) != bits_of(expect)) fail("fake_quantize(words)", name, i, bits_of(f[i]), bits_of(expect));
        }
        fewbits::dequantize<T>(q, f);
        for (std::size_t i = 0; i < n; ++i)
            if (bits_of(f[i]) != bits_of(static_cast<float>(q[i])))
                fail("dequantize", name, i, bits_of(f[i]), bits_of(static_cast<float>(q[i])));

        fewbits::fake_quantize<T>(in, f, p, s);
        for (std::size_t i = 0; i < n; ++i)
            if (bits_of(f[i]) != bits_of(static_cast<float>(want(in[i], i))))
                fail("fake_quantize", name, i, bits_of(f[i]), bits_of(static_cast<float>(want(in[i], i))));

        // The gradient: the input reversed, finite (no inf - inf inside fma).
        std::vector<float> g(n);
        for (std::size_t i = 0; i < n; ++i) g[i] = std::isfinite(in[n - 1 - i]) ? in[n - 1 - i] : 2.0f;
        const float lr = 0.375f;
        std::vector<T> w = q;
        fewbits::sgd_update<T>(std::span<T>(w), g, lr, p, s);
        for (std::size_t i = 0; i < n; ++i) {
            const T expect = want(std::fma(-lr, g[i], static_cast<float>(q[i])), i);
            if (w[i].bits() != expect.bits()) fail("sgd_update", name, i, w[i].bits(), expect.bits());
        }

        std::vector<T> ww = q;
        fewbits::sgd_update<T>(std::span<T>(ww), g, lr, p, other);
        for (std::size_t i = 0; i < n; ++i) {
            const T expect = fewbits::convert<T>(std::fma(-lr, g[i], static_cast<float>(q[i])), p, other[i]);
            if (ww[i].bits() != expect.bits()) fail("sgd_update(words)", name, i, ww[i].bits(), expect.bits());
        }

        // Momentum with a float velocity (exact) and with a bfloat16 velocity (rounded with the
        // velocity stream's words).
        const float mu = 0.875f;
        std::vector<T> wm = q;
        std::vector<float> vf(g.begin(), g.end());
        fewbits::sgd_momentum_update<T, float>(std::span<T>(wm), std::span<float>(vf), g, lr, mu, p, s);
        for (std::size_t i = 0; i < n; ++i) {
            const float v = std::fma(mu, g[i], g[i]);
            const T expect = want(std::fma(-lr, v, static_cast<float>(q[i])), i);
            if (bits_of(vf[i]) != bits_of(v)) fail("sgd_momentum_update velocity", name, i, bits_of(vf[i]), bits_of(v));
            if (wm[i].bits() != expect.bits()) fail("sgd_momentum_update", name, i, wm[i].bits(), expect.bits());
        }
        std::vector<T> wb = q;
        std::vector<fewbits::bfloat16> vb(n);
        fewbits::quantize<fewbits::bfloat16>(g, std::span<fewbits::bfloat16>(vb));
        const std::vector<fewbits::bfloat16> vb0 = vb;
        fewbits::sgd_momentum_update<T, fewbits::bfloat16>(std::span<T>(wb), std::span<fewbits::bfloat16>(vb), g, lr,
                                                           mu, p, s);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t vword = fewbits::random_word(fewbits::velocity_seed(s), s.offset + i);
            const fewbits::bfloat16 v =
                fewbits::convert<fewbits::bfloat16>(std::fma(mu, static_cast<float>(vb0[i]), g[i]), p, vword);
            const T expect = want(std::fma(-lr, static_cast<float>(v), static_cast<float>(q[i])), i);
            if (vb[i].bits() != v.bits()) fail("sgd_momentum_update bf16 velocity", name, i, vb[i].bits(), v.bits());
            if (wb[i].bits() != expect.bits()) fail("sgd_momentum_update bf16", name, i, wb[i].bits(), expect.bits());
        }
        // The words overload: words for the weights, velocity_words for the bf16 velocity.
        std::vector<T> wbw = q;
        std::vector<fewbits::bfloat16> vbw = vb0;
        fewbits::sgd_momentum_update<T, fewbits::bfloat16>(std::span<T>(wbw), std::span<fewbits::bfloat16>(vbw), g, lr,
                                                           mu, p, other, words);
        for (std::size_t i = 0; i < n; ++i) {
            const fewbits::bfloat16 v =
                fewbits::convert<fewbits::bfloat16>(std::fma(mu, static_cast<float>(vb0[i]), g[i]), p, words[i]);
            const T expect = fewbits::convert<T>(std::fma(-lr, static_cast<float>(v), static_cast<float>(q[i])), p, other[i]);
            if (vbw[i].bits() != v.bits()) fail("sgd_momentum_update(words) velocity", name, i, vbw[i].bits(), v.bits());
            if (wbw[i].bits() != expect.bits()) fail("sgd_momentum_update(words)", name, i, wbw[i].bits(), expect.bits());
        }
        std::vector<T> wfw = q;
        std::vector<float> vfw(g.begin(), g.end());
        fewbits::sgd_momentum_update<T, float>(std::span<T>(wfw), std::span<float>(vfw), g, lr, mu, p, other);
        for (std::size_t i = 0; i < n; ++i) {
            const T expect = fewbits::convert<T>(std::fma(-lr, std::fma(mu, g[i], g[i]), static_cast<float>(q[i])), p, other[i]);
            if (wfw[i].bits() != expect.bits()) fail("sgd_momentum_update(words) float", name, i, wfw[i].bits(), expect.bits());
        }
    }
}

void check_int8(const std::vector<float>& in)
{
    const std::size_t n = in.size();
    const fewbits::stream s{0xBEEF, 5};
    std::vector<std::uint32_t> words(n);
    fewbits::fill_random_words(s, words);
    for (float scale : {0.015625f, 0.013f}) {
        for (fewbits::rounding mode : {fewbits::rounding::nearest_even, fewbits::rounding::stochastic}) {
            const fewbits::policy p{mode};
            std::vector<std::int8_t> q(n);
            fewbits::quantize_int8(in, std::span<std::int8_t>(q), scale, p, s);
            for (std::size_t i = 0; i < n; ++i) {
                const std::int8_t want = fewbits::convert_int8(in[i], scale, p, words[i]);
                if (q[i] != want)
                    fail("quantize_int8", "int8", i, static_cast<std::uint8_t>(q[i]), static_cast<std::uint8_t>(want));
            }
            std::vector<std::int8_t> qw(n);
            fewbits::quantize_int8(in, std::span<std::int8_t>(qw), scale, p, std::span<const std::uint32_t>(words));
            for (std::size_t i = 0; i < n; ++i)
                if (qw[i] != q[i])
                    fail("quantize_int8(words)", "int8", i, static_cast<std::uint8_t>(qw[i]), static_cast<std::uint8_t>(q[i]));
            std::vector<float> f(n);
            fewbits::dequantize_int8(q, f, scale);
            for (std::size_t i = 0; i < n; ++i)
                if (bits_of(f[i]) != bits_of(fewbits::int8_value(q[i], scale)))
                    fail("dequantize_int8", "int8", i, bits_of(f[i]), bits_of(fewbits::int8_value(q[i], scale)));
        }
    }
}

// adamw_update (not dispatched: xsimd or the compile-time loop) compiles under these flags, and
// its words overload given the stream's own words gives the stream call's bits.
void check_adamw(const std::vector<float>& in)
{
    const std::size_t n = in.size();
    const fewbits::stream s{0xADA, 3};
    std::vector<float> g(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = std::isfinite(in[i]) ? in[i] * 1e-3f : 0.0f;
    std::vector<fewbits::bfloat16> w(n, fewbits::bfloat16(0.5f)), m(n), v(n);
    auto w2 = w, m2 = m, v2 = v;
    const fewbits::adamw_options o;
    const fewbits::policy p{fewbits::rounding::stochastic};
    fewbits::adamw_update<fewbits::bfloat16, fewbits::bfloat16>(w, m, v, g, o, 1, p, s);
    std::vector<std::uint32_t> words(n), m_words(n), v_words(n);
    fewbits::fill_random_words(s, words);
    fewbits::fill_random_words({fewbits::adamw_m_seed(s), s.offset, s.rng}, m_words);
    fewbits::fill_random_words({fewbits::adamw_v_seed(s), s.offset, s.rng}, v_words);
    fewbits::adamw_update<fewbits::bfloat16, fewbits::bfloat16>(w2, m2, v2, g, o, 1, p, words, m_words, v_words);
    for (std::size_t i = 0; i < n; ++i) {
        if (w2[i].bits() != w[i].bits()) fail("adamw_update(words) w", "bfloat16", i, w2[i].bits(), w[i].bits());
        if (m2[i].bits() != m[i].bits()) fail("adamw_update(words) m", "bfloat16", i, m2[i].bits(), m[i].bits());
        if (v2[i].bits() != v[i].bits()) fail("adamw_update(words) v", "bfloat16", i, v2[i].bits(), v[i].bits());
    }
}

}  // namespace

int main()
{
    const std::vector<float> in = inputs();
    std::string archs;
    // Every instruction set this build can run here (run-time dispatch), one after the other.
    for (const std::string& arch : fewbits::simd_architectures()) {
        fewbits::set_simd_architecture(arch);
        check_format<fewbits::float8_e4m3fn>("float8_e4m3fn", in);
        check_format<fewbits::float8_e5m2>("float8_e5m2", in);
        check_format<fewbits::float16>("float16", in);
        check_format<fewbits::bfloat16>("bfloat16", in);
        check_int8(in);
        check_adamw(in);
        if (failures != 0) {
            std::printf("%d mismatches (simd: %s)\n", failures, fewbits::simd_architecture());
            return 1;
        }
        archs += " " + arch;
    }
    std::printf("every kernel agrees with the scalar core (simd:%s)\n", archs.c_str());
    // What the kernels run by default: build_flags.sh checks that -march does not change it.
    fewbits::set_simd_architecture("best");
    std::printf("kernel choice: %s\n", fewbits::simd_architecture());
    return 0;
}
