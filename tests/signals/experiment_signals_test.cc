// Experiment signals on hand-computed scenarios: exposures and goal events
// in every arrival order, users in several variants, restarts, the bounded
// cache of users' states, and the sample ratio mismatch p-value.
#include "daemon/signals/experiment_signals.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/signals/signals_harness.h"

namespace prodops::signals {
namespace {

using testing::kNoonS;
using testing::MemoryStore;
using testing::Samples;
using testing::SignalsHarness;

std::string Exposure(int64_t at_s, const std::string& user, const std::string& variant,
                     const std::string& experiment = "new_checkout") {
  return absl::StrCat(R"pb(exposure { event_id: "x-)pb", user, "-", variant, "-", at_s,
                      R"pb(" occurred_at { seconds: )pb", at_s, R"pb( } user_id: ")pb", user,
                      R"pb(" experiment: ")pb", experiment, R"pb(" variant: ")pb", variant,
                      R"pb(" })pb");
}

std::string Usage(int64_t at_s, const std::string& user, const std::string& feature = "checkout",
                  const std::string& action = "submit") {
  return absl::StrCat(R"pb(usage { event_id: "g-)pb", user, "-", action, "-", at_s,
                      R"pb(" occurred_at { seconds: )pb", at_s, R"pb( } user_id: ")pb", user,
                      R"pb(" feature: ")pb", feature, R"pb(" action: ")pb", action, R"pb(" })pb");
}

ExperimentSpec NewCheckout(double control = 1, double treatment = 1) {
  return {"new_checkout", "checkout", "submit", {{"control", control}, {"treatment", treatment}}};
}

SignalsOptions WithExperiments(std::vector<ExperimentSpec> experiments) {
  SignalsOptions options;
  options.experiments.experiments = std::move(experiments);
  return options;
}

