#include "daemon/sim/simulator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "daemon/decode/decode.h"

namespace prodops::sim {
namespace {

using prodops::v1::Event;

constexpr int64_t kStartMs = 1'700'000'000'000;

std::vector<Event> Simulate(const SimulatorOptions& options, int64_t seconds) {
  Simulator simulator(options);
  std::vector<Event> events;
  for (int64_t s = 0; s < seconds; ++s) {
    simulator.Generate(kStartMs + s * 1000, kStartMs + (s + 1) * 1000, &events);
  }
  return events;
}

// bench/run.sh's product: 500 features of 40 teams, 1,000 accounts.
SimulatorOptions BenchShape() {
  SimulatorOptions shape;
  shape.events_per_second = 1000;
  shape.users = 100'000;
  shape.users_per_account = 100;
  shape.features = 500;
  shape.teams = 40;
  shape.mix = {.usage = 90, .ticket = 8, .release = 1, .exposure = 1};
  return shape;
}

TEST(SimulatorTest, TheSameOptionsGiveTheSameEvents) {
  for (const SimulatorOptions& options : {SimulatorOptions{}, BenchShape()}) {
    const std::vector<Event> a = Simulate(options, 60);
    const std::vector<Event> b = Simulate(options, 60);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_FALSE(a.empty());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString()) << "event " << i;
    }
  }
}

TEST(SimulatorTest, AMixGivesThoseSharesOfEvents) {
  // A ticket's events spread over up to 25 minutes (a reopen included):
  // count from then on, where the lifecycles started before have caught up.
  const std::vector<Event> events = Simulate(BenchShape(), 2400);
  std::map<Event::PayloadCase, double> count;
  double total = 0;
  for (const Event& event : events) {
    if (decode::OccurredAtMillis(event) < kStartMs + 1'500'000) continue;
    ++count[event.payload_case()];
    ++total;
  }
  // 1000 events/s, give or take the Poisson arrivals.
  EXPECT_NEAR(total, 900'000, 20'000);
  EXPECT_NEAR(count[Event::kUsage] / total, 0.90, 0.01);
  // Tight enough to see a ticket's average number of events (kTicketSteps)
  // off by one reopen in ten.
  EXPECT_NEAR(count[Event::kTicket] / total, 0.08, 0.003);
  EXPECT_NEAR(count[Event::kRelease] / total, 0.01, 0.002);
  EXPECT_NEAR(count[Event::kExposure] / total, 0.01, 0.002);
}

TEST(SimulatorTest, TheDefaultMixIsTheDemos) {
  SimulatorOptions demo;
  demo.events_per_second = 1000;
  const std::vector<Event> events = Simulate(demo, 600);
  std::map<Event::PayloadCase, double> count;
  for (const Event& event : events) ++count[event.payload_case()];
  const double total = static_cast<double>(events.size());
  EXPECT_NEAR(count[Event::kUsage] / total, 0.92, 0.01);
  EXPECT_NEAR(count[Event::kExposure] / total, 0.054, 0.005);
  // One release every three minutes (and a rollback now and then).
  EXPECT_GE(count[Event::kRelease], 3);
  EXPECT_LE(count[Event::kRelease], 8);
}

TEST(SimulatorTest, AShapeSetsTheFeaturesTeamsAndAccounts) {
  const std::vector<Event> events = Simulate(BenchShape(), 300);
  std::set<std::string> features, teams, accounts;
  bool goal_seen = false;
  for (const Event& event : events) {
    if (event.has_usage()) {
      const v1::UsageEvent& usage = event.usage();
      features.insert(usage.feature());
      accounts.insert(usage.account_id());
      // A user's account is user / users_per_account.
      const int user = std::stoi(usage.user_id().substr(5));
      EXPECT_EQ(usage.account_id(), "account-" + std::to_string(user / 100));
      goal_seen |= usage.feature() == "checkout" && usage.action() == "submit";
    } else if (event.has_release()) {
      teams.insert(event.release().team());
    }
  }
  // The Zipf-like tail: most of the 500 are used within 5 minutes, none
  // beyond them.
  EXPECT_GT(features.size(), 400u);
  EXPECT_LE(features.size(), 500u);
  EXPECT_TRUE(features.contains("search"));
  EXPECT_TRUE(features.contains("feature-499") || features.contains("feature-498"));
  EXPECT_GT(teams.size(), 30u);
  EXPECT_LE(teams.size(), 40u);
  EXPECT_GT(accounts.size(), 900u);
  EXPECT_LE(accounts.size(), 1000u);
  // The experiment's goal still comes from its flow.
  EXPECT_TRUE(goal_seen);
}

}  // namespace
}  // namespace prodops::sim
