// Independent reference for the fewbits rounding contract (design.md, "Rounding").
// It decodes every encoding from the textbook formula in double, builds the sorted
// table of non-negative finite values of a format (plus the extended grid point above
// max), and rounds by searching that table. It never calls the library: the only
// library names used are the public type names in the bridge at the end, to map a
// value type to its descriptor. Every computation here is exact in double:
//   - table values have at most 12 significant bits and exponents in [-140, 128];
//   - |x| - lo is exact by Sterbenz (lo <= |x| < hi <= 2 lo, or lo = 0);
//   - hi - lo is a power of two, so f * 2^r is an ldexp and floor(f * 2^r) is exact;
//   - nearest modes compare |x| with the midpoint lo + (hi - lo) / 2, exact as well.
// INT8 uses 128-bit integer arithmetic on the float significands.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace ref {

enum class family { ieee, fn, fnuz, finite };
enum class mode { nearest_even, nearest_away, toward_zero, up, down, odd, stochastic };

inline constexpr mode all_modes[] = {mode::nearest_even, mode::nearest_away, mode::toward_zero, mode::up,
                                     mode::down,         mode::odd,          mode::stochastic};

inline const char* name(mode m) {
    switch (m) {
    case mode::nearest_even: return "nearest_even";
    case mode::nearest_away: return "nearest_away";
    case mode::toward_zero: return "toward_zero";
    case mode::up: return "up";
    case mode::down: return "down";
    case mode::odd: return "odd";
    case mode::stochastic: return "stochastic";
    }
    return "?";
}

inline const char* name(family f) {
    switch (f) {
    case family::ieee: return "ieee";
    case family::fn: return "fn";
    case family::fnuz: return "fnuz";
    case family::finite: return "finite";
    }
    return "?";
}

struct format_desc {
    int E;
    int M;
    family fam;

    constexpr int bits() const { return 1 + E + M; }
    constexpr int bias() const { return fam == family::fnuz ? (1 << (E - 1)) : (1 << (E - 1)) - 1; }
    constexpr std::uint32_t sign_mask() const { return 1u << (E + M); }
    constexpr std::uint32_t count() const { return 1u << bits(); }
    constexpr std::uint32_t exp_all_ones() const { return (1u << E) - 1; }
    constexpr std::uint32_t mant_mask() const { return (1u << M) - 1; }

    std::string name() const {
        if (E == 4 && M == 3 && fam == family::fn) return "float8_e4m3fn";
        if (E == 5 && M == 2 && fam == family::ieee) return "float8_e5m2";
        if (E == 5 && M == 10 && fam == family::ieee) return "float16";
        if (E == 8 && M == 7 && fam == family::ieee) return "bfloat16";
        if (E == 4 && M == 3 && fam == family::fnuz) return "float8_e4m3fnuz";
        if (E == 5 && M == 2 && fam == family::fnuz) return "float8_e5m2fnuz";
        if (E == 3 && M == 2 && fam == family::finite) return "float6_e3m2fn";
        if (E == 2 && M == 3 && fam == family::finite) return "float6_e2m3fn";
        if (E == 2 && M == 1 && fam == family::finite) return "float4_e2m1fn";
        return "format<" + std::to_string(E) + "," + std::to_string(M) + "," + ref::name(fam) + ">";
    }
};

enum class cls { finite, inf, nan };

struct decoded {
    cls c;
    bool neg;      // the sign bit of the encoding
    double value;  // signed value; +-inf; NaN carrying the sign bit
};

// The textbook decode: normal (-1)^s 2^(e-bias) (1 + m/2^M), subnormal (-1)^s 2^(1-bias) m/2^M.
inline decoded decode(const format_desc& d, std::uint32_t code) {
    const bool s = ((code >> (d.E + d.M)) & 1u) != 0;
    const std::uint32_t e = (code >> d.M) & d.exp_all_ones();
    const std::uint32_t m = code & d.mant_mask();
    const double nan = s ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
    switch (d.fam) {
    case family::ieee:
        if (e == d.exp_all_ones()) {
            if (m == 0) return {cls::inf, s, s ? -HUGE_VAL : HUGE_VAL};
            return {cls::nan, s, nan};
        }
        break;
    case family::fn:
        if (e == d.exp_all_ones() && m == d.mant_mask()) return {cls::nan, s, nan};
        break;
    case family::fnuz:
        if (code == d.sign_mask()) return {cls::nan, s, nan};
        break;
    case family::finite: break;
    }
    double mag;
    if (e == 0)
        mag = std::ldexp(static_cast<double>(m), 1 - d.bias() - d.M);
    else
        mag = std::ldexp(static_cast<double>((1u << d.M) + m), static_cast<int>(e) - d.bias() - d.M);
    return {cls::finite, s, s ? -mag : mag};
}

