// Built with -fno-exceptions (ctest no_exceptions_*): the library compiles without
// exceptions, works normally, and reports a bad argument through the error handler with
// the same message an exception would carry, before writing anything.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fewbits/fewbits.hpp>
#include <fewbits/training.hpp>

namespace {
std::vector<fewbits::float8_e4m3fn>* watched = nullptr;

void on_error(const char* message)
{
    // Nothing half-written: the output the failing call was given is untouched.
    for (auto v : *watched)
        if (v.bits() != 0x55) {
            std::printf("output was written before the error\n");
            std::_Exit(1);
        }
    std::printf("handler: %s\n", message);
    std::fflush(stdout);
    std::_Exit(0);
}
}  // namespace

int main(int argc, char** argv)
{
    // Normal use works.
    std::vector<float> in = {1.0f, 0.3f, -2.5f, 448.0f};
    std::vector<fewbits::float8_e4m3fn> out(in.size());
    fewbits::quantize<fewbits::float8_e4m3fn>(in, out, {fewbits::rounding::stochastic}, fewbits::stream{7});
    for (std::size_t i = 0; i < in.size(); ++i)
        if (out[i].bits() !=
            fewbits::convert<fewbits::float8_e4m3fn>(in[i], {fewbits::rounding::stochastic}, fewbits::random_word(7, i)).bits()) {
            std::printf("quantize differs from convert at %zu\n", i);
            return 1;
        }
    fewbits::models::mlp_options o;
    o.sizes = {4, 3, 2};
    fewbits::models::mlp model(o);
    std::printf("quantized %g %g %g %g; mlp with %zu layers\n", static_cast<double>(static_cast<float>(out[0])),
                static_cast<double>(static_cast<float>(out[1])), static_cast<double>(static_cast<float>(out[2])),
                static_cast<double>(static_cast<float>(out[3])), model.layers().size());
    if (argc < 2) return 0;

    // A size mismatch: the handler (or, in "abort" mode, the default one) reports it.
    std::vector<fewbits::float8_e4m3fn> shorter(3, fewbits::float8_e4m3fn::from_bits(0x55));
    watched = &shorter;
    if (std::strcmp(argv[1], "handler") == 0) fewbits::set_error_handler(on_error);
    fewbits::quantize<fewbits::float8_e4m3fn>(in, shorter);
    std::printf("not reached: the error returned\n");
    return 1;
}