// The value of series `name{experiment="new_checkout"[,variant="..."]}`, or
// -1 when it is not exposed.
double Value(const Samples& samples, const std::string& name, const std::string& variant = "",
             const std::string& experiment = "new_checkout") {
  std::string series = absl::StrCat(name, "{experiment=\"", experiment, "\"");
  if (!variant.empty()) absl::StrAppend(&series, ",variant=\"", variant, "\"");
  series += "}";
  const auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

double Exposed(const Samples& s, const std::string& variant) {
  return Value(s, std::string(kExperimentExposedUsers), variant);
}
double Converted(const Samples& s, const std::string& variant) {
  return Value(s, std::string(kExperimentConvertedUsers), variant);
}
double MultiVariant(const Samples& s) {
  return Value(s, std::string(kExperimentMultiVariantUsers));
}
double SrmPValue(const Samples& s) { return Value(s, std::string(kExperimentSrmPValue)); }

// Only the experiment families, to compare whole outcomes.
Samples ExperimentSamples(const Samples& samples) {
  Samples out;
  for (const auto& [series, value] : samples) {
    if (series.rfind("prodops_experiment_", 0) == 0) out[series] = value;
  }
  return out;
}

// Within the default 1 h lateness of each other, so order must not matter:
//  - u1: control at 12:00, goal at 12:01: converted in control;
//  - u2: goal at 11:59, exposed to treatment at 12:00: not converted (the
//    goal came before);
//  - u4: control at 12:02, treatment at 12:00:30, goal at 12:01: first
//    variant treatment (counted there only, and as multi-variant), and the
//    goal is after that first exposure: converted in treatment.
// Exposed: control 1, treatment 2; converted: 1 and 1; multi-variant 1.
const std::vector<std::string>& ScenarioEvents() {
  static const std::vector<std::string> events = {
      Exposure(kNoonS, "u1", "control"),     Usage(kNoonS + 60, "u1"),
      Usage(kNoonS - 60, "u2"),              Exposure(kNoonS, "u2", "treatment"),
      Exposure(kNoonS + 120, "u4", "control"), Exposure(kNoonS + 30, "u4", "treatment"),
      Usage(kNoonS + 60, "u4"),
  };
  return events;
}

TEST(ExperimentSignalsTest, EveryArrivalOrderWithinTheLatenessGivesTheSameCounts) {
  std::vector<int> order(ScenarioEvents().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  int orders = 0;
  do {
    SignalsHarness harness(WithExperiments({NewCheckout()}));
    for (int i : order) harness.Apply(ScenarioEvents()[i]);
    const Samples samples = harness.Expose();
    ASSERT_EQ(Exposed(samples, "control"), 1) << orders;
    ASSERT_EQ(Exposed(samples, "treatment"), 2) << orders;
    ASSERT_EQ(Converted(samples, "control"), 1) << orders;
    ASSERT_EQ(Converted(samples, "treatment"), 1) << orders;
    ASSERT_EQ(MultiVariant(samples), 1) << orders;
    ++orders;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(orders, 5040);
}

TEST(ExperimentSignalsTest, GoalMustComeStrictlyAfterTheFirstExposure) {
  SignalsHarness harness(WithExperiments({NewCheckout()}));
  harness.Apply(Exposure(kNoonS, "same", "control"));
  harness.Apply(Usage(kNoonS, "same"));                     // same second: not after
  harness.Apply(Usage(kNoonS + 5, "other", "checkout", "view"));  // not the goal action
  harness.Apply(Exposure(kNoonS, "other", "control"));
  harness.Apply(Usage(kNoonS + 5, "never_exposed"));
  const Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 2);
  EXPECT_EQ(Converted(samples, "control"), 0);
  EXPECT_EQ(Exposed(samples, "treatment"), -1);  // no user: no series
  EXPECT_EQ(MultiVariant(samples), 0);
}

TEST(ExperimentSignalsTest, RepeatedExposuresCountTheUserOnce) {
  SignalsHarness harness(WithExperiments({NewCheckout()}));
  harness.Apply(Exposure(kNoonS, "u1", "control"));
  harness.Apply(Exposure(kNoonS + 10, "u1", "control"));
  harness.Apply(Exposure(kNoonS - 10, "u1", "control"));
  harness.Apply(Usage(kNoonS - 5, "u1"));  // after the earliest exposure
  harness.Apply(Usage(kNoonS + 50, "u1"));
  const Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 1);
  EXPECT_EQ(Converted(samples, "control"), 1);
  EXPECT_EQ(MultiVariant(samples), 0);
}

TEST(ExperimentSignalsTest, AMultiVariantUserCountsInTheFirstVariantOnly) {
  SignalsHarness harness(WithExperiments({NewCheckout()}));
  harness.Apply(Exposure(kNoonS, "u1", "control"));
  harness.Apply(Usage(kNoonS + 60, "u1"));
  harness.Apply(Exposure(kNoonS + 120, "u1", "treatment"));
  harness.Apply(Exposure(kNoonS + 180, "u1", "control"));
  Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 1);
  EXPECT_EQ(Converted(samples, "control"), 1);
  EXPECT_EQ(Exposed(samples, "treatment"), -1);
  EXPECT_EQ(MultiVariant(samples), 1);
  // An earlier treatment exposure arrives: the user, conversion included,
  // moves to treatment; still one multi-variant user.
  harness.Apply(Exposure(kNoonS - 60, "u1", "treatment"));
  samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), -1);
  EXPECT_EQ(Exposed(samples, "treatment"), 1);
  EXPECT_EQ(Converted(samples, "treatment"), 1);
  EXPECT_EQ(MultiVariant(samples), 1);
  // Two variants at the same millisecond: the first by name.
  harness.Apply(Exposure(kNoonS, "u2", "treatment"));
  harness.Apply(Exposure(kNoonS, "u2", "control"));
  samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 1);
  EXPECT_EQ(MultiVariant(samples), 2);
}