// Whether a NaN encoding exists at all (an ieee format with M = 0 has none).
inline bool has_nan(const format_desc& d) {
    switch (d.fam) {
    case family::ieee: return d.M >= 1;
    case family::fn:
    case family::fnuz: return true;
    case family::finite: return false;
    }
    return false;
}

// Sorted non-negative finite magnitudes of a format, plus the extended grid point.
struct grid {
    format_desc d;
    std::string name;
    std::vector<double> mag;          // mag[0] = 0 < mag[1] < ... < mag[n-1] = max; mag[n] = max + top step
    std::vector<std::uint32_t> code;  // code[i] encodes mag[i]; code[n] = code[n-1] + 1 (parity of the ext point)
    std::size_t n = 0;

    explicit grid(format_desc desc) : d(desc), name(desc.name()) {
        for (std::uint32_t c = 0; c < d.sign_mask(); ++c) {
            const decoded v = decode(d, c);
            if (v.c != cls::finite) continue;
            if (!mag.empty() && !(v.value > mag.back()))
                throw std::logic_error("reference: positive encodings are not increasing for " + name);
            mag.push_back(v.value);
            code.push_back(c);
        }
        n = mag.size();
        const std::uint32_t top_e = (code.back() >> d.M) & d.exp_all_ones();
        mag.push_back(mag.back() + top_step_for(top_e));
        code.push_back(code.back() + 1);
    }

    double max() const { return mag[n - 1]; }
    double ext() const { return mag[n]; }
    std::uint32_t max_code() const { return code[n - 1]; }
    double min_subnormal() const { return mag[1]; }
    double min_normal() const { return std::ldexp(1.0, 1 - d.bias()); }
    double top_step() const { return mag[n] - mag[n - 1]; }
    std::uint32_t inf_code() const { return d.exp_all_ones() << d.M; }           // ieee only
    std::uint32_t fn_nan_code() const { return (d.exp_all_ones() << d.M) | d.mant_mask(); }  // fn only

    // index i with mag[i] <= a < mag[i+1]; a must be in [0, ext)
    std::size_t floor_index(double a) const {
        const auto it = std::upper_bound(mag.begin(), mag.begin() + static_cast<std::ptrdiff_t>(n + 1), a);
        return static_cast<std::size_t>(it - mag.begin()) - 1;
    }

private:
    double top_step_for(std::uint32_t e) const { return std::ldexp(1.0, static_cast<int>(e) - d.bias() - d.M); }
};

// What a conversion must produce. For an ieee NaN result any NaN encoding of that sign
// is accepted (any_nan); everywhere else the encoding is unique.
struct want {
    std::uint32_t bits;
    bool any_nan;
    bool neg;
};

inline bool is_nan_code(const format_desc& d, std::uint32_t c) { return decode(d, c).c == cls::nan; }

// `ignore_nan_sign`: for NaNs produced by arithmetic, whose sign the contract leaves open.
inline bool matches(const grid& g, const want& w, std::uint32_t got, bool ignore_nan_sign = false) {
    if (w.any_nan || (ignore_nan_sign && is_nan_code(g.d, w.bits))) {
        const decoded v = decode(g.d, got);
        if (got >= g.d.count() || v.c != cls::nan) return false;
        return ignore_nan_sign || g.d.fam == family::fnuz || v.neg == w.neg;
    }
    return got == w.bits;
}

inline std::string describe(const grid& g, const want& w) {
    char buf[64];
    if (w.any_nan) {
        std::snprintf(buf, sizeof buf, "any %sNaN", w.neg ? "-" : "+");
        return buf;
    }
    const decoded v = decode(g.d, w.bits);
    std::snprintf(buf, sizeof buf, "0x%0*X (%.9g)", g.d.bits() > 8 ? 4 : 2, w.bits, v.value);
    return buf;
}

inline std::string describe_code(const grid& g, std::uint32_t c) {
    char buf[64];
    const decoded v = decode(g.d, c);
    std::snprintf(buf, sizeof buf, "0x%0*X (%.9g)", g.d.bits() > 8 ? 4 : 2, c, v.value);
    return buf;
}

