#include "daemon/window/aggregates.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "daemon/window/hll.h"
#include "daemon/window/series_maps.h"

namespace prodops::window {
namespace {

using Tasks = absl::flat_hash_map<state::TaskId, std::unique_ptr<TaskAggregates>>;

// The values `read` finds in every task, a series found in several tasks
// combined with `combine(Value& into, const Value& more)`. `read(task,
// add)` calls add(series, value) for each series of the task.
template <typename Value, typename Read, typename Combine>
absl::flat_hash_map<SeriesKey, Value> Merge(const Tasks& tasks, const Read& read,
                                            const Combine& combine) {
  absl::flat_hash_map<SeriesKey, Value> merged;
  const auto add = [&](const SeriesKey& series, const Value& value) {
    const auto [it, inserted] = merged.try_emplace(series, value);
    if (!inserted) combine(it->second, value);
  };
  for (const auto& [task, aggregates] : tasks) read(*aggregates, add);
  return merged;
}

template <typename Value>
void Sum(Value& into, const Value& more) {
  into += more;
}

}  // namespace

Aggregates::Aggregates(Options options)
    : options_(std::move(options)),
      layout_(options_.windows, options_.allowed_lateness_ms),
      totals_(options_.windows) {}

absl::Status Aggregates::Load(const state::StateStore& store) {
  Open(store);
  std::set<state::TaskId> stored;
  for (state::Family family : {state::Family::kCounters, state::Family::kBuckets}) {
    absl::StatusOr<std::vector<state::TaskId>> tasks = state::StoredTasks(store, family);
    if (!tasks.ok()) return tasks.status();
    stored.insert(tasks->begin(), tasks->end());
  }
  for (state::TaskId task : stored) {
    if (absl::Status s = LoadTask(task); !s.ok()) {
      tasks_.clear();  // half-loaded state must not be mistaken for the real one
      return s;
    }
  }
  return absl::OkStatus();
}

void Aggregates::Open(const state::StateStore& store) {
  store_ = &store;
  tasks_.clear();
  totals_.Clear();
  current_ = nullptr;
}

absl::Status Aggregates::LoadTask(state::TaskId task) {
  auto aggregates = std::make_unique<TaskAggregates>(options_, task, &totals_);
  if (absl::Status s = aggregates->Load(*store_); !s.ok()) return s;
  DropTask(task);
  tasks_.emplace(task, std::move(aggregates));
  // The shared totals lack the new task's buckets.
  totals_.Clear();
  ShareBudget();
  return absl::OkStatus();
}

void Aggregates::DropTask(state::TaskId task) {
  const auto it = tasks_.find(task);
  if (it == tasks_.end()) return;
  if (current_ == it->second.get()) current_ = nullptr;
  tasks_.erase(it);
  // The shared totals hold the dropped task's buckets.
  totals_.Clear();
  ShareBudget();
}

bool Aggregates::HoldsTask(state::TaskId task) const { return tasks_.contains(task); }

TaskAggregates& Aggregates::AddTask(state::TaskId task) {
  // Empty: the shared totals stay as they are.
  auto aggregates = std::make_unique<TaskAggregates>(options_, task, &totals_);
  if (store_ != nullptr) aggregates->UseStore(*store_);  // new to the store
  TaskAggregates& added = *aggregates;
  tasks_.emplace(task, std::move(aggregates));
  ShareBudget();
  return added;
}

void Aggregates::SelectTask(state::TaskId task) {
  if (current_ != nullptr && current_->task() == task) return;
  const auto it = tasks_.find(task);
  current_ = it != tasks_.end() ? it->second.get() : &AddTask(task);
}

std::vector<state::TaskId> Aggregates::Tasks() const {
  std::vector<state::TaskId> tasks;
  for (const auto& [task, unused] : tasks_) tasks.push_back(task);
  std::sort(tasks.begin(), tasks.end());
  return tasks;
}

void Aggregates::ShareBudget() {
  if (options_.bucket_cache_bytes == 0 || tasks_.empty()) return;  // 0: no budget
  const size_t share = std::max<size_t>(1, options_.bucket_cache_bytes / tasks_.size());
  for (auto& [task, aggregates] : tasks_) aggregates->set_bucket_cache_bytes(share);
}

// Each reader asks the one task directly when there is one (the common
// case, and free of copies), and merges otherwise.

void Aggregates::ForEachCounter(
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  if (tasks_.size() == 1) return tasks_.begin()->second->ForEachCounter(visit);
  const auto merged = Merge<uint64_t>(
      tasks_,
      [](const TaskAggregates& task, const auto& add) { task.ForEachCounter(add); },
      Sum<uint64_t>);
  for (const auto& [series, value] : merged) visit(series, value);
}

void Aggregates::ForEachMax(
    const std::function<void(const SeriesKey&, int64_t)>& visit) const {
  if (tasks_.size() == 1) return tasks_.begin()->second->ForEachMax(visit);
  const auto merged = Merge<int64_t>(
      tasks_, [](const TaskAggregates& task, const auto& add) { task.ForEachMax(add); },
      [](int64_t& into, int64_t more) { into = std::max(into, more); });
  for (const auto& [series, value] : merged) visit(series, value);
}

template <typename Value, typename Part, typename Visit>
void Aggregates::ForEachSeriesInWindow(const WindowSpec& window, int64_t as_of_ms,
                                       bool counts_only, const Part& part,
                                       const Visit& visit) const {
  const BucketRange range = TrailingBuckets(as_of_ms, window);
  ClosedTotals scratch;
  const ClosedTotals* closed = totals_.TotalsFor(
      window, range, &scratch,
      [this](int64_t width, const BucketRange& closed_range, ClosedTotals* into) {
        bool complete = true;
        for (const auto& [task, aggregates] : tasks_) {
          complete = aggregates->AddClosedTo(width, closed_range, into) && complete;
        }
        return complete;
      });
  static const absl::flat_hash_map<SeriesKey, Value> kNone;
  const auto& closed_values = closed != nullptr ? part(*closed) : kNone;
  const auto visit_with = [&](const absl::flat_hash_map<SeriesKey, Value>& newest) {
    for (const auto& [series, value] : closed_values) {
      const auto it = newest.find(series);
      visit(series, &value, it != newest.end() ? &it->second : nullptr);
    }
    for (const auto& [series, value] : newest) {
      if (!closed_values.contains(series)) visit(series, nullptr, &value);
    }
  };
  const BucketRange newest_range{range.last_start_ms, range.last_start_ms};
  if (tasks_.size() == 1) {
    // One task's newest bucket is read in place.
    bool visited = false;
    tasks_.begin()->second->VisitBuckets(
        window.bucket_ms, newest_range, counts_only,
        [&](int64_t, const TaskAggregates::Bucket& newest) {
          visited = true;
          visit_with(part(newest));
        });
    if (!visited) visit_with(kNone);
    return;
  }
  absl::flat_hash_map<SeriesKey, Value> newest;
  for (const auto& [task, aggregates] : tasks_) {
    aggregates->VisitBuckets(window.bucket_ms, newest_range, counts_only,
                             [&](int64_t, const TaskAggregates::Bucket& bucket) {
                               for (const auto& [series, value] : part(bucket)) {
                                 internal::AddInto(series, value, &newest);
                               }
                             });
  }
  visit_with(newest);
}

void Aggregates::ForEachWindowedCount(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  ForEachSeriesInWindow<uint64_t>(
      window, as_of_ms, /*counts_only=*/true,
      [](const auto& parts) -> const auto& { return parts.counts; },
      [&visit](const SeriesKey& series, const uint64_t* closed, const uint64_t* newest) {
        visit(series,
              (closed != nullptr ? *closed : 0) + (newest != nullptr ? *newest : 0));
      });
}

void Aggregates::ForEachWindowedDistinct(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, double estimate)>& visit) const {
  ForEachSeriesInWindow<HyperLogLog>(
      window, as_of_ms, /*counts_only=*/false,
      [](const auto& parts) -> const auto& { return parts.distincts; },
      [&visit](const SeriesKey& series, const HyperLogLog* closed,
               const HyperLogLog* newest) {
        // A sketch in one part only is estimated in place, not copied.
        if (closed == nullptr || newest == nullptr) {
          visit(series, (closed != nullptr ? closed : newest)->Estimate());
          return;
        }
        HyperLogLog merged = *closed;
        merged.Merge(*newest);
        visit(series, merged.Estimate());
      });
}

