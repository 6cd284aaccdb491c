// The statistics the language-model experiment reports (examples/paired_statistics.hpp): the
// Student t quantiles, the 95% interval of a mean, and the c / b fit of gaps against the batch,
// checked against values worked out by hand.
#include "fewbits_catch.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "paired_statistics.hpp"

using namespace experiment;

TEST_CASE("t quantiles are the table's, and outside 1..30 degrees of freedom an error")
{
    CHECK(t_quantile_975(1) == 12.706);
    CHECK(t_quantile_975(2) == 4.303);
    CHECK(t_quantile_975(4) == 2.776);
    CHECK(t_quantile_975(30) == 2.042);
    CHECK_THROWS_AS(t_quantile_975(0), std::invalid_argument);
    CHECK_THROWS_AS(t_quantile_975(31), std::invalid_argument);
}

TEST_CASE("a t interval is the mean plus or minus t(n-1) s / sqrt(n)")
{
    const interval_estimate e = t_interval({1.0, 2.0, 3.0});  // s = 1
    CHECK(e.n == 3);
    CHECK(e.mean == 2.0);
    CHECK(std::abs(e.low - (2.0 - 4.303 / std::sqrt(3.0))) < 1e-12);
    CHECK(std::abs(e.high - (2.0 + 4.303 / std::sqrt(3.0))) < 1e-12);
    CHECK_FALSE(e.excludes_zero());
    CHECK(t_interval({1.0, 1.1, 0.9}).excludes_zero());      // half width 0.248
    CHECK(t_interval({-1.0, -1.1, -0.9}).excludes_zero());
    CHECK_FALSE(t_interval({0.2, 0.1, -0.05}).excludes_zero());

    const interval_estimate one = t_interval({0.5});
    CHECK(one.mean == 0.5);
    CHECK(std::isnan(one.low));
    CHECK_FALSE(one.excludes_zero());
    CHECK(t_interval({}).n == 0);
}

TEST_CASE("the c / b fit recovers an exact 1/b law and explains less of a flat gap")
{
    const inverse_batch_gap_fit exact = fit_c_over_b({4.0, 16.0, 64.0}, {0.5, 0.125, 0.03125});
    CHECK(std::abs(exact.c - 2.0) < 1e-12);
    CHECK(std::abs(exact.explained - 1.0) < 1e-12);

    // Flat gaps of 1 at b = 4 and 16: c = (1/4 + 1/16) / (1/16 + 1/256) = 80/17.
    const inverse_batch_gap_fit flat = fit_c_over_b({4.0, 16.0}, {1.0, 1.0});
    const double c = 80.0 / 17.0;
    CHECK(std::abs(flat.c - c) < 1e-12);
    const double residual = (1.0 - c / 4.0) * (1.0 - c / 4.0) + (1.0 - c / 16.0) * (1.0 - c / 16.0);
    CHECK(std::abs(flat.explained - (1.0 - residual / 2.0)) < 1e-12);
    CHECK(flat.explained < 0.8);
    CHECK(std::isnan(fit_c_over_b({}, {}).c));
}