// floor(f * 2^r) for f = (a - lo) / (hi - lo), exactly.
inline std::uint64_t sr_threshold(const grid& g, std::size_t lo, double a, int r) {
    const double diff = a - g.mag[lo];           // exact (Sterbenz or lo = 0)
    const double step = g.mag[lo + 1] - g.mag[lo];  // exact, a power of two
    int se = 0;
    const double frac = std::frexp(step, &se);    // step = 0.5 * 2^se
    assert(frac == 0.5);
    (void)frac;
    const double t = std::ldexp(diff, r - (se - 1));
    return static_cast<std::uint64_t>(std::floor(t));
}

inline std::uint32_t top_bits(std::uint32_t word, int r) { return r >= 32 ? word : (word >> (32 - r)); }

struct interval {
    bool exact;      // |x| is a table point (or at/above ext: then lo = hi = n)
    std::size_t lo;  // lo index (hi = lo + 1 when !exact)
};

inline interval locate(const grid& g, double a) {
    if (a >= g.ext()) return {true, g.n};
    const std::size_t i = g.floor_index(a);
    return {g.mag[i] == a, i};
}

// Core: the magnitude index the contract selects for |x| = a (may be n: the ext point).
inline std::size_t round_index(const grid& g, mode md, bool neg, int r, double a, std::uint32_t word) {
    const interval iv = locate(g, a);
    if (iv.exact) return iv.lo;
    const std::size_t lo = iv.lo, hi = lo + 1;
    switch (md) {
    case mode::nearest_even:
    case mode::nearest_away: {
        const double mid = g.mag[lo] + (g.mag[hi] - g.mag[lo]) / 2;
        if (a < mid) return lo;
        if (a > mid) return hi;
        if (md == mode::nearest_away) return hi;
        return (g.code[lo] & 1u) == 0 ? lo : hi;
    }
    case mode::toward_zero: return lo;
    case mode::up: return neg ? lo : hi;
    case mode::down: return neg ? hi : lo;
    case mode::odd: return (g.code[lo] & 1u) != 0 ? lo : hi;
    case mode::stochastic: {
        const std::uint64_t F = sr_threshold(g, lo, a, r);
        const std::uint64_t R = top_bits(word, r);
        return F + R >= (std::uint64_t{1} << r) ? hi : lo;
    }
    }
    return lo;
}

inline want overflow_result(const grid& g, mode md, bool saturate, bool neg) {
    const std::uint32_t S = neg ? g.d.sign_mask() : 0u;
    const bool to_max = saturate || g.d.fam == family::finite || md == mode::toward_zero || md == mode::odd ||
                        (md == mode::down && !neg) || (md == mode::up && neg);
    if (to_max) return {g.max_code() | S, false, neg};
    switch (g.d.fam) {
    case family::ieee: return {g.inf_code() | S, false, neg};
    case family::fn: return {g.fn_nan_code() | S, false, neg};
    case family::fnuz: return {g.d.sign_mask(), false, neg};
    case family::finite: break;
    }
    return {g.max_code() | S, false, neg};
}

inline want nan_result(const grid& g, bool neg) {
    switch (g.d.fam) {
    case family::ieee: return {0, true, neg};
    case family::fn: return {g.fn_nan_code() | (neg ? g.d.sign_mask() : 0u), false, neg};
    case family::fnuz: return {g.d.sign_mask(), false, neg};
    case family::finite: return {g.max_code(), false, false};  // documented choice: NaN -> +max
    }
    return {0, true, neg};
}

inline want inf_result(const grid& g, bool saturate, bool neg) {
    const std::uint32_t S = neg ? g.d.sign_mask() : 0u;
    if (saturate) return {g.max_code() | S, false, neg};
    switch (g.d.fam) {
    case family::ieee: return {g.inf_code() | S, false, neg};
    case family::fn: return {g.fn_nan_code() | S, false, neg};
    case family::fnuz: return {g.d.sign_mask(), false, neg};
    case family::finite: return {g.max_code() | S, false, neg};
    }
    return {0, true, neg};
}

inline want from_index(const grid& g, mode md, bool saturate, bool neg, std::size_t idx) {
    if (idx >= g.n) return overflow_result(g, md, saturate, neg);
    const std::uint32_t c = g.code[idx];
    if (c == 0 && g.d.fam == family::fnuz) return {0, false, false};  // fnuz has no -0
    return {c | (neg ? g.d.sign_mask() : 0u), false, neg};
}

