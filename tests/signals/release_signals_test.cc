// Release impact on hand-computed scenarios: ticket lift, change failures
// whatever the arrival order, the bounded set of recent releases, restarts.
#include "daemon/signals/release_signals.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/signals/signals_harness.h"

namespace prodops::signals {
namespace {

using testing::kNoonS;
using testing::MemoryStore;
using testing::SignalsHarness;

constexpr int64_t kHourS = 3600;

std::string Release(int64_t at_s, const std::string& name, const std::string& kind,
                    const std::string& team, const std::string& feature) {
  return absl::StrCat(R"pb(release { event_id: ")pb", name, kind, at_s,
                      R"pb(" occurred_at { seconds: )pb", at_s, R"pb( } release: ")pb", name,
                      R"pb(" kind: )pb", kind, R"pb( team: ")pb", team, R"pb(" features: ")pb",
                      feature, R"pb(" })pb");
}

std::string Ticket(int64_t at_s, const std::string& type, const std::string& feature) {
  return absl::StrCat(R"pb(ticket { event_id: "t)pb", at_s, feature,
                      R"pb(" occurred_at { seconds: )pb", at_s, R"pb( } ticket_id: "T)pb", at_s,
                      feature, R"pb(" kind: CREATED type: )pb", type, R"pb( features: ")pb",
                      feature, R"pb(" })pb");
}

double Lift(const testing::Samples& samples, const std::string& release) {
  const std::string series =
      absl::StrCat("prodops_release_ticket_lift{release=\"", release, "\"}");
  EXPECT_EQ(samples.count(series), 1) << series;
  return samples.count(series) ? samples.at(series) : -1;
}

// r1 changes checkout at 12:30: its hour starts at 12:00. With `spread`,
// the events are of tasks 0, 1, 2 in turn, as if from three partitions.
void ApplyLiftScenario(SignalsHarness& harness, bool spread) {
  const std::vector<std::string> events = {
      Ticket(kNoonS - 8 * 24 * kHourS, "BUG", "checkout"),       // before the 168 h
      Ticket(kNoonS - 3 * 24 * kHourS, "BUG", "checkout"),       // baseline
      Ticket(kNoonS - 2 * 24 * kHourS, "QUESTION", "checkout"),  // baseline
      Ticket(kNoonS - 10 * kHourS, "BUG", "checkout"),           // baseline
      Ticket(kNoonS + 600, "BUG", "checkout"),  // 12:10: in the DEPLOY hour
      Release(kNoonS + 1800, "r1", "DEPLOY", "payments", "checkout"),
      Ticket(kNoonS + kHourS, "INCIDENT", "checkout"),
      Ticket(kNoonS + 3 * kHourS, "QUESTION", "checkout"),
      Ticket(kNoonS + 24 * kHourS, "BUG", "checkout"),  // hour 24: after
      Ticket(kNoonS + 5 * kHourS, "BUG", "search"),     // not its feature
      // r2 changes search, which had no ticket before.
      Release(kNoonS, "r2", "DEPLOY", "growth", "search"),
  };
  for (size_t i = 0; i < events.size(); ++i) {
    if (spread) harness.SelectTask(static_cast<state::TaskId>(i % 3));
    harness.Apply(events[i]);
  }
}

class ReleaseLiftTest : public ::testing::Test {
 protected:
  void SetUp() override { ApplyLiftScenario(harness_, /*spread=*/false); }

  SignalsHarness harness_;
};

// Tickets are kept per task; a release counts them (and finds its
// incident) over every task, also after a restart.
TEST(ReleaseTasksTest, TicketsOfSeveralTasksGiveTheSameSignalsAsOne) {
  SignalsHarness one;
  ApplyLiftScenario(one, /*spread=*/false);
  SignalsHarness spread;
  ApplyLiftScenario(spread, /*spread=*/true);
  const testing::Samples expected = one.Expose();
  EXPECT_EQ(Lift(expected, "r1"), 7);
  EXPECT_EQ(expected.at(R"(prodops_change_failures_total{team="payments"})"), 1);
  EXPECT_EQ(spread.Expose(), expected);
  MemoryStore store;
  spread.Flush(&store);
  std::set<std::string> tasks;
  for (const auto& [key, value] : store.Contents(state::Family::kSignals)) {
    tasks.insert(key.substr(0, 4));
  }
  EXPECT_EQ(tasks.size(), 3u);
  EXPECT_EQ(spread.Restart(store)->Expose(), expected);
}

TEST_F(ReleaseLiftTest, IsTheRateAfterOverTheRateInTheWeekBefore) {
  const testing::Samples samples = harness_.Expose();
  // (3 tickets / 24 h) / (3 tickets / 168 h)
  EXPECT_EQ(Lift(samples, "r1"), 7);
  // (1 / 24 h) / (zero baseline taken as 1 / 168 h)
  EXPECT_EQ(Lift(samples, "r2"), 7);
  EXPECT_EQ(samples.at(R"(prodops_release_timestamp_seconds{release="r1"})"), kNoonS + 1800);
  EXPECT_EQ(samples.at(R"(prodops_release_timestamp_seconds{release="r2"})"), kNoonS);
}

