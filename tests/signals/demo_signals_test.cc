// The embedded demo must move every product-ops signal: hours of its
// simulator, fed through the signal sets with config/demo.textproto's
// settings, leave no signal flat.
#include <memory>
#include <string>
#include <vector>

#include "daemon/app/options.h"
#include "daemon/config/config.h"
#include "daemon/sim/simulator.h"
#include "gtest/gtest.h"
#include "tests/signals/signals_harness.h"

namespace prodops::signals {
namespace {

using testing::MaxOf;
using testing::Samples;
using testing::SignalsHarness;
using testing::SumOf;

TEST(DemoSignalsTest, ThreeHoursOfTheDemoMoveEverySignal) {
  const absl::StatusOr<prodops::v1::DaemonConfig> config =
      config::LoadConfigFile("config/demo.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  const app::PipelineOptions pipeline = app::ToPipelineOptions(*config);
  // With a store, flushed every simulated minute as the pipeline does it:
  // solved tickets then leave memory and expire from RocksDB, as in the
  // daemon.
  testing::MemoryStore store;
  std::unique_ptr<SignalsHarness> harness =
      SignalsHarness(pipeline.signals, pipeline.windows).Restart(store);

  // A tenth of the demo's rate keeps this test quick under the sanitizers;
  // releases, their incident bursts and the ticket lifecycles keep the
  // demo's schedule, which is what the signals follow.
  sim::SimulatorOptions options = app::ToSimulatorOptions(*config);
  options.events_per_second = 20;
  sim::Simulator simulator(options);
  // From a whole UTC hour, so that three complete hours pass.
  const int64_t start_ms = testing::kNoonS * 1000;
  std::vector<prodops::v1::Event> events;
  for (int64_t s = 0; s < 3 * 3600 + 60; ++s) {
    events.clear();
    simulator.Generate(start_ms + s * 1000, start_ms + (s + 1) * 1000, &events);
    for (const prodops::v1::Event& event : events) harness->Apply(event);
    if (s % 60 == 59) harness->Flush(&store);
  }
  const Samples samples = harness->Expose();

  // The issue's signals, each of which must have moved.
  for (const std::string name : {
           "prodops_usage_events_total",
           "prodops_active_users",
           "prodops_tickets_created_total",
           "prodops_tickets_solved_total",
           "prodops_tickets_reopened_total",
           "prodops_tickets_open",
           "prodops_tickets_unassigned_open",
           "prodops_ticket_oldest_open_age_seconds",
           "prodops_ticket_first_reply_seconds_count",
           "prodops_ticket_resolution_seconds_count",
           "prodops_sla_breaches_total",
           "prodops_ticket_reassignments_total",
           "prodops_ticket_pingpong_total",
           "prodops_firefighting_ratio",
           "prodops_firefighting_reactive_tickets",
           "prodops_firefighting_tickets",
           "prodops_firefighting_spike_score",
           "prodops_firefighting_spike",
           "prodops_feature_adoption_ratio",
           "prodops_feature_tickets_per_1k_users",
           "prodops_feature_howto_share",
           "prodops_releases_total",
           "prodops_release_timestamp_seconds",
           "prodops_release_ticket_lift",
           "prodops_change_failures_total",
           "prodops_experiment_exposed_users",
           "prodops_experiment_converted_users",
           "prodops_experiment_multi_variant_users",
       }) {
    EXPECT_GT(SumOf(samples, name), 0) << name;
  }
  // Both SLA clocks breach, and rollbacks count as releases of their own
  // kind.
  EXPECT_GT(SumOf(samples, "prodops_sla_breaches_total", R"(clock="first_reply")"), 0);
  EXPECT_GT(SumOf(samples, "prodops_sla_breaches_total", R"(clock="resolution")"), 0);
  EXPECT_GT(SumOf(samples, "prodops_releases_total", R"(kind="rollback")"), 0);
  // Against a quiet baseline (the first hours have no history), the
  // incident bursts after releases raise the spike flag.
  EXPECT_EQ(MaxOf(samples, "prodops_firefighting_spike"), 1);
  // The 55/45 delivery of a 50/50 experiment: a sample ratio mismatch. The
  // demo has 400 users, so the p-value settles once they have all been
  // exposed; with the demo's seed (1) their split is significant at 5%.
  EXPECT_LT(samples.at(R"(prodops_experiment_srm_p_value{experiment="new_checkout"})"),
            0.05);
}

}  // namespace
}  // namespace prodops::signals