TEST(ExperimentSignalsTest, AGoalWaitsForItsExposureOnlyWithinTheLateness) {
  SignalsHarness harness(WithExperiments({NewCheckout()}));
  harness.Apply(Usage(kNoonS, "u1"));
  harness.Apply(Usage(kNoonS, "u2"));
  // 59:59 later u1's exposure (at 11:59) still finds the goal...
  harness.Apply(Usage(kNoonS + 3599, "someone_else", "search", "view"));
  harness.Apply(Exposure(kNoonS - 60, "u1", "control"));
  // ...at 1 h later u2's does not: it arrived later than the lateness.
  harness.Apply(Usage(kNoonS + 3600, "someone_else", "search", "view"));
  harness.Apply(Exposure(kNoonS - 60, "u2", "treatment"));
  const Samples samples = harness.Expose();
  EXPECT_EQ(Converted(samples, "control"), 1);
  EXPECT_EQ(Converted(samples, "treatment"), 0);
}

TEST(ExperimentSignalsTest, OnlyConfiguredExperimentsAndTheirSplitAreTested) {
  SignalsHarness harness(WithExperiments({NewCheckout()}));
  harness.Apply(Exposure(kNoonS, "u1", "control", "unconfigured"));
  harness.Apply(Exposure(kNoonS, "u1", "control"));
  harness.Apply(Exposure(kNoonS, "u2", "treatment"));
  harness.Apply(Exposure(kNoonS, "u3", "beta"));  // not a configured variant
  const Samples samples = harness.Expose();
  EXPECT_EQ(Value(samples, std::string(kExperimentExposedUsers), "control", "unconfigured"), -1);
  EXPECT_EQ(Exposed(samples, "beta"), 1);
  // 1 vs 1 against 50/50: beta is left out of the test.
  EXPECT_EQ(SrmPValue(samples), 1.0);
}

TEST(ExperimentSignalsTest, SrmPValueIsExactForASmallCase) {
  // 30 control and 10 treatment users against a configured 50/50 split:
  // chi2 = (30 - 20)^2 / 20 + (10 - 20)^2 / 20 = 10 with 1 degree of
  // freedom, p = erfc(sqrt(10 / 2)) = 0.0015654...; against 75/25 the same
  // counts fit exactly, p = 1.
  ExperimentSpec skewed = NewCheckout(3, 1);
  skewed.name = "skewed";
  SignalsHarness harness(WithExperiments({NewCheckout(), skewed}));
  for (int i = 0; i < 40; ++i) {
    const std::string variant = i < 30 ? "control" : "treatment";
    harness.Apply(Exposure(kNoonS + i, absl::StrCat("u", i), variant));
    harness.Apply(Exposure(kNoonS + i, absl::StrCat("u", i), variant, "skewed"));
  }
  const Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 30);
  EXPECT_EQ(Exposed(samples, "treatment"), 10);
  EXPECT_NEAR(SrmPValue(samples), 0.0015654022580025, 1e-15);
  EXPECT_DOUBLE_EQ(SrmPValue(samples), std::erfc(std::sqrt(5.0)));
  EXPECT_EQ(Value(samples, std::string(kExperimentSrmPValue), "", "skewed"), 1.0);
}

TEST(ExperimentSignalsTest, VariantLabelsGoThroughTheLabelBudget) {
  SignalsOptions options = WithExperiments({NewCheckout()});
  options.label_budgets.variant = 1;
  SignalsHarness harness(options);
  harness.Apply(Exposure(kNoonS, "u1", "control"));
  harness.Apply(Exposure(kNoonS, "u2", "treatment"));
  harness.Apply(Usage(kNoonS + 1, "u2"));
  const Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 1);
  EXPECT_EQ(Exposed(samples, "__other__"), 1);
  EXPECT_EQ(Converted(samples, "__other__"), 1);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="variant"})"), 1);
  // The test still sees the true variants: 1 vs 1.
  EXPECT_EQ(SrmPValue(samples), 1.0);
}