TEST_F(ReleaseLiftTest, IsFrozenOnceTheImpactWindowIsPastAndSurvivesRestarts) {
  MemoryStore store;
  harness_.Flush(&store);
  // Two days later every window is closed: the counts are frozen, and the
  // ticket hours they came from are gone after a week more.
  const int64_t later_ms = (kNoonS + 9 * 24 * kHourS) * 1000;
  EXPECT_EQ(Lift(harness_.Expose(later_ms), "r1"), 7);
  harness_.Apply(Ticket(kNoonS + 9 * 24 * kHourS, "BUG", "checkout"));
  harness_.Flush(&store);
  std::unique_ptr<SignalsHarness> restarted = harness_.Restart(store);
  const testing::Samples samples = restarted->Expose();
  EXPECT_EQ(Lift(samples, "r1"), 7);
  EXPECT_EQ(Lift(samples, "r2"), 7);
  EXPECT_EQ(samples, harness_.Expose());
}

TEST(ChangeFailuresTest, CountsEachFailedReleaseOnceWhateverTheArrivalOrder) {
  SignalsHarness harness;
  // r1: an INCIDENT about its feature 23:59:59 after the DEPLOY; a second
  // one changes nothing.
  harness.Apply(Release(kNoonS, "r1", "DEPLOY", "payments", "checkout"));
  harness.Apply(Ticket(kNoonS + 24 * kHourS - 1, "INCIDENT", "checkout"));
  harness.Apply(Ticket(kNoonS + 2 * kHourS, "INCIDENT", "checkout"));
  // r2: rolled back exactly 24 h later, out of its window.
  harness.Apply(Release(kNoonS, "r2", "DEPLOY", "growth", "onboarding"));
  harness.Apply(Release(kNoonS + 24 * kHourS, "r2", "ROLLBACK", "growth", "onboarding"));
  // r3 (12:30): an INCIDENT at 12:10 is before it; one at 12:45 arrives
  // before the DEPLOY does.
  harness.Apply(Ticket(kNoonS + 600, "INCIDENT", "search"));
  harness.Apply(Ticket(kNoonS + 2700, "INCIDENT", "search"));
  harness.Apply(Release(kNoonS + 1800, "r3", "DEPLOY", "growth", "search"));
  // r4: the HOTFIX arrives before its DEPLOY.
  harness.Apply(Release(kNoonS + 3600, "r4", "HOTFIX", "mobile", "settings"));
  harness.Apply(Release(kNoonS + 3300, "r4", "DEPLOY", "mobile", "settings"));
  // r5: an INCIDENT at 12:10 only, before its DEPLOY at 12:20.
  harness.Apply(Release(kNoonS + 1200, "r5", "DEPLOY", "insights", "search"));
  const testing::Samples samples = harness.Expose();
  EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="payments"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="growth"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="mobile"})"), 1);
  EXPECT_EQ(samples.count(R"(prodops_change_failures_total{team="insights"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_releases_total{team="growth",kind="deploy"})"), 2);
  EXPECT_EQ(samples.at(R"(prodops_releases_total{team="growth",kind="rollback"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_releases_total{team="mobile",kind="hotfix"})"), 1);
}

// An incident fails the open releases of its features: those of the
// earliest DEPLOY, which may come second, and those of releases loaded
// from the store.
TEST(ChangeFailuresTest, FollowTheFeaturesOfTheEarliestDeployAndSurviveRestarts) {
  SignalsHarness harness;
  harness.Apply(Release(kNoonS + 3600, "r1", "DEPLOY", "payments", "search"));
  harness.Apply(Release(kNoonS, "r1", "DEPLOY", "payments", "checkout"));  // defines r1
  harness.Apply(Release(kNoonS, "r2", "DEPLOY", "growth", "billing"));
  harness.Apply(Ticket(kNoonS + 2 * kHourS, "INCIDENT", "search"));  // no longer r1's
  EXPECT_EQ(harness.Expose().count(R"(prodops_change_failures_total{team="payments"})"),
            0);
  harness.Apply(Ticket(kNoonS + 3 * kHourS, "INCIDENT", "checkout"));
  harness.Apply(Ticket(kNoonS + 4 * kHourS, "INCIDENT", "checkout"));
  EXPECT_EQ(harness.Expose().at(R"(prodops_change_failures_total{team="payments"})"), 1);

  MemoryStore store;
  harness.Flush(&store);
  std::unique_ptr<SignalsHarness> restarted = harness.Restart(store);
  EXPECT_EQ(restarted->Expose().count(R"(prodops_change_failures_total{team="growth"})"),
            0);
  restarted->Apply(Ticket(kNoonS + 5 * kHourS, "INCIDENT", "billing"));
  restarted->Apply(Ticket(kNoonS + 6 * kHourS, "INCIDENT", "checkout"));
  const testing::Samples samples = restarted->Expose();
  EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="growth"})"), 1);
  EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="payments"})"), 1);
}

