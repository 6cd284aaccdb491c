// Quick start: round a few values to each format with round-to-nearest-even and with
// stochastic rounding, and show what stochastic rounding buys: an unbiased average. Then
// the same for a whole array with the bulk kernels quantize<T> and dequantize<T>.
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>
#include <fewbits/fewbits.hpp>

namespace {

template <class T>
void show(const char* name, float x)
{
    const T nearest = fewbits::convert<T>(x);
    const fewbits::policy sr{fewbits::rounding::stochastic};
    double sum = 0;
    constexpr int draws = 100000;
    for (std::uint32_t i = 0; i < draws; ++i) sum += static_cast<float>(fewbits::convert<T>(x, sr, fewbits::random_word(42, i)));
    std::printf("  %-16s nearest %-12.7g (bits 0x%04x)   mean of %d stochastic draws %.7g\n", name,
                static_cast<double>(static_cast<float>(nearest)), static_cast<unsigned>(nearest.bits()), draws,
                sum / draws);
}

// One array, two policies. With SR, element i takes its random word from the stream at
// counter offset + i, so the whole call is reproducible from the seed alone.
template <class T>
void show_array(const char* name, std::span<const float> x)
{
    std::vector<T> q(x.size());
    std::vector<float> nearest(x.size()), stochastic(x.size());
    fewbits::quantize<T>(x, q, fewbits::policy{});  // default policy: nearest-even
    fewbits::dequantize<T>(q, nearest);             // decoding is exact
    fewbits::quantize<T>(x, q, fewbits::policy{fewbits::rounding::stochastic}, fewbits::stream{42});
    fewbits::dequantize<T>(q, stochastic);
    std::printf("%s\n  %-14s %-14s %s\n", name, "input", "nearest", "SR (seed 42)");
    for (std::size_t i = 0; i < x.size(); ++i)
        std::printf("  %-14.7g %-14.7g %.7g\n", static_cast<double>(x[i]), static_cast<double>(nearest[i]),
                    static_cast<double>(stochastic[i]));
}

}  // namespace

int main()
{
    for (const float x : {0.1f, 3.14159265f, 300.0f, 1e-3f}) {
        std::printf("x = %.9g\n", static_cast<double>(x));
        show<fewbits::bfloat16>("bfloat16", x);
        show<fewbits::float16>("float16", x);
        show<fewbits::float8_e5m2>("float8_e5m2", x);
        show<fewbits::float8_e4m3fn>("float8_e4m3fn", x);
        std::printf("  %-16s q = %d at scale 1/32\n", "int8", fewbits::convert_int8(x, 1.0f / 32));
    }
    // Overflow: E4M3 has no infinity; the policy decides between NaN and saturation.
    const fewbits::policy saturate{fewbits::rounding::nearest_even, fewbits::overflow::saturate};
    std::printf("E4M3(500): non_saturating %g, saturate %g\n",
                static_cast<double>(static_cast<float>(fewbits::convert<fewbits::float8_e4m3fn>(500.0f))),
                static_cast<double>(static_cast<float>(fewbits::convert<fewbits::float8_e4m3fn>(500.0f, saturate))));

    // Bulk: 65519 is just below FP16's rounding boundary to inf (65520), so nearest gives max
    // (65504) and SR sometimes inf; beyond E4M3's max (448) it is NaN, as the policy says.
    const std::vector<float> xs = {0.1f, 1.0f / 3, 3.14159f, -2.71828f, 1e-3f, 300.0f, 65519.0f, 1e-6f};
    std::printf("\nbulk quantize of %zu floats, dequantized:\n", xs.size());
    show_array<fewbits::bfloat16>("bfloat16", xs);
    show_array<fewbits::float16>("float16", xs);
    show_array<fewbits::float8_e5m2>("float8_e5m2", xs);
    show_array<fewbits::float8_e4m3fn>("float8_e4m3fn", xs);
    return 0;
}