TEST(ExperimentSignalsTest, ExperimentLabelsGoThroughTheLabelBudget) {
  ExperimentSpec second = NewCheckout();
  second.name = "second";
  SignalsOptions options = WithExperiments({NewCheckout(), second});
  options.label_budgets.experiment = 1;
  SignalsHarness harness(options);
  harness.Apply(Exposure(kNoonS, "u1", "control"));
  harness.Apply(Exposure(kNoonS + 1, "u2", "treatment", "second"));
  harness.Apply(Exposure(kNoonS + 2, "u3", "control", "second"));
  const Samples samples = harness.Expose();
  EXPECT_EQ(Exposed(samples, "control"), 1);
  // The second experiment is exposed as __other__; one overflow per event.
  EXPECT_EQ(
      Value(samples, std::string(kExperimentExposedUsers), "treatment", "__other__"), 1);
  EXPECT_EQ(Value(samples, std::string(kExperimentExposedUsers), "control", "__other__"),
            1);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="experiment"})"), 2);
  // __other__ mixes experiments: no sample ratio test of it.
  EXPECT_EQ(Value(samples, std::string(kExperimentSrmPValue), "", "__other__"), -1);
  for (const auto& [series, value] : samples) {
    EXPECT_EQ(series.find("experiment=\"second\""), std::string::npos) << series;
  }
}

TEST(ExperimentSignalsTest, StateSurvivesARestartAtAnyPoint) {
  // Every split of the scenario into before and after a restart gives the
  // counts of one uninterrupted run.
  const std::vector<std::string>& events = ScenarioEvents();
  SignalsHarness uninterrupted(WithExperiments({NewCheckout()}));
  for (const std::string& event : events) uninterrupted.Apply(event);
  const Samples expected = ExperimentSamples(uninterrupted.Expose());
  ASSERT_EQ(expected.size(), 6u);  // 2 exposed, 2 converted, multi-variant, SRM
  for (size_t split = 0; split <= events.size(); ++split) {
    MemoryStore store;
    SignalsHarness before(WithExperiments({NewCheckout()}));
    for (size_t i = 0; i < split; ++i) before.Apply(events[i]);
    before.Flush(&store);
    std::unique_ptr<SignalsHarness> after = before.Restart(store);
    for (size_t i = split; i < events.size(); ++i) after->Apply(events[i]);
    EXPECT_EQ(ExperimentSamples(after->Expose()), expected) << split;
    // And once more, with everything flushed and reloaded.
    after->Flush(&store);
    EXPECT_EQ(ExperimentSamples(after->Restart(store)->Expose()), expected) << split;
  }
}

// The set alone, with a store from the start, as the pipeline runs it.
class ExperimentCacheTest : public ::testing::Test {
 protected:
  ExperimentCacheTest()
      : aggregates_(testing::DefaultWindows()),
        budget_(LabelBudgetOptions{}, &aggregates_),
        experiments_(
            ExperimentOptions{{NewCheckout()}, 3'600'000, /*max_cached_users=*/4},
            &budget_, &aggregates_) {
    EXPECT_TRUE(budget_.Load(store_).ok());
    EXPECT_TRUE(experiments_.Load(store_).ok());
  }

  void Apply(const std::string& text) {
    const prodops::v1::Event event = testing::EventFromText(text);
    const int64_t at_ms = decode::OccurredAtMillis(event);
    as_of_ms_ = std::max(as_of_ms_, at_ms);
    experiments_.Apply(event, at_ms, as_of_ms_);
  }

  // `write` false: the flush's write fails (the pipeline retries it later).
  void Flush(bool write = true) {
    experiments_.Advance(as_of_ms_);
    budget_.CollectChanges(&changes_);
    experiments_.CollectChanges(&changes_);
    if (!write) return;
    ASSERT_TRUE(store_.Write(changes_).ok());
    changes_.Clear();
  }

  Samples Expose() {
    std::vector<prometheus::MetricFamily> families;
    experiments_.Collect(as_of_ms_, &families);
    return testing::ParseExposition(exporter::SerializeExposition(families));
  }

