// Statistics of paired differences over seeds, for the experiment programs: the mean, the
// two-sided 95% Student t interval, and the least-squares fit of a gap that falls as c / b.
// Example code, not library API.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace experiment {

// The 0.975 quantile of Student's t distribution with df degrees of freedom, df = 1..30 (the
// usual table, to the third decimal). More seeds than 31 are not a use we have: asking is an error.
inline double t_quantile_975(std::size_t df)
{
    static constexpr std::array<double, 30> table{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                                  2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                                  2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                                  2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df < 1 || df > table.size())
        throw std::invalid_argument("t_quantile_975: degrees of freedom must be 1..30, got " + std::to_string(df));
    return table[df - 1];
}

// Mean and 95% t interval of n values; with one value the interval is unknown (NaN).
struct interval_estimate {
    std::size_t n = 0;
    double mean = NAN, low = NAN, high = NAN;
    bool excludes_zero() const noexcept { return low > 0.0 || high < 0.0; }
};

inline interval_estimate t_interval(const std::vector<double>& values)
{
    interval_estimate e;
    e.n = values.size();
    if (e.n == 0) return e;
    double sum = 0.0;
    for (double v : values) sum += v;
    e.mean = sum / static_cast<double>(e.n);
    if (e.n < 2) return e;
    double ss = 0.0;
    for (double v : values) ss += (v - e.mean) * (v - e.mean);
    const double half = t_quantile_975(e.n - 1) * std::sqrt(ss / static_cast<double>(e.n - 1) / static_cast<double>(e.n));
    e.low = e.mean - half;
    e.high = e.mean + half;
    return e;
}

// gap(b) = c / b fitted by least squares to (b, gap) points: c = sum(g / b) / sum(1 / b^2), and
// the share of the gaps' variation about zero it explains, 1 - SSres / sum(g^2).
struct inverse_batch_gap_fit {
    double c = NAN, explained = NAN;
};

inline inverse_batch_gap_fit fit_c_over_b(const std::vector<double>& batches, const std::vector<double>& gaps)
{
    inverse_batch_gap_fit f;
    if (batches.size() != gaps.size() || batches.empty()) return f;
    double num = 0.0, den = 0.0, total = 0.0;
    for (std::size_t i = 0; i < gaps.size(); ++i) {
        num += gaps[i] / batches[i];
        den += 1.0 / (batches[i] * batches[i]);
        total += gaps[i] * gaps[i];
    }
    f.c = num / den;
    double res = 0.0;
    for (std::size_t i = 0; i < gaps.size(); ++i) res += (gaps[i] - f.c / batches[i]) * (gaps[i] - f.c / batches[i]);
    f.explained = total > 0.0 ? 1.0 - res / total : NAN;
    return f;
}

}  // namespace experiment