void Aggregates::ForEachBucketCount(
    int64_t bucket_ms, const BucketRange& range,
    const std::function<void(int64_t start_ms, const SeriesKey&, uint64_t)>& visit)
    const {
  if (tasks_.size() == 1) {
    return tasks_.begin()->second->ForEachBucketCount(bucket_ms, range, visit);
  }
  // Bucket by bucket in ascending start order, as one task would.
  std::map<int64_t, absl::flat_hash_map<SeriesKey, uint64_t>> by_start;
  for (const auto& [task, aggregates] : tasks_) {
    aggregates->ForEachBucketCount(
        bucket_ms, range, [&](int64_t start_ms, const SeriesKey& series, uint64_t count) {
          by_start[start_ms][series] += count;
        });
  }
  for (const auto& [start_ms, counts] : by_start) {
    for (const auto& [series, count] : counts) visit(start_ms, series, count);
  }
}

bool Aggregates::AnyBucketInWindow(const WindowSpec& window, int64_t as_of_ms) const {
  return std::any_of(tasks_.begin(), tasks_.end(), [&](const auto& entry) {
    return entry.second->AnyBucketInWindow(window, as_of_ms);
  });
}

int64_t Aggregates::HeldAfterMs(int64_t bucket_ms, int64_t as_of_ms) const {
  // Without tasks nothing was expired: as of as_of_ms, like a new task.
  int64_t held_after_ms = as_of_ms - layout_.RetentionMs(bucket_ms);
  for (const auto& [task, aggregates] : tasks_) {
    held_after_ms = std::min(held_after_ms, aggregates->HeldAfterMs(bucket_ms, as_of_ms));
  }
  return held_after_ms;
}