  MemoryStore store_;
  window::Aggregates aggregates_;
  LabelBudget budget_;
  ExperimentSignals experiments_;
  state::WriteSet changes_;
  int64_t as_of_ms_ = 0;
};

TEST_F(ExperimentCacheTest, EvictsOnlyWrittenUsersAndReadsThemBack) {
  for (int i = 0; i < 10; ++i) Apply(Exposure(kNoonS + i, absl::StrCat("u", i), "control"));
  EXPECT_EQ(experiments_.CachedUsers(), 10u);  // changed, not yet flushed
  Flush(/*write=*/false);
  Flush(/*write=*/false);
  // Nothing reached the store: nothing may be evicted.
  EXPECT_EQ(experiments_.CachedUsers(), 10u);
  Flush();
  Flush();  // evicts what the previous flush wrote, down to half the cache
  EXPECT_EQ(experiments_.CachedUsers(), 2u);
  // Users read back from the store convert and move variant as usual.
  for (int i = 0; i < 10; ++i) Apply(Usage(kNoonS + 20, absl::StrCat("u", i)));
  Apply(Exposure(kNoonS - 1, "u3", "treatment"));
  Apply(Exposure(kNoonS + 30, "u4", "treatment"));
  Flush();
  Flush();
  const Samples samples = Expose();
  EXPECT_EQ(Exposed(samples, "control"), 9);
  EXPECT_EQ(Converted(samples, "control"), 9);
  EXPECT_EQ(Exposed(samples, "treatment"), 1);
  EXPECT_EQ(Converted(samples, "treatment"), 1);
  EXPECT_EQ(MultiVariant(samples), 2);
  EXPECT_LE(experiments_.CachedUsers(), 4u);
  // Pending goals of users never exposed are dropped once past the lateness.
  Apply(Usage(kNoonS + 40, "lurker"));
  Flush();
  EXPECT_EQ(store_.Contents(state::Family::kSignals)
                .count(absl::StrCat(state::TaskPrefix(0), "experiment/p/new_checkout",
                                    std::string(1, '\0'), "lurker")),
            1u);
  Apply(Usage(kNoonS + 40 + 3600, "someone", "search", "view"));
  Flush();
  EXPECT_EQ(store_.Contents(state::Family::kSignals)
                .count(absl::StrCat(state::TaskPrefix(0), "experiment/p/new_checkout",
                                    std::string(1, '\0'), "lurker")),
            0u);
}

// Each task keeps its own users and counts, stored under its prefix; what
// is exposed adds up every task's.
TEST_F(ExperimentCacheTest, CountsOfEveryTaskAddUp) {
  aggregates_.SelectTask(1);
  Apply(Exposure(kNoonS, "u1", "control"));
  Apply(Usage(kNoonS + 20, "u1"));
  aggregates_.SelectTask(2);
  Apply(Exposure(kNoonS, "u2", "treatment"));
  Apply(Exposure(kNoonS + 1, "u3", "control"));
  Flush();
  Samples samples = Expose();
  EXPECT_EQ(Exposed(samples, "control"), 2);
  EXPECT_EQ(Converted(samples, "control"), 1);
  EXPECT_EQ(Exposed(samples, "treatment"), 1);
  std::set<std::string> tasks;
  for (const auto& [key, value] : store_.Contents(state::Family::kSignals)) {
    tasks.insert(key.substr(0, 4));
  }
  EXPECT_EQ(tasks, (std::set<std::string>{state::TaskPrefix(1), state::TaskPrefix(2)}));

  ExperimentSignals restarted(
      ExperimentOptions{{NewCheckout()}, 3'600'000, /*max_cached_users=*/4}, &budget_,
      &aggregates_);
  ASSERT_TRUE(restarted.Load(store_).ok());
  std::vector<prometheus::MetricFamily> families;
  restarted.Collect(as_of_ms_, &families);
  EXPECT_EQ(testing::ParseExposition(exporter::SerializeExposition(families)), samples);
}

}  // namespace
}  // namespace prodops::signals
