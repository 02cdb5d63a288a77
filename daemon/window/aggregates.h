#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/state/store.h"
#include "daemon/window/buckets.h"
#include "daemon/window/series.h"
#include "daemon/window/task_aggregates.h"

namespace prodops::window {

// Every aggregate of the process, kept per task (state::TaskId: one
// partition number of the co-partitioned input topics) in a TaskAggregates
// each, so that the state built from a task's partitions can be stored,
// loaded and dropped on its own when the consumer group moves partitions.
//
// Writers (AddCounter, UpdateMax, the windowed updates) go to the task
// chosen by SelectTask(), task 0 until then. Readers see all tasks merged:
// counters and windowed counts summed, maxima the largest, distinct sets
// united (a HyperLogLog union has the registers, so the estimate, of one
// sketch fed every item). So what this process exposes does not depend on
// how its input is partitioned.
//
// ExpireBefore, CollectChanges and Written apply to every task; the bucket
// cache budget (Options::bucket_cache_bytes) is shared evenly among them.
// A window is read from the closed-bucket totals the tasks share
// (WindowTotals) and each task's newest bucket. See TaskAggregates for
// retention, the cache and the store layout.
//
// Single-threaded: owned by the pipeline thread.
class Aggregates {
 public:
  using Options = TaskAggregates::Options;
  explicit Aggregates(Options options);

  // Replaces the in-memory state with every task the store holds: Open,
  // then LoadTask for each. Call once, before any update. `store` must
  // outlive this object.
  [[nodiscard]] absl::Status Load(const state::StateStore& store);
  // Holds no task, and uses `store` for the tasks loaded or added from now
  // on.
  void Open(const state::StateStore& store);
  // Loads `task` from the store given to Open (replacing it if held).
  [[nodiscard]] absl::Status LoadTask(state::TaskId task);
  // Forgets `task`; changes not yet collected (CollectChanges) are lost.
  void DropTask(state::TaskId task);
  bool HoldsTask(state::TaskId task) const;

  // Where the next updates go; creates the task (empty) if it is new.
  void SelectTask(state::TaskId task);
  // The task SelectTask() chose last (0 before any): the task of the event
  // being processed, for the signal sets that keep state of their own.
  state::TaskId selected_task() const {
    return current_ != nullptr ? current_->task() : 0;
  }
  // The tasks held, ascending.
  std::vector<state::TaskId> Tasks() const;

  // Writers: see TaskAggregates.
  void AddCounter(const SeriesKey& series, uint64_t delta) {
    Current().AddCounter(series, delta);
  }
  void UpdateMax(const SeriesKey& series, int64_t value) {
    Current().UpdateMax(series, value);
  }
  bool AddWindowedCount(const SeriesKey& series, int64_t event_time_ms, uint64_t delta,
                        int64_t as_of_ms) {
    return Current().AddWindowedCount(series, event_time_ms, delta, as_of_ms);
  }
  bool AddWindowedDistinct(const SeriesKey& series, int64_t event_time_ms,
                           uint64_t item_hash, int64_t as_of_ms) {
    return Current().AddWindowedDistinct(series, event_time_ms, item_hash, as_of_ms);
  }

  // Readers, over all tasks: see TaskAggregates.
  void ForEachCounter(const std::function<void(const SeriesKey&, uint64_t)>& visit) const;
  void ForEachMax(const std::function<void(const SeriesKey&, int64_t)>& visit) const;
  void ForEachWindowedCount(
      const WindowSpec& window, int64_t as_of_ms,
      const std::function<void(const SeriesKey&, uint64_t)>& visit) const;
  void ForEachWindowedDistinct(
      const WindowSpec& window, int64_t as_of_ms,
      const std::function<void(const SeriesKey&, double estimate)>& visit) const;
  void ForEachBucketCount(int64_t bucket_ms, const BucketRange& range,
                          const std::function<void(int64_t start_ms, const SeriesKey&,
                                                   uint64_t)>& visit) const;
  bool AnyBucketInWindow(const WindowSpec& window, int64_t as_of_ms) const;
  // The earliest of the tasks' (TaskAggregates::HeldAfterMs).
  int64_t HeldAfterMs(int64_t bucket_ms, int64_t as_of_ms) const;

  // Whether an event at `event_time_ms` still lands in some window of the
  // selected task as of `as_of_ms` (the windowed updates return this).
  bool InRetention(int64_t event_time_ms, int64_t as_of_ms) const;

  // Every task.
  void ExpireBefore(int64_t as_of_ms);
  void CollectChanges(state::WriteSet* changes);
  void Written();

  using CacheStats = TaskAggregates::CacheStats;
  // Summed over tasks.
  CacheStats cache_stats() const;
  size_t PendingBytes() const;
  size_t MemoryBytes() const;

  const std::vector<WindowSpec>& windows() const { return options_.windows; }
  // Longest window + allowed lateness.
  int64_t RetentionMs() const { return layout_.RetentionMs(); }
  // The retention of buckets of width `bucket_ms`: the longest window of
  // that width + allowed lateness; 0 if no window uses the width.
  int64_t RetentionMs(int64_t bucket_ms) const { return layout_.RetentionMs(bucket_ms); }

 private:
  TaskAggregates& Current() {
    if (current_ == nullptr) SelectTask(0);
    return *current_;
  }
  // Adds a new, empty task.
  TaskAggregates& AddTask(state::TaskId task);
  // Visits each series of `window` as of `as_of_ms` once, with its value
  // over the window's closed buckets and in the newest bucket (null where it
  // has none), over every task; `part` picks the counts or the distincts of
  // a bucket or of the totals, and `counts_only` says which a read back
  // needs.
  template <typename Value, typename Part, typename Visit>
  void ForEachSeriesInWindow(const WindowSpec& window, int64_t as_of_ms, bool counts_only,
                             const Part& part, const Visit& visit) const;
  // Gives every task its share of the bucket cache budget.
  void ShareBudget();

  Options options_;
  BucketLayout layout_;
  // Before tasks_: they hold a pointer to it. Mutable: a read cache.
  mutable WindowTotals totals_;
  absl::flat_hash_map<state::TaskId, std::unique_ptr<TaskAggregates>> tasks_;
  TaskAggregates* current_ = nullptr;
  const state::StateStore* store_ = nullptr;  // set by Open()
};

}  // namespace prodops::window
