#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "daemon/signals/catalog.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/signal_set.h"
#include "daemon/window/aggregates.h"
#include "prodops/state/release_state.pb.h"

namespace prodops::signals {

// From DaemonConfig.signals.releases and windows.allowed_lateness_seconds.
struct ReleaseOptions {
  // Impact window after a DEPLOY. Default: 24 h.
  int64_t impact_ms = 24 * 3'600'000;
  // Releases exposed (and tracked), most recent DEPLOY first. Default: 20.
  size_t recent_releases = 20;
  // Default: 1 h.
  int64_t allowed_lateness_ms = 3'600'000;
};

// Release impact:
//  - prodops_releases_total{team,kind}: release events, by team and kind;
//  - prodops_release_tickets_after{release} (A) and
//    prodops_release_tickets_before{release} (B): with H the UTC hour
//    holding the release's earliest DEPLOY and N the impact hours, tickets
//    created about the release's features in the N hours from H, and in the
//    168 hours before H (a ticket about k of the features counts k times),
//    over the tasks held: additive, so the sums over the processes of a
//    group are the counts of all tickets;
//  - prodops_release_ticket_lift{release}: (A / N) / (max(B, 1) / 168). Until
//    H + N it is the count so far over N hours, so it only rises; a zero
//    baseline counts as one ticket, to stay finite. A ratio: across
//    processes, recompute it from the sums of A and B (deploy/prometheus);
//  - prodops_release_impact_window_seconds: N hours in seconds, for that
//    recomputation;
//  - prodops_release_timestamp_seconds{release}: that earliest DEPLOY;
//  - prodops_change_failures_total{team}: releases with a ROLLBACK or
//    HOTFIX of the same release, or an INCIDENT ticket created about one of
//    their features, in [deploy, deploy + N h); each release at most once.
// The per-release gauges are exposed for the `recent_releases` releases with
// the latest DEPLOY only; older ones are forgotten.
//
// Determinism: every value is a function of the events, whatever their
// order, as long as each arrives within allowed lateness of the newest
// event time. Tickets are kept per (feature label, UTC hour) for 168 + N + 2
// hours + lateness; a release's counts are frozen, per task, once H + N h is
// past the lateness. The incident check is exact to the millisecond: each
// hour keeps its first and last incident time.
//
// State (persisted through CollectChanges, so exactly-once with the
// offsets):
//   Family::kMeta "release/r/" + release name -> prodops.state.ReleaseState,
//   the process's: releases are about every partition's tickets, and every
//   process reads every release (ApplyBroadcast);
//   Family::kSignals, task prefix + "release/h/" + feature label + "\0" +
//   hour start (u64 BE, sign bit flipped) -> prodops.state.FeatureHourState,
//   the tickets of each task (the one the shared Aggregates has selected);
//   a release counts them over every task held;
//   Family::kSignals, task prefix + "release/c/" + release name ->
//   prodops.state.ReleaseTaskCounts, a task's counts for a frozen release:
//   they move with the task, and its next owner freezes the releases it has
//   frozen itself from the task's hours when the task brings no counts.
// Bounded: releases whose impact window has not closed (DEPLOY + N h +
// lateness), recent_releases closed ones, and releases seen only through a
// ROLLBACK or HOTFIX within lateness; (feature budget + 1) x hours kept.
//
// Feature labels of tickets are looked up in `budget` without admitting:
// FeatureSignals, registered before this set, admits them. Single-threaded.
class ReleaseSignals final : public SignalSet {
 public:
  // `budget` and `aggregates` must outlive this.
  ReleaseSignals(ReleaseOptions options, LabelBudget* budget, window::Aggregates* aggregates);