TEST(RecentReleasesTest, OnlyTheMostRecentDeploysAreExposed) {
  SignalsOptions options;
  options.releases.recent_releases = 2;
  SignalsHarness harness(options);
  harness.Apply(Release(kNoonS + 20, "r-b", "DEPLOY", "x", "f"));
  harness.Apply(Release(kNoonS + 10, "r-a", "DEPLOY", "x", "f"));  // the oldest
  harness.Apply(Release(kNoonS + 30, "r-c", "DEPLOY", "x", "f"));
  const testing::Samples samples = harness.Expose();
  EXPECT_EQ(samples.count(R"(prodops_release_timestamp_seconds{release="r-a"})"), 0);
  EXPECT_EQ(samples.at(R"(prodops_release_timestamp_seconds{release="r-b"})"), kNoonS + 20);
  EXPECT_EQ(samples.at(R"(prodops_release_timestamp_seconds{release="r-c"})"), kNoonS + 30);
  EXPECT_EQ(samples.at(R"(prodops_releases_total{team="x",kind="deploy"})"), 3);
}

// Many newer DEPLOYs read (one partition ran ahead) before the incident
// about an older release's feature (from another partition): the older
// release still fails, as it does when the incident is read first.
TEST(RecentReleasesTest, AReleaseIsKeptUntilItsImpactWindowClosesWhateverTheNewerOnes) {
  SignalsOptions options;
  options.releases.recent_releases = 2;
  auto run = [&](bool incident_first) {
    SignalsHarness harness(options);
    harness.Apply(Release(kNoonS, "r-old", "DEPLOY", "payments", "checkout"));
    const std::string incident = Ticket(kNoonS + 600, "INCIDENT", "checkout");
    if (incident_first) harness.Apply(incident);
    for (int i = 1; i <= 5; ++i) {
      harness.Apply(Release(kNoonS + 60 * i, "r-new" + std::to_string(i), "DEPLOY", "growth",
                            "search"));
    }
    if (!incident_first) harness.Apply(incident);
    return harness.Expose();
  };
  const testing::Samples in_order = run(true);
  const testing::Samples ahead = run(false);
  EXPECT_EQ(in_order.at(R"(prodops_change_failures_total{team="payments"})"), 1);
  EXPECT_EQ(ahead.at(R"(prodops_change_failures_total{team="payments"})"), 1);
  EXPECT_EQ(in_order, ahead);
  EXPECT_EQ(ahead.count(R"(prodops_release_timestamp_seconds{release="r-old"})"), 0)
      << "kept, but not among the 2 most recent";
}

// Feature signals, the lift and change failures join usage, ticket and
// release events: every arrival order of events within the allowed lateness
// gives the same exposition (5040 orders), a HOTFIX arriving before its
// DEPLOY and baseline tickets arriving after the release included.
TEST(ReleaseAndFeatureOrderTest,
     EveryArrivalOrderWithinTheLatenessGivesTheSameExposition) {
  std::vector<std::string> events = {
      Release(kNoonS, "r1", "DEPLOY", "payments", "checkout"),
      Release(kNoonS + 300, "r1", "HOTFIX", "payments", "checkout"),
      Ticket(kNoonS + 600, "INCIDENT", "checkout"),
      Ticket(kNoonS + 900, "QUESTION", "checkout"),
      Ticket(kNoonS - 1200, "BUG", "checkout"),
      Ticket(kNoonS - 1800, "BUG", "checkout"),
      "usage { event_id: \"u1\" occurred_at { seconds: " + std::to_string(kNoonS + 60) +
          " } user_id: \"u1\" feature: \"checkout\" action: \"view\" }",
  };
  std::sort(events.begin(), events.end());
  testing::Samples first;
  int orders = 0;
  do {
    SignalsHarness harness;
    for (const std::string& event : events) harness.Apply(event);
    const testing::Samples samples = harness.Expose();
    if (orders++ == 0) {
      first = samples;
      // Not empty: the values every order must agree on. Lift: 2 tickets
      // in the 24 h from 12:00 over 2 in the 168 h before: (2 / 24) / (2 /
      // 168) = 7.
      EXPECT_EQ(Lift(samples, "r1"), 7);
      EXPECT_EQ(samples.at(R"(prodops_change_failures_total{team="payments"})"), 1);
      EXPECT_EQ(samples.at(R"(prodops_releases_total{team="payments",kind="hotfix"})"),
                1);
      EXPECT_EQ(
          samples.at(R"(prodops_feature_howto_share{feature="checkout",window="1h"})"),
          0.25);
      EXPECT_EQ(
          samples.at(
              R"(prodops_feature_tickets_per_1k_users{feature="checkout",window="1h"})"),
          4000);
    } else {
      ASSERT_EQ(samples, first) << "order " << orders;
    }
  } while (std::next_permutation(events.begin(), events.end()));
  EXPECT_EQ(orders, 5040);
}

}  // namespace
}  // namespace prodops::signals
