#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "daemon/state/store.h"
#include "prodops/v1/events.pb.h"
#include "prometheus/metric_family.h"

namespace prodops::signals {

// A group of related signals (product usage, tickets, features, ...): it
// consumes accepted events, keeps its state in the shared Aggregates and, if
// it needs more, in its own store entries, and exposes metric families.
//
// Everything is called on the pipeline thread. State written through
// CollectChanges() goes to the store in the same atomic write as the input
// offsets, so a set that keeps all its state that way is exactly-once for
// free. Results must depend only on the events (and as_of), never on wall
// time or on the order of calls between flushes.
class SignalSet {
 public:
  virtual ~SignalSet() = default;

  // Restores the set's own state (beyond the Aggregates): Open, then
  // LoadTask for every task the store holds. Called once, after the
  // Aggregates are loaded.
  [[nodiscard]] absl::Status Load(const state::StateStore& store);

  // Restores the state of the process (not of a task), and uses `store`
  // for the tasks loaded from now on. Called once, before LoadTask.
  [[nodiscard]] virtual absl::Status Open(const state::StateStore& store) {
    return absl::OkStatus();
  }
  // Restores `task`'s state from the store given to Open: its partitions
  // were assigned to this process. Called after the Aggregates loaded it.
  [[nodiscard]] virtual absl::Status LoadTask(state::TaskId task) {
    return absl::OkStatus();
  }
  // Forgets `task`'s state: its partitions were revoked, and what changed
  // was collected (CollectChanges) first; anything not collected is lost.
  virtual void DropTask(state::TaskId task) {}

  // Applies one valid event with occurred_at `occurred_ms`; `as_of_ms` is
  // the pipeline's watermark (see Pipeline::Watermark): events and timers
  // at or before as_of_ms - allowed lateness are final.
  virtual void Apply(const prodops::v1::Event& event, int64_t occurred_ms,
                     int64_t as_of_ms) = 0;

  // Applies a valid event that every process reads whole, whichever
  // partitions it holds (Pipeline::ProcessBroadcast): state of the process,
  // never of a task, and nothing counted. The process that holds the
  // event's partition also gets it through Apply, before or after, so the
  // two must commute and repeat harmlessly.
  virtual void ApplyBroadcast(const prodops::v1::Event& event, int64_t occurred_ms) {}

  // Time-driven work up to `as_of_ms`, the watermark (timers, expiry).
  // Called before every flush and snapshot.
  virtual void Advance(int64_t as_of_ms) {}

  // Appends the set's own state changes since the last call.
  virtual void CollectChanges(state::WriteSet* changes) {}

  // The changes collected so far are in the store (the write that took
  // them succeeded): state kept only for the store may leave memory now,
  // unless it changed after it was collected (events may be applied while
  // the write runs; see Pipeline::Flush).
  virtual void Written() {}

  // Approximate bytes of changes not yet collected (counts toward the
  // flush-when-full budget).
  virtual size_t PendingBytes() const { return 0; }

  // Appends the families this set computes itself (ratios, histograms,
  // gauges); stored counters and windowed distincts in the catalog are
  // exposed by CollectStored() and must not be repeated here.
  virtual void Collect(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const {}
};

}  // namespace prodops::signals