// The expected result of converting the (exact) double x; r = random_bits, word = random word.
inline want expected(const grid& g, mode md, bool saturate, int r, double x, std::uint32_t word = 0) {
    const bool neg = std::signbit(x);
    if (std::isnan(x)) return nan_result(g, neg);
    if (std::isinf(x)) return inf_result(g, saturate, neg);
    const double a = std::fabs(x);
    return from_index(g, md, saturate, neg, round_index(g, md, neg, r, a, word));
}

// ---------------------------------------------------------------------------------------
// INT8: q = round(|x| / scale) by the same mode rules, sign applied, clamped.

struct int8_split {
    bool huge = false;           // |x| / scale >= 2^16: clamps whatever the mode
    std::uint64_t q = 0;         // floor(|x| / scale)
    unsigned __int128 rem = 0;   // frac = rem / den, exactly
    unsigned __int128 den = 1;
};

inline void float_parts(float v, std::uint64_t& m, int& e) {  // |v| = m * 2^e, m < 2^24
    int ex = 0;
    const double fr = std::frexp(std::fabs(static_cast<double>(v)), &ex);
    m = static_cast<std::uint64_t>(std::ldexp(fr, 24));
    e = ex - 24;
}

inline int8_split int8_divide(float x, float scale) {
    int8_split s;
    std::uint64_t mx = 0, ms = 0;
    int ex = 0, es = 0;
    float_parts(x, mx, ex);
    float_parts(scale, ms, es);
    if (mx == 0) return s;
    const int d = ex - es;  // |x| / scale = (mx / ms) * 2^d
    if (d > 40) {           // >= 2^40 / 2^24
        s.huge = true;
        return s;
    }
    if (d < -60) {  // < 2^24 * 2^-60 = 2^-36: q = 0 and frac < 2^-32, nonzero
        s.q = 0;
        s.rem = 1;
        s.den = static_cast<unsigned __int128>(1) << 100;
        return s;
    }
    const unsigned __int128 num = static_cast<unsigned __int128>(mx) << (d > 0 ? d : 0);
    s.den = static_cast<unsigned __int128>(ms) << (d < 0 ? -d : 0);
    const unsigned __int128 q = num / s.den;
    s.rem = num % s.den;
    if (q >= (1u << 16)) {
        s.huge = true;
        return s;
    }
    s.q = static_cast<std::uint64_t>(q);
    return s;
}

// floor(frac * 2^r), exactly.
inline std::uint64_t int8_sr_threshold(const int8_split& s, int r) {
    return static_cast<std::uint64_t>((s.rem << r) / s.den);
}

inline std::int32_t int8_expected(mode md, bool full_range, int r, float x, float scale, std::uint32_t word = 0) {
    const std::int32_t low = full_range ? -128 : -127;
    if (std::isnan(x)) return 0;
    const bool neg = std::signbit(x);
    if (std::isinf(x)) return neg ? low : 127;
    const int8_split s = int8_divide(x, scale);
    std::uint64_t k = 0;
    if (s.huge) {
        k = 1u << 16;
    } else if (s.rem == 0) {
        k = s.q;
    } else {
        const std::uint64_t q = s.q;
        switch (md) {
        case mode::nearest_even:
        case mode::nearest_away: {
            const unsigned __int128 twice = s.rem * 2;
            if (twice < s.den) k = q;
            else if (twice > s.den) k = q + 1;
            else if (md == mode::nearest_away) k = q + 1;
            else k = (q % 2 == 0) ? q : q + 1;
            break;
        }
        case mode::toward_zero: k = q; break;
        case mode::up: k = neg ? q : q + 1; break;
        case mode::down: k = neg ? q + 1 : q; break;
        case mode::odd: k = (q % 2 == 1) ? q : q + 1; break;
        case mode::stochastic: {
            const std::uint64_t F = int8_sr_threshold(s, r);
            k = F + top_bits(word, r) >= (std::uint64_t{1} << r) ? q + 1 : q;
            break;
        }
        }
    }
    std::int64_t v = neg ? -static_cast<std::int64_t>(k) : static_cast<std::int64_t>(k);
    if (v > 127) v = 127;
    if (v < low) v = low;
    return static_cast<std::int32_t>(v);
}

}  // namespace ref

