// LabelBudget: the first N values of a label are admitted for good, later
// ones fold into __other__ and are counted, and the admitted set survives a
// restart exactly as written with the offsets.
#include "daemon/signals/label_budget.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/signals/signals_harness.h"

namespace prodops::signals {
namespace {

using testing::MemoryStore;
using testing::SignalsHarness;

std::string Usage(int i, const std::string& feature) {
  return absl::StrCat(R"pb(usage { event_id: "e)pb", i, R"pb(" occurred_at { seconds: )pb",
                      testing::kNoonS + i, R"pb( } user_id: "u1" feature: ")pb", feature,
                      R"pb(" action: "view" })pb");
}

SignalsOptions TwoFeatures() {
  SignalsOptions options;
  options.label_budgets.feature = 2;
  return options;
}

TEST(LabelBudgetTest, FoldsValuesBeyondTheBudgetIntoOtherAndCountsThem) {
  SignalsHarness harness(TwoFeatures());
  harness.Apply(Usage(1, "search"));
  harness.Apply(Usage(2, "checkout"));
  harness.Apply(Usage(3, "reports"));  // third value: over budget
  harness.Apply(Usage(4, "search"));   // admitted earlier: still itself
  harness.Apply(Usage(5, "billing"));  // over budget
  const testing::Samples samples = harness.Expose();
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="search",action="view"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="checkout",action="view"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="__other__",action="view"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_active_users{feature="__other__",window="1h"})"), 1);
  EXPECT_EQ(samples.count(R"(prodops_usage_events_total{feature="reports",action="view"})"),
            0);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="feature"})"), 2);
}

TEST(LabelBudgetTest, AdmittedValuesSurviveARestartAndNothingIsAdmittedTwice) {
  SignalsHarness harness(TwoFeatures());
  MemoryStore store;
  harness.Apply(Usage(1, "search"));
  harness.Flush(&store);
  std::unique_ptr<SignalsHarness> restarted = harness.Restart(store);
  restarted->Apply(Usage(2, "checkout"));  // the second and last value
  restarted->Apply(Usage(3, "reports"));
  restarted->Flush(&store);
  restarted = restarted->Restart(store);
  restarted->Apply(Usage(4, "search"));
  restarted->Apply(Usage(5, "checkout"));
  restarted->Apply(Usage(6, "export"));
  const testing::Samples samples = restarted->Expose();
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="search",action="view"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="checkout",action="view"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_usage_events_total{feature="__other__",action="view"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="feature"})"), 2);
  // The admitted values are stored with a readable prefix.
  EXPECT_EQ(store.Contents(state::Family::kMeta).count("label_budget/feature/search"), 1);
  EXPECT_EQ(store.Contents(state::Family::kMeta).count("label_budget/feature/checkout"), 1);
  EXPECT_EQ(store.Contents(state::Family::kMeta).count("label_budget/feature/reports"), 0);
}

std::string Created(int i, const std::string& team) {
  return absl::StrCat(R"pb(ticket { event_id: "t)pb", i, R"pb(" occurred_at { seconds: )pb",
                      testing::kNoonS + i, R"pb( } ticket_id: "T)pb", i,
                      R"pb(" kind: CREATED status: NEW type: BUG priority: HIGH team: ")pb",
                      team, R"pb(" })pb");
}

TEST(LabelBudgetTest, TicketsCreatedGoThroughTheTeamBudgetAndOverflowCountsOncePerEvent) {
  SignalsOptions options;
  options.label_budgets.team = 1;
  SignalsHarness harness(options);
  harness.Apply(Created(1, "payments"));
  harness.Apply(Created(2, "growth"));  // over budget
  harness.Apply(Created(3, "payments"));
  harness.Apply(Created(4, "search"));  // over budget
  const testing::Samples samples = harness.Expose();
  EXPECT_EQ(samples.at(
                R"(prodops_tickets_created_total{ticket_type="bug",priority="high",team="payments"})"),
            2);
  EXPECT_EQ(samples.at(
                R"(prodops_tickets_created_total{ticket_type="bug",priority="high",team="__other__"})"),
            2);
  EXPECT_EQ(samples.count(
                R"(prodops_tickets_created_total{ticket_type="bug",priority="high",team="growth"})"),
            0);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="team"})"), 2);
}

TEST(LabelBudgetTest, AFeatureNamedTwiceInOneTicketOverflowsOnce) {
  SignalsOptions options;
  options.label_budgets.feature = 1;
  SignalsHarness harness(options);
  harness.Apply(absl::StrCat(R"pb(ticket { event_id: "t1" occurred_at { seconds: )pb",
                             testing::kNoonS,
                             R"pb( } ticket_id: "T1" kind: CREATED features: "search" })pb"));
  harness.Apply(absl::StrCat(
      R"pb(ticket { event_id: "t2" occurred_at { seconds: )pb", testing::kNoonS + 1,
      R"pb( } ticket_id: "T2" kind: CREATED features: "billing" features: "billing" })pb"));
  EXPECT_EQ(harness.Expose().at(R"(prodops_label_overflow_total{label="feature"})"), 1);
}

class LabelBudgetUnitTest : public ::testing::Test {
 protected:
  window::Aggregates aggregates_{testing::DefaultWindows()};
};

TEST_F(LabelBudgetUnitTest, ReservedValuesPassWithoutUsingTheBudget) {
  LabelBudget budget({.team = 1}, &aggregates_);
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "__none__"), "__none__");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "__other__"), "__other__");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "payments"), "payments");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "growth"), "__other__");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "__none__"), "__none__");
}

TEST_F(LabelBudgetUnitTest, LabelsHaveSeparateBudgets) {
  LabelBudget budget({.team = 1, .feature = 1}, &aggregates_);
  EXPECT_EQ(budget.Admit(BudgetedLabel::kTeam, "x"), "x");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kFeature, "x"), "x");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kFeature, "y"), "__other__");
}

TEST_F(LabelBudgetUnitTest, LookupNeitherAdmitsNorCounts) {
  LabelBudget budget({.release = 1}, &aggregates_);
  EXPECT_EQ(budget.Lookup(BudgetedLabel::kRelease, "r1"), "__other__");
  EXPECT_EQ(budget.Admit(BudgetedLabel::kRelease, "r1"), "r1");
  EXPECT_EQ(budget.Lookup(BudgetedLabel::kRelease, "r1"), "r1");
  EXPECT_EQ(budget.Lookup(BudgetedLabel::kRelease, "r2"), "__other__");
  uint64_t overflow = 0;
  aggregates_.ForEachCounter([&](const window::SeriesKey&, uint64_t v) { overflow += v; });
  EXPECT_EQ(overflow, 0);
}

}  // namespace
}  // namespace prodops::signals