  absl::Status Open(const state::StateStore& store) override;
  absl::Status LoadTask(state::TaskId task) override;
  void DropTask(state::TaskId task) override;
  void Apply(const prodops::v1::Event& event, int64_t occurred_ms, int64_t as_of_ms) override;
  // A release event read by every process: it defines the release here too,
  // so that this process's tickets count for it.
  void ApplyBroadcast(const prodops::v1::Event& event, int64_t occurred_ms) override;
  void Advance(int64_t as_of_ms) override;
  void CollectChanges(state::WriteSet* changes) override;
  size_t PendingBytes() const override { return pending_bytes_; }
  void Collect(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const override;

 private:
  using Hours = std::map<int64_t, prodops::state::FeatureHourState>;  // by hour start
  struct Counts {
    uint64_t after = 0;
    uint64_t before = 0;
  };

  // Counts the event, then updates the release and checks it for failure.
  void ApplyRelease(const prodops::v1::ReleaseEvent& release, int64_t at_ms);
  // Takes the event into the release's state (idempotent). `from_task`: the
  // event is of a task held (Apply), not a broadcast: labels are admitted
  // (counting an overflow), and a failure is counted.
  void UpdateRelease(const prodops::v1::ReleaseEvent& event, int64_t at_ms,
                     bool from_task);
  // The label of `value`: admitted (an overflow counted) for a task's
  // event, else admitted only if the budget has room.
  std::string_view Label(BudgetedLabel label, std::string_view value, bool from_task);
  void ApplyTicket(const prodops::v1::TicketEvent& ticket, int64_t at_ms);
  // Marks `release` failed (and counts it) if a failure is in its window.
  void CheckFailure(const std::string& name, prodops::state::ReleaseState* release);
  bool IncidentWithin(const prodops::state::ReleaseState& release) const;
  // `task`'s tickets about the release's features in [from, to) hours.
  uint64_t TicketsInHours(const prodops::state::ReleaseState& release, state::TaskId task,
                          int64_t from_ms, int64_t to_ms) const;
  // Visits the hours of each of the release's features in `task`.
  void ForEachHours(const prodops::state::ReleaseState& release, state::TaskId task,
                    const std::function<void(const Hours&)>& visit) const;
  // The release's counts in `task`: frozen, or from its hours.
  Counts TaskCounts(state::TaskId task, const std::string& name,
                    const prodops::state::ReleaseState& release) const;
  // The release's counts over the tasks held.
  Counts HeldCounts(const std::string& name,
                    const prodops::state::ReleaseState& release) const;
  // Fixes `task`'s counts for the frozen release `name`, unless they are.
  void FreezeTask(state::TaskId task, const std::string& name,
                  const prodops::state::ReleaseState& release);
  // Forgets the release, and its counts in the tasks held.
  void Forget(const std::string& name);
  void ForgetOldestReleases();
  void MarkRelease(const std::string& name) { dirty_releases_.insert(name); }
  // Keep open_by_feature_ in step with a release: Unindex before changing
  // its features or its state, Index after.
  void Index(const std::string& name, const prodops::state::ReleaseState& release);
  void Unindex(const std::string& name, const prodops::state::ReleaseState& release);

  ReleaseOptions options_;
  LabelBudget* budget_;
  window::Aggregates* aggregates_;
  absl::flat_hash_map<std::string, prodops::state::ReleaseState> releases_;
  // By state::TaskKey(task, feature label): tickets are a task's.
  absl::flat_hash_map<std::string, Hours> hours_;
  // By state::TaskKey(task, release name): the counts of frozen releases.
  absl::flat_hash_map<std::string, prodops::state::ReleaseTaskCounts> frozen_counts_;
  absl::flat_hash_set<state::TaskId> tasks_;  // the tasks held
  const state::StateStore* store_ = nullptr;  // set by Open()
  // Feature label -> the releases about it that an incident can still fail
  // (deployed, neither failed nor frozen): an incident ticket checks these,
  // not every release in its impact window (thousands, for teams that
  // release often).
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> open_by_feature_;
  // Tickets older than this are not kept (the largest cutoff so far).
  int64_t hours_cutoff_ms_ = INT64_MIN;
  absl::flat_hash_set<std::string> dirty_releases_;      // put, or delete if gone
  std::set<std::pair<std::string, int64_t>> dirty_hours_;  // put, or delete if gone
  absl::flat_hash_set<std::string> dirty_counts_;          // put, or delete if gone
  size_t pending_bytes_ = 0;
};

std::vector<MetricDef> ReleaseMetricDefs();
inline constexpr std::string_view kReleasesTotal = "prodops_releases_total";
inline constexpr std::string_view kReleaseTicketLift = "prodops_release_ticket_lift";
inline constexpr std::string_view kReleaseTicketsAfter = "prodops_release_tickets_after";
inline constexpr std::string_view kReleaseTicketsBefore = "prodops_release_tickets_before";
inline constexpr std::string_view kReleaseImpactWindow =
    "prodops_release_impact_window_seconds";
inline constexpr std::string_view kReleaseTimestamp = "prodops_release_timestamp_seconds";
inline constexpr std::string_view kChangeFailuresTotal = "prodops_change_failures_total";

}  // namespace prodops::signals