bool Aggregates::InRetention(int64_t event_time_ms, int64_t as_of_ms) const {
  if (current_ == nullptr) return event_time_ms > as_of_ms - layout_.RetentionMs();
  return current_->InRetention(event_time_ms, as_of_ms);
}

void Aggregates::ExpireBefore(int64_t as_of_ms) {
  for (auto& [task, aggregates] : tasks_) aggregates->ExpireBefore(as_of_ms);
}

void Aggregates::CollectChanges(state::WriteSet* changes) {
  for (auto& [task, aggregates] : tasks_) aggregates->CollectChanges(changes);
}

void Aggregates::Written() {
  for (auto& [task, aggregates] : tasks_) aggregates->Written();
}

Aggregates::CacheStats Aggregates::cache_stats() const {
  CacheStats sum;
  sum.totals_bytes = totals_.MemoryBytes();
  for (const auto& [task, aggregates] : tasks_) {
    const CacheStats stats = aggregates->cache_stats();
    sum.bucket_bytes += stats.bucket_bytes;
    sum.evictions += stats.evictions;
    sum.store_reads += stats.store_reads;
    sum.read_errors += stats.read_errors;
  }
  return sum;
}

size_t Aggregates::PendingBytes() const {
  size_t bytes = 0;
  for (const auto& [task, aggregates] : tasks_) bytes += aggregates->PendingBytes();
  return bytes;
}

size_t Aggregates::MemoryBytes() const {
  size_t bytes = totals_.MemoryBytes();
  for (const auto& [task, aggregates] : tasks_) bytes += aggregates->MemoryBytes();
  return bytes;
}

}  // namespace prodops::window