// ---------------------------------------------------------------------------------------
// Bridge: public fewbits type names -> reference descriptors (no library logic used).
#include <fewbits/fewbits.hpp>

namespace ref {

constexpr family to_family(fewbits::encoding e) {
    switch (e) {
    case fewbits::encoding::ieee: return family::ieee;
    case fewbits::encoding::fn: return family::fn;
    case fewbits::encoding::fnuz: return family::fnuz;
    case fewbits::encoding::finite: return family::finite;
    }
    return family::ieee;
}

template <class T>
struct traits;

template <int E, int M, fewbits::encoding Enc>
struct traits<fewbits::minifloat<fewbits::format<E, M, Enc>>> {
    static constexpr format_desc desc{E, M, to_family(Enc)};
};

template <class T>
const grid& grid_of() {
    static const grid g(traits<T>::desc);
    return g;
}

inline fewbits::rounding to_lib(mode m) {
    switch (m) {
    case mode::nearest_even: return fewbits::rounding::nearest_even;
    case mode::nearest_away: return fewbits::rounding::nearest_away;
    case mode::toward_zero: return fewbits::rounding::toward_zero;
    case mode::up: return fewbits::rounding::up;
    case mode::down: return fewbits::rounding::down;
    case mode::odd: return fewbits::rounding::odd;
    case mode::stochastic: return fewbits::rounding::stochastic;
    }
    return fewbits::rounding::nearest_even;
}

inline fewbits::policy make_policy(mode m, bool saturate, int r = 32) {
    fewbits::policy p;
    p.mode = to_lib(m);
    p.on_overflow = saturate ? fewbits::overflow::saturate : fewbits::overflow::non_saturating;
    p.random_bits = r;
    return p;
}

template <class T>
std::uint32_t bits_of(T t) {
    return static_cast<std::uint32_t>(t.bits());
}

template <class T>
T from_code(std::uint32_t c) {
    using storage = decltype(T{}.bits());
    return T::from_bits(static_cast<storage>(c));
}

template <class... Ts>
struct type_list {};

template <class T>
struct tag {
    using type = T;
};

template <class... Ts, class F>
void for_each_type(type_list<Ts...>, F&& f) {
    (f(tag<Ts>{}), ...);
}

// Generic formats beyond the named ones. With M = 0 an ieee format could not encode NaN, so
// the library takes those as fn (exponent all ones is NaN, no inf); E4M0/E5M0 are the
// aggressive gradient formats of the experiments.
using float8_e4m1 = fewbits::minifloat<fewbits::format<4, 1, fewbits::encoding::ieee>>;
using float8_e3m3 = fewbits::minifloat<fewbits::format<3, 3, fewbits::encoding::ieee>>;
using float8_e4m0 = fewbits::minifloat<fewbits::format<4, 0, fewbits::encoding::fn>>;
using float8_e5m0 = fewbits::minifloat<fewbits::format<5, 0, fewbits::encoding::fn>>;
#define FEWBITS_TEST_M0_TYPES , float8_e4m0, float8_e5m0

using named_formats = type_list<fewbits::float8_e4m3fn, fewbits::float8_e5m2, fewbits::float16, fewbits::bfloat16,
                                fewbits::float8_e4m3fnuz, fewbits::float8_e5m2fnuz, fewbits::float6_e3m2fn,
                                fewbits::float6_e2m3fn, fewbits::float4_e2m1fn>;
using generic_formats = type_list<float8_e4m1, float8_e3m3 FEWBITS_TEST_M0_TYPES>;
using all_formats = type_list<fewbits::float8_e4m3fn, fewbits::float8_e5m2, fewbits::float16, fewbits::bfloat16,
                              fewbits::float8_e4m3fnuz, fewbits::float8_e5m2fnuz, fewbits::float6_e3m2fn,
                              fewbits::float6_e2m3fn, fewbits::float4_e2m1fn, float8_e4m1,
                              float8_e3m3 FEWBITS_TEST_M0_TYPES>;
// formats of at most 8 bits (all encodings can be paired exhaustively)
using small_formats = type_list<fewbits::float8_e4m3fn, fewbits::float8_e5m2, fewbits::float8_e4m3fnuz,
                                fewbits::float8_e5m2fnuz, fewbits::float6_e3m2fn, fewbits::float6_e2m3fn,
                                fewbits::float4_e2m1fn, float8_e4m1, float8_e3m3 FEWBITS_TEST_M0_TYPES>;

}  // namespace ref
