// Feature adoption, tickets per 1000 users and how-to share on a
// hand-computed scenario, per window.
#include "daemon/signals/feature_signals.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/signals/signals_harness.h"

namespace prodops::signals {
namespace {

using testing::kNoonS;
using testing::SignalsHarness;

std::string Usage(int second, const std::string& user, const std::string& feature) {
  return absl::StrCat(R"pb(usage { event_id: "u)pb", second, user,
                      R"pb(" occurred_at { seconds: )pb", kNoonS + second, R"pb( } user_id: ")pb",
                      user, R"pb(" feature: ")pb", feature, R"pb(" action: "view" })pb");
}

// `features` in text format, e.g. R"(features: "a" features: "b")".
std::string Ticket(int64_t at_s, const std::string& id, const std::string& kind,
                   const std::string& type, const std::string& features) {
  return absl::StrCat(R"pb(ticket { event_id: ")pb", id, kind, R"pb(" occurred_at { seconds: )pb",
                      at_s, R"pb( } ticket_id: ")pb", id, R"pb(" kind: )pb", kind,
                      R"pb( type: )pb", type, " ", features, " }");
}

class FeatureSignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two hours earlier: in the 1d and 7d windows, not in the 1h one.
    harness_.Apply(Ticket(kNoonS - 7200, "T0", "CREATED", "QUESTION", R"(features: "search")"));
    // Product: u1..u4; search: u1, u2; checkout: u3, u4, u1.
    harness_.Apply(Usage(1, "u1", "search"));
    harness_.Apply(Usage(2, "u2", "search"));
    harness_.Apply(Usage(3, "u3", "checkout"));
    harness_.Apply(Usage(4, "u4", "checkout"));
    harness_.Apply(Usage(5, "u1", "checkout"));
    harness_.Apply(Ticket(kNoonS + 10, "T1", "CREATED", "QUESTION", R"(features: "search")"));
    harness_.Apply(Ticket(kNoonS + 11, "T2", "CREATED", "BUG",
                          R"(features: "search" features: "checkout")"));
    harness_.Apply(Ticket(kNoonS + 12, "T3", "CREATED", "QUESTION", R"(features: "checkout")"));
    // A feature named twice counts once.
    harness_.Apply(Ticket(kNoonS + 13, "T4", "CREATED", "QUESTION",
                          R"(features: "search" features: "search")"));
    // Not a creation: ignored.
    harness_.Apply(Ticket(kNoonS + 14, "T1", "STATUS_CHANGED", "QUESTION",
                          R"(features: "search")"));
    // Tickets about a feature nobody used.
    harness_.Apply(Ticket(kNoonS + 15, "T5", "CREATED", "QUESTION", R"(features: "billing")"));
    samples_ = harness_.Expose();
  }

  double At(const std::string& metric, const std::string& feature, const std::string& window) {
    const std::string series =
        absl::StrCat(metric, "{feature=\"", feature, "\",window=\"", window, "\"}");
    EXPECT_EQ(samples_.count(series), 1) << series;
    return samples_.count(series) ? samples_.at(series) : -1;
  }
  bool Has(const std::string& metric, const std::string& feature, const std::string& window) {
    return samples_.count(
        absl::StrCat(metric, "{feature=\"", feature, "\",window=\"", window, "\"}"));
  }

  SignalsHarness harness_;
  testing::Samples samples_;
};

TEST_F(FeatureSignalsTest, AdoptionIsFeatureUsersOverProductUsers) {
  EXPECT_EQ(At("prodops_feature_adoption_ratio", "search", "1h"), 0.5);     // 2 / 4
  EXPECT_EQ(At("prodops_feature_adoption_ratio", "checkout", "1h"), 0.75);  // 3 / 4
  EXPECT_EQ(At("prodops_feature_adoption_ratio", "checkout", "7d"), 0.75);
  EXPECT_FALSE(Has("prodops_feature_adoption_ratio", "billing", "1h"));  // no users
  EXPECT_FALSE(Has("prodops_feature_adoption_ratio", "__all__", "1h"));
}

TEST_F(FeatureSignalsTest, TicketsPerThousandActiveUsersOfTheFeature) {
  // search: T1, T2, T4 over 2 users; T0 joins in the 1d window.
  EXPECT_EQ(At("prodops_feature_tickets_per_1k_users", "search", "1h"), 1500);
  EXPECT_EQ(At("prodops_feature_tickets_per_1k_users", "search", "1d"), 2000);
  // checkout: T2, T3 over 3 users.
  EXPECT_DOUBLE_EQ(At("prodops_feature_tickets_per_1k_users", "checkout", "1h"), 2000.0 / 3);
  EXPECT_FALSE(Has("prodops_feature_tickets_per_1k_users", "billing", "1h"));
}

TEST_F(FeatureSignalsTest, HowtoShareIsQuestionsOverAllTicketsCreated) {
  EXPECT_DOUBLE_EQ(At("prodops_feature_howto_share", "search", "1h"), 2.0 / 3);  // T1, T4 of 3
  EXPECT_EQ(At("prodops_feature_howto_share", "search", "7d"), 0.75);  // + T0: 3 of 4
  EXPECT_EQ(At("prodops_feature_howto_share", "checkout", "1h"), 0.5);  // T3 of T2, T3
  EXPECT_EQ(At("prodops_feature_howto_share", "billing", "1h"), 1);
}

TEST(FeatureSignalsBudgetTest, TicketFeaturesShareTheFeatureBudget) {
  SignalsOptions options;
  options.label_budgets.feature = 1;
  SignalsHarness harness(options);
  harness.Apply(Usage(1, "u1", "search"));
  harness.Apply(Usage(2, "u2", "checkout"));  // __other__
  // "reports" and "export" both fold into __other__: one ticket about it.
  harness.Apply(Ticket(kNoonS + 3, "T1", "CREATED", "QUESTION",
                       R"(features: "reports" features: "export")"));
  const testing::Samples samples = harness.Expose();
  EXPECT_EQ(
      samples.at(R"(prodops_feature_tickets_per_1k_users{feature="__other__",window="1h"})"),
      1000);
  EXPECT_EQ(samples.at(R"(prodops_label_overflow_total{label="feature"})"), 3);
}

}  // namespace
}  // namespace prodops::signals
