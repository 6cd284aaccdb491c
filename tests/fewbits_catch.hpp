// Catch2 shim shared by every fewbits test: picks the v3 or v2 header and holds the
// small helpers the tests use to report failures (hex formatting and a mismatch log
// that counts every failure but keeps only the first few, so a broken conversion
// produces one readable REQUIRE instead of millions of CHECK lines).
#pragma once

#include <string>

#if defined(FEWBITS_CATCH2_V3)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers.hpp>  // CHECK_THROWS_WITH, CHECK_THAT
#include <catch2/matchers/catch_matchers_string.hpp>
using Catch::Approx;  // v2's catch.hpp puts Approx in the global namespace as well
namespace Catch {
// v2's string matcher name (v3: Matchers::ContainsSubstring).
inline auto Contains(const std::string& s) { return Matchers::ContainsSubstring(s); }
}  // namespace Catch
#else
#include <catch2/catch.hpp>
#endif

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace fewbits_test {

inline std::string hex(std::uint64_t v, int digits = 2) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%0*llX", digits, static_cast<unsigned long long>(v));
    return buf;
}

inline std::uint32_t float_bits(float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

inline float float_from_bits(std::uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

// splitmix64: a portable generator for test inputs (the same sequence on every platform).
struct prng {
    std::uint64_t s;
    explicit prng(std::uint64_t seed) : s(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint32_t u32() { return static_cast<std::uint32_t>(next() >> 32); }
    std::uint64_t below(std::uint64_t n) { return next() % n; }
};

inline std::uint64_t double_bits(double x) {
    std::uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}

// "0x3F800000 (1)" for a float input, "0x3FF0000000000000 (1)" for a double one.
inline std::string show(float x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s (%.9g)", hex(float_bits(x), 8).c_str(), static_cast<double>(x));
    return buf;
}

inline std::string show(double x) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "%s (%.17g)", hex(double_bits(x), 16).c_str(), x);
    return buf;
}

// Counts failures; keeps the text of the first `keep` of them.
class failure_log {
public:
    explicit failure_log(std::size_t keep = 5) : keep_(keep) {}

    void add(std::string what) {
        if (count_ < keep_) first_.push_back(std::move(what));
        ++count_;
    }
    void merge(const failure_log& other) {
        for (const auto& s : other.first_)
            if (first_.size() < keep_) first_.push_back(s);
        count_ += other.count_;
    }
    std::size_t count() const { return count_; }
    std::string summary() const {
        if (count_ == 0) return "no mismatches";
        std::string s = std::to_string(count_) + " mismatch(es); first:";
        for (const auto& f : first_) s += "\n  " + f;
        return s;
    }

private:
    std::size_t keep_;
    std::size_t count_ = 0;
    std::vector<std::string> first_;
};

}  // namespace fewbits_test

// One REQUIRE for a whole loop, with the first failures in the message.
#define FEWBITS_REQUIRE_CLEAN(log)      \
    do {                                \
        INFO((log).summary());          \
        REQUIRE((log).count() == 0u);   \
    } while (0)

#define FEWBITS_CHECK_CLEAN(log)        \
    do {                                \
        INFO((log).summary());          \
        CHECK((log).count() == 0u);     \
    } while (0)
