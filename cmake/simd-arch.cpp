// Prints the instruction set that the fewbits kernels of this build use, as one line
// "simd: <name>": with run-time dispatch the best this CPU has ("avx512", "avx2", "sse2"),
// else xsimd's name for the compile-time architecture, or "scalar". The ISA matrix (isa-matrix.cmake)
// checks it, so that a build which lost xsimd (header not found) or got the wrong -march
// cannot pass by testing the scalar fallback instead.
#include <fewbits/kernels.hpp>

#include <cstdio>

int main()
{
    std::printf("simd: %s\n", fewbits::simd_architecture());
    return 0;
}
