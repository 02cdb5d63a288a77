// The chi-square survival function against known values and closed forms:
// for 1, 2, 3 and 4 degrees of freedom Q(df/2, x/2) has an elementary form,
// which checks both the series (x < df/2 + 1) and the continued fraction.
#include "daemon/signals/chi_square.h"

#include <cmath>
#include <numbers>

#include "gtest/gtest.h"

namespace prodops::signals {
namespace {

TEST(ChiSquareSurvivalTest, KnownValues) {
  EXPECT_NEAR(ChiSquareSurvival(3.84146, 1), 0.05, 1e-6);  // the 5% critical value
  EXPECT_NEAR(ChiSquareSurvival(10, 3), 0.018566, 1e-6);
  EXPECT_NEAR(ChiSquareSurvival(5.99146, 2), 0.05, 1e-6);
  for (int df = 1; df <= 50; ++df) EXPECT_EQ(ChiSquareSurvival(0, df), 1.0) << df;
  EXPECT_EQ(ChiSquareSurvival(-1, 3), 1.0);
  EXPECT_TRUE(std::isnan(ChiSquareSurvival(1, 0)));
  EXPECT_EQ(ChiSquareSurvival(INFINITY, 2), 0.0);
}

TEST(ChiSquareSurvivalTest, MatchesClosedFormsAcrossBothBranches) {
  for (double x : {1e-6, 0.01, 0.5, 1.0, 2.0, 3.0, 4.5, 7.0, 10.0, 25.0, 60.0, 200.0}) {
    const double half = x / 2;
    const double df1 = std::erfc(std::sqrt(half));
    const double df2 = std::exp(-half);
    const double df3 = std::erfc(std::sqrt(half)) +
                       std::sqrt(2 * x / std::numbers::pi) * std::exp(-half);
    const double df4 = std::exp(-half) * (1 + half);
    // Relative: the tail values reach 1e-44.
    EXPECT_NEAR(ChiSquareSurvival(x, 1) / df1, 1.0, 1e-12) << x;
    EXPECT_NEAR(ChiSquareSurvival(x, 2) / df2, 1.0, 1e-12) << x;
    EXPECT_NEAR(ChiSquareSurvival(x, 3) / df3, 1.0, 1e-12) << x;
    EXPECT_NEAR(ChiSquareSurvival(x, 4) / df4, 1.0, 1e-12) << x;
  }
}

TEST(RegularizedGammaQTest, RecurrenceLinksTheSeriesAndTheContinuedFraction) {
  // Q(a + 1, x) = Q(a, x) + x^a e^-x / Γ(a + 1); with a = 49.2 and x = 50.5,
  // Q(a, x) comes from the continued fraction and Q(a + 1, x) from the series.
  const double a = 49.2;
  const double x = 50.5;
  const double step = std::exp(a * std::log(x) - x - std::lgamma(a + 1));
  EXPECT_NEAR(RegularizedGammaQ(a + 1, x), RegularizedGammaQ(a, x) + step, 1e-13);
  EXPECT_TRUE(std::isnan(RegularizedGammaQ(0, 1)));
  EXPECT_TRUE(std::isnan(RegularizedGammaQ(1, -1)));
}

TEST(ChiSquareGoodnessOfFitTest, HandComputedSplits) {
  // 30 vs 10 against 50/50: expected 20 each, chi2 = 100/20 + 100/20 = 10,
  // df = 1: p = erfc(sqrt(5)).
  EXPECT_NEAR(ChiSquareGoodnessOfFitPValue({30, 10}, {1, 1}), std::erfc(std::sqrt(5.0)), 1e-15);
  // The same counts against 75/25 fit exactly.
  EXPECT_EQ(ChiSquareGoodnessOfFitPValue({30, 10}, {3, 1}), 1.0);
  // 5, 15, 20 against 1:1:2: expected 10, 10, 20, chi2 = 2.5 + 2.5 + 0 = 5,
  // df = 2: p = e^-2.5.
  EXPECT_NEAR(ChiSquareGoodnessOfFitPValue({5, 15, 20}, {1, 1, 2}), std::exp(-2.5), 1e-15);
  EXPECT_TRUE(std::isnan(ChiSquareGoodnessOfFitPValue({0, 0}, {1, 1})));
  EXPECT_TRUE(std::isnan(ChiSquareGoodnessOfFitPValue({5}, {1})));
  EXPECT_TRUE(std::isnan(ChiSquareGoodnessOfFitPValue({5, 5}, {1, 0})));
}

}  // namespace
}  // namespace prodops::signals
