#pragma once

#include <vector>

namespace prodops::signals {

// Regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for
// a > 0 and x >= 0: a power series for x < a + 1, a continued fraction
// (modified Lentz) beyond; accurate to about 1e-14 relative. Returns NaN
// for arguments outside the domain.
double RegularizedGammaQ(double a, double x);

// Survival function of the chi-square distribution with `df` degrees of
// freedom: P(X >= x) = Q(df / 2, x / 2). 1 for x <= 0; NaN for df <= 0.
double ChiSquareSurvival(double x, int df);

// Pearson's chi-square goodness-of-fit p-value of `observed` counts against
// the split `weights` (same length, at least two, each > 0), with
// df = categories - 1: the probability of a deviation at least this large
// if the counts were drawn with that split. NaN if there is nothing to test
// (no observations, fewer than two categories, a weight <= 0).
double ChiSquareGoodnessOfFitPValue(const std::vector<double>& observed,
                                    const std::vector<double>& weights);

}  // namespace prodops::signals
