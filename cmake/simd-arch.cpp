// Prints the instruction set that the fewbits kernels of this build use, as one line
// "simd: <xsimd architecture name>" or "simd: scalar". The ISA matrix (isa-matrix.cmake)
// checks it, so that a build which lost xsimd (header not found) or got the wrong -march
// cannot pass by testing the scalar fallback instead.
#include <fewbits/config.hpp>

#include <cstdio>
#include <type_traits>

int main()
{
#if FEWBITS_HAS_XSIMD
    if constexpr (!std::is_same_v<xsimd::default_arch, xsimd::unavailable>) {
        std::printf("simd: %s\n", xsimd::default_arch::name());
        return 0;
    }
#endif
    std::printf("simd: scalar\n");
    return 0;
}
