#include "daemon/signals/chi_square.h"

#include <cmath>
#include <limits>

namespace prodops::signals {
namespace {

constexpr double kEpsilon = 1e-15;
constexpr int kMaxIterations = 10'000;
constexpr double kTiny = 1e-300;  // keeps Lentz's divisions finite
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ln Γ(a). std::lgamma also writes the sign of Γ(a) to the global signgam,
// a data race with any other thread calling it (the embedded simulator's
// std::poisson_distribution does); lgamma_r returns the sign instead.
double LogGamma(double a) {
  int sign = 0;
  return ::lgamma_r(a, &sign);
}

// P(a, x) by its series e^-x x^a / Γ(a + 1) · Σ x^n / ((a + 1)...(a + n)),
// which converges fast for x < a + 1.
double LowerSeries(double a, double x) {
  double term = 1.0 / a;
  double sum = term;
  for (int n = 1; n < kMaxIterations; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * kEpsilon) break;
  }
  return sum * std::exp(-x + a * std::log(x) - LogGamma(a));
}

// Q(a, x) by its continued fraction e^-x x^a / Γ(a) · 1 / (x + 1 - a -
// 1·(1 - a) / (x + 3 - a - 2·(2 - a) / (x + 5 - a - ...))), which converges
// fast for x >= a + 1; evaluated with the modified Lentz method.
double UpperContinuedFraction(double a, double x) {
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < kMaxIterations; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return h * std::exp(-x + a * std::log(x) - LogGamma(a));
}

}  // namespace

double RegularizedGammaQ(double a, double x) {
  if (!(a > 0) || !(x >= 0) || std::isinf(a)) return kNaN;
  if (x == 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  if (x < a + 1.0) return 1.0 - LowerSeries(a, x);
  return UpperContinuedFraction(a, x);
}

double ChiSquareSurvival(double x, int df) {
  if (df <= 0 || std::isnan(x)) return kNaN;
  if (x <= 0) return 1.0;
  return RegularizedGammaQ(df / 2.0, x / 2.0);
}

double ChiSquareGoodnessOfFitPValue(const std::vector<double>& observed,
                                    const std::vector<double>& weights) {
  if (observed.size() != weights.size() || observed.size() < 2) return kNaN;
  double total = 0;
  double total_weight = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    if (!(weights[i] > 0)) return kNaN;
    total += observed[i];
    total_weight += weights[i];
  }
  if (!(total > 0)) return kNaN;
  double statistic = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    const double expected = total * weights[i] / total_weight;
    statistic += (observed[i] - expected) * (observed[i] - expected) / expected;
  }
  return ChiSquareSurvival(statistic, static_cast<int>(observed.size()) - 1);
}

}  // namespace prodops::signals
