// The one translation unit that holds Catch2's main when Catch2 v2 (header-only) is used;
// with v3 the tests link Catch2::Catch2WithMain instead and this file is not built.
#if !defined(FEWBITS_CATCH2_V3)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
