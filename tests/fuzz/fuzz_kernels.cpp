// libFuzzer target: arbitrary bytes become a format, a policy (valid or not), a stream and
// an array of floats (every bit pattern: NaNs, infinities, subnormals). Checks, for each:
//   (a) the bulk kernels equal the scalar core element by element (quantize against
//       convert, quantize_int8 against convert_int8, sgd_update against its contract),
//   (b) dequantize(quantize(x)) equals fake_quantize(x) bit for bit,
//   (c) a rejected argument throws std::invalid_argument before anything is written;
// anything else aborts, and the sanitizers catch memory errors and undefined behaviour.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fewbits/fewbits.hpp>

namespace {

// Reads fixed-size values from the front of the input; zeros once it runs out.
struct reader {
    const std::uint8_t* data;
    std::size_t size;
    template <class T>
    T take()
    {
        T v{};
        const std::size_t n = size < sizeof(T) ? size : sizeof(T);
        std::memcpy(&v, data, n);
        data += n, size -= n;
        return v;
    }
};

[[noreturn]] void fail(const char* what)
{
    std::fprintf(stderr, "fuzz_kernels: %s\n", what);
    std::abort();
}

std::uint32_t bits_of(float x)
{
    std::uint32_t b;
    std::memcpy(&b, &x, 4);
    return b;
}

bool policy_is_valid(const fewbits::policy& p)
{
    return static_cast<unsigned>(p.mode) <= static_cast<unsigned>(fewbits::rounding::stochastic) &&
           static_cast<unsigned>(p.on_overflow) <= static_cast<unsigned>(fewbits::overflow::saturate) &&
           static_cast<unsigned>(p.int8) <= 1u && p.random_bits >= 1 && p.random_bits <= 32;
}

template <class T>
void check_format(const std::vector<float>& in, const fewbits::policy& p, const fewbits::stream& s, float lr)
{
    using storage = typename T::storage_type;
    const std::size_t n = in.size();
    const bool valid = policy_is_valid(p);
    std::vector<T> q(n, T::from_bits(storage{1}));
    std::vector<float> fake(n, 7.0f), back(n);
    try {
        fewbits::quantize<T>(in, q, p, s);
        if (!valid) fail("quantize accepted an invalid policy");
    } catch (const std::invalid_argument&) {
        if (valid) fail("quantize rejected a valid policy");
        for (const T& v : q)
            if (v.bits() != storage{1}) fail("quantize wrote before throwing");
        return;
    }
    fewbits::fake_quantize<T>(in, fake, p, s);
    fewbits::dequantize<T>(q, back);
    for (std::size_t i = 0; i < n; ++i) {
        const T scalar = fewbits::convert<T>(in[i], p, fewbits::random_word(s.rng, s.seed, s.offset + i));
        if (q[i].bits() != scalar.bits()) fail("quantize differs from convert");                       // (a)
        if (bits_of(back[i]) != bits_of(static_cast<float>(scalar))) fail("dequantize is not exact");
        if (bits_of(back[i]) != bits_of(fake[i])) fail("dequantize(quantize(x)) != fake_quantize(x)");  // (b)
    }
    // sgd_update: w[i] = convert(fma(-lr, g[i], w[i]), p, word_i), the gradient being the input.
    std::vector<T> w = q;
    try {
        fewbits::sgd_update<T>(w, in, lr, p, s);
        if (!std::isfinite(lr)) fail("sgd_update accepted a non-finite lr");
    } catch (const std::invalid_argument&) {
        if (std::isfinite(lr)) fail("sgd_update rejected a finite lr");
        for (std::size_t i = 0; i < n; ++i)
            if (w[i].bits() != q[i].bits()) fail("sgd_update wrote before throwing");
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const float target = std::fma(-lr, in[i], static_cast<float>(q[i]));
        const T expect = fewbits::convert<T>(target, p, fewbits::random_word(s.rng, s.seed, s.offset + i));
        if (w[i].bits() != expect.bits()) fail("sgd_update differs from its contract");
    }
}

void check_int8(const std::vector<float>& in, const fewbits::policy& p, const fewbits::stream& s, float scale)
{
    const std::size_t n = in.size();
    std::vector<std::int8_t> q(n, 42);
    const bool valid = policy_is_valid(p) && scale > 0.0f && std::isfinite(scale);
    try {
        fewbits::quantize_int8(in, q, scale, p, s);
        if (!valid) fail("quantize_int8 accepted an invalid policy or scale");
    } catch (const std::invalid_argument&) {
        if (valid) fail("quantize_int8 rejected a valid policy and scale");
        for (std::int8_t v : q)
            if (v != 42) fail("quantize_int8 wrote before throwing");
        return;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (q[i] != fewbits::convert_int8(in[i], scale, p, fewbits::random_word(s.rng, s.seed, s.offset + i)))
            fail("quantize_int8 differs from convert_int8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    reader r{data, size};
    const auto format = r.take<std::uint8_t>();
    fewbits::policy p;
    p.mode = static_cast<fewbits::rounding>(r.take<std::uint8_t>() % 9);        // 7 modes, 2 invalid
    p.on_overflow = static_cast<fewbits::overflow>(r.take<std::uint8_t>() % 3);  // 1 invalid
    p.random_bits = static_cast<int>(r.take<std::uint8_t>() % 36);               // 0, 33..35 invalid
    p.int8 = static_cast<fewbits::int8_range>(r.take<std::uint8_t>() % 3);       // 1 invalid
    fewbits::stream s;
    s.seed = r.take<std::uint64_t>();
    s.offset = r.take<std::uint64_t>();
    s.rng = (r.take<std::uint8_t>() & 1) ? fewbits::generator::philox : fewbits::generator::counter_hash;
    const float knob = r.take<float>();  // lr for sgd_update, scale for INT8
    std::vector<float> in(r.size / 4);
    for (float& x : in) x = r.take<float>();
    switch (format % 9) {
    case 0: check_format<fewbits::bfloat16>(in, p, s, knob); break;
    case 1: check_format<fewbits::float16>(in, p, s, knob); break;
    case 2: check_format<fewbits::float8_e4m3fn>(in, p, s, knob); break;
    case 3: check_format<fewbits::float8_e5m2>(in, p, s, knob); break;
    case 4: check_format<fewbits::float8_e4m3fnuz>(in, p, s, knob); break;
    case 5: check_format<fewbits::float6_e3m2fn>(in, p, s, knob); break;
    case 6: check_format<fewbits::float4_e2m1fn>(in, p, s, knob); break;
    case 7: check_format<fewbits::minifloat<fewbits::format<4, 0, fewbits::encoding::fn>>>(in, p, s, knob); break;
    default: check_int8(in, p, s, knob); break;
    }
    return 0;
}
