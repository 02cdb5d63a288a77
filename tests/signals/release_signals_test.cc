// Release impact on hand-computed scenarios: ticket lift, change failures
// whatever the arrival order, the bounded set of recent releases, restarts.
#include "daemon/signals/release_signals.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
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
// With `held`, a process that holds those tasks only: it reads every
// release, and the tickets of its tasks.
void ApplyLiftScenario(SignalsHarness& harness, bool spread,
                       const std::set<state::TaskId>& held = {0, 1, 2}) {
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
    const auto task = static_cast<state::TaskId>(spread ? i % 3 : 0);
    if (!held.contains(task) && events[i].find("release {") == std::string::npos) continue;
    harness.SelectTask(task);
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

// The ticket counts of a release, per process.
std::pair<double, double> Counts(const testing::Samples& samples, const std::string& release) {
  const std::string labels = absl::StrCat("{release=\"", release, "\"}");
  const std::string after = "prodops_release_tickets_after" + labels;
  const std::string before = "prodops_release_tickets_before" + labels;
  EXPECT_EQ(samples.count(after) + samples.count(before), 2) << labels;
  return {samples.count(after) ? samples.at(after) : -1,
          samples.count(before) ? samples.at(before) : -1};
}

// What a process that takes `tasks` over finds in its store: its own
// process state (meta of `meta_from`) and the tasks' entries as their last
// owner wrote them (`tasks_from`).
MemoryStore TasksOf(const MemoryStore& meta_from, const MemoryStore& tasks_from,
                    const std::set<state::TaskId>& tasks) {
  state::WriteSet copy;
  for (const auto& [key, value] : meta_from.Contents(state::Family::kMeta)) {
    copy.Put(state::Family::kMeta, key, value);
  }
  for (state::Family family : state::kTaskFamilies) {
    for (const auto& [key, value] : tasks_from.Contents(family)) {
      state::TaskId task = 0;
      if (state::ParseTaskPrefix(key, &task) && tasks.contains(task)) {
        copy.Put(family, key, value);
      }
    }
  }
  MemoryStore store;
  EXPECT_TRUE(store.Write(copy).ok());
  return store;
}

// Two processes that read every release and hold tasks {0, 2} and {1}:
// their ticket counts add up to one process's, before the release is
// frozen, after, and after restarts; the lift is recomputed from the sums.
TEST(ReleaseTasksTest, CountsOfTasksHeldByDifferentProcessesAddUp) {
  SignalsHarness one;
  ApplyLiftScenario(one, /*spread=*/true);
  auto first = std::make_unique<SignalsHarness>();
  ApplyLiftScenario(*first, /*spread=*/true, {0, 2});
  auto second = std::make_unique<SignalsHarness>();
  ApplyLiftScenario(*second, /*spread=*/true, {1});
  const int64_t frozen_ms = (kNoonS + 3 * 24 * kHourS) * 1000;
  const auto sums = [&](int64_t as_of_ms) {
    const testing::Samples a = first->Expose(as_of_ms);
    const testing::Samples b = second->Expose(as_of_ms);
    std::map<std::string, std::pair<double, double>> out;
    for (const std::string release : {"r1", "r2"}) {
      out[release] = {Counts(a, release).first + Counts(b, release).first,
                      Counts(a, release).second + Counts(b, release).second};
    }
    return out;
  };
  for (const int64_t as_of_ms : {int64_t{0}, frozen_ms}) {
    const testing::Samples expected = one.Expose(as_of_ms);
    EXPECT_EQ(Counts(expected, "r1"), std::make_pair(3.0, 3.0));
    EXPECT_EQ(Counts(expected, "r2"), std::make_pair(1.0, 0.0));
    EXPECT_EQ(expected.at("prodops_release_impact_window_seconds"), 24 * 3600);
    const auto summed = sums(as_of_ms);
    EXPECT_EQ(summed.at("r1"), Counts(expected, "r1"));
    EXPECT_EQ(summed.at("r2"), Counts(expected, "r2"));
    // Each process alone sees part of r1's tickets.
    EXPECT_NE(Counts(second->Expose(as_of_ms), "r1"), Counts(expected, "r1"));
    // (A / 24) / (max(B, 1) / 168) from the sums: the single process's lift.
    const auto [after, before] = summed.at("r1");
    EXPECT_EQ(after / 24 / (std::max(before, 1.0) / 168), Lift(expected, "r1"));
  }
  MemoryStore first_store;
  first->Flush(&first_store);
  MemoryStore second_store;
  second->Flush(&second_store);
  first = first->Restart(first_store);
  second = second->Restart(second_store);
  EXPECT_EQ(sums(frozen_ms).at("r1"), std::make_pair(3.0, 3.0));
}

// A task's counts for a frozen release move with the task; a task that
// comes without them (its last owner had not frozen the release) is
// frozen from its hours by the process that has.
TEST(ReleaseTasksTest, FrozenCountsMoveWithTheirTask) {
  SignalsHarness before_freeze;
  ApplyLiftScenario(before_freeze, /*spread=*/true);
  MemoryStore open_store;
  before_freeze.Flush(&open_store);

  SignalsHarness frozen;
  ApplyLiftScenario(frozen, /*spread=*/true);
  frozen.Apply(Ticket(kNoonS + 3 * 24 * kHourS, "BUG", "billing"));  // freezes r1, r2
  MemoryStore frozen_store;
  frozen.Flush(&frozen_store);
  size_t count_entries = 0;
  for (const auto& [key, value] : frozen_store.Contents(state::Family::kSignals)) {
    count_entries += key.find("release/c/") != std::string::npos;
  }
  EXPECT_EQ(count_entries, 6u) << "r1 and r2 in each of the 3 tasks";

  SignalsHarness task1_only;
  ApplyLiftScenario(task1_only, /*spread=*/true, {1});
  // Task 1 has the tickets at 12:10 and 15:00 after, 3 days before.
  const std::pair<double, double> task1 = Counts(task1_only.Expose(), "r1");
  EXPECT_EQ(task1, std::make_pair(2.0, 1.0));

  // Task 1 with its frozen counts.
  // (The harness reads its store as long as it lives.)
  MemoryStore with_counts = TasksOf(frozen_store, frozen_store, {1});
  EXPECT_EQ(Counts(frozen.Restart(with_counts)->Expose(), "r1"), task1);
  // Task 1 as its last owner left it before the freeze, taken by the
  // process that has frozen r1: frozen from its hours, and written.
  MemoryStore handed_over = TasksOf(frozen_store, open_store, {1});
  std::unique_ptr<SignalsHarness> taken = frozen.Restart(handed_over);
  EXPECT_EQ(Counts(taken->Expose(), "r1"), task1);
  MemoryStore written = TasksOf(frozen_store, open_store, {1});
  taken->Flush(&written);
  size_t written_counts = 0;
  for (const auto& [key, value] : written.Contents(state::Family::kSignals)) {
    written_counts += key.find("release/c/") != std::string::npos;
  }
  EXPECT_EQ(written_counts, 2u);
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

// A release frozen by a version that kept the process's counts in the
// release itself (no counts per task) shows those counts.
TEST(ReleaseTasksTest, CountsFrozenBeforeTheyWereKeptPerTaskAreShown) {
  prodops::state::ReleaseState release;
  release.set_team("payments");
  release.add_features("checkout");
  release.set_deployed(true);
  release.set_deploy_ms(kNoonS * 1000);
  release.set_frozen(true);
  release.set_tickets_after(5);
  release.set_tickets_before(2);
  state::WriteSet old;
  old.Put(state::Family::kMeta, "release/r/r-old", release.SerializeAsString());
  MemoryStore store;
  ASSERT_TRUE(store.Write(old).ok());
  SignalsHarness harness;
  harness.Apply(Ticket(kNoonS + 2 * 24 * kHourS, "BUG", "checkout"));
  harness.Flush(&store);
  EXPECT_EQ(Counts(harness.Restart(store)->Expose(), "r-old"), std::make_pair(5.0, 2.0));
}

// A later DEPLOY of an open release changes nothing: an incident still
// fails the release.
TEST(ChangeFailuresTest, ALaterSecondDeployLeavesTheReleaseOpenToIncidents) {
  SignalsHarness harness;
  harness.Apply(Release(kNoonS, "r1", "DEPLOY", "payments", "checkout"));
  harness.Apply(Release(kNoonS + kHourS, "r1", "DEPLOY", "payments", "checkout"));
  harness.Apply(Ticket(kNoonS + 2 * kHourS, "INCIDENT", "checkout"));
  EXPECT_EQ(harness.Expose().at(R"(prodops_change_failures_total{team="payments"})"), 1);
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

// Release events also read as broadcasts (as every process reads the
// release topics whole), before, after or between their task's reading,
// change nothing; read as broadcasts only, they define the releases for
// the tickets held, and count nothing.
TEST(ReleaseBroadcastTest, ReadingReleasesAlsoAsBroadcastsChangesNothing) {
  const std::vector<std::string> events = {
      Ticket(kNoonS - 1800, "BUG", "checkout"),
      Release(kNoonS, "r1", "DEPLOY", "payments", "checkout"),
      Release(kNoonS + 300, "r1", "HOTFIX", "payments", "checkout"),
      Ticket(kNoonS + 600, "INCIDENT", "checkout"),
      Release(kNoonS + 1200, "r2", "DEPLOY", "growth", "search"),
      Ticket(kNoonS + 1500, "INCIDENT", "search"),
      Release(kNoonS + 2400, "r2", "DEPLOY", "growth", "search"),
  };
  const auto is_release = [](const std::string& e) {
    return e.find("release {") != std::string::npos;
  };
  const int64_t frozen_ms = (kNoonS + 3 * 24 * kHourS) * 1000;
  SignalsHarness alone;
  for (const std::string& e : events) alone.Apply(e);
  const testing::Samples expected = alone.Expose();
  const testing::Samples expected_frozen = alone.Expose(frozen_ms);
  EXPECT_EQ(expected.at(R"(prodops_change_failures_total{team="payments"})"), 1);
  EXPECT_EQ(expected.at(R"(prodops_change_failures_total{team="growth"})"), 1);

  SignalsHarness before, after, between;
  for (const std::string& e : events) {
    if (is_release(e)) before.ApplyBroadcast(e);
  }
  for (const std::string& e : events) {
    before.Apply(e);
    after.Apply(e);
    between.Apply(e);
    if (is_release(e)) between.ApplyBroadcast(e);
  }
  for (const std::string& e : events) {
    if (is_release(e)) after.ApplyBroadcast(e);
  }
  for (SignalsHarness* harness : {&before, &after, &between}) {
    EXPECT_EQ(harness->Expose(), expected);
    EXPECT_EQ(harness->Expose(frozen_ms), expected_frozen);
  }

  SignalsHarness broadcast_only;
  for (const std::string& e : events) {
    if (is_release(e)) {
      broadcast_only.ApplyBroadcast(e);
    } else {
      broadcast_only.Apply(e);
    }
  }
  const testing::Samples samples = broadcast_only.Expose();
  EXPECT_EQ(Counts(samples, "r1"), Counts(expected, "r1"));
  EXPECT_EQ(Counts(samples, "r2"), Counts(expected, "r2"));
  EXPECT_EQ(samples.count(R"(prodops_releases_total{team="payments",kind="deploy"})"), 0);
}

}  // namespace
}  // namespace prodops::signals
