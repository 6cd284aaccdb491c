// Downstream smoke test: includes the installed umbrella header and checks one known
// encoding, 1.5 = 1.1b * 2^0 -> E4M3 sign 0, exponent 0 + 7 = 0111b, mantissa 100b = 0x3C.
#include <cstdio>

#include <fewbits/fewbits.hpp>

int main()
{
    const unsigned got = fewbits::convert<fewbits::float8_e4m3fn>(1.5f).bits();
    if (got == 0x3C) {
        std::printf("fewbits consumer: convert<float8_e4m3fn>(1.5f).bits() = 0x3C, ok\n");
        return 0;
    }
    std::printf("fewbits consumer: convert<float8_e4m3fn>(1.5f).bits() = 0x%02X, expected 0x3C\n",
                got);
    return 1;
}
