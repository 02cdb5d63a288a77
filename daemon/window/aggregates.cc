#include "daemon/window/aggregates.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "daemon/window/hll.h"

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
      layout_(options_.windows, options_.allowed_lateness_ms) {}

absl::Status Aggregates::Load(const state::StateStore& store) {
  store_ = &store;
  tasks_.clear();
  current_ = nullptr;
  std::set<state::TaskId> stored;
  for (state::Family family : {state::Family::kCounters, state::Family::kBuckets}) {
    absl::StatusOr<std::vector<state::TaskId>> tasks = state::StoredTasks(store, family);
    if (!tasks.ok()) return tasks.status();
    stored.insert(tasks->begin(), tasks->end());
  }
  for (state::TaskId task : stored) {
    auto aggregates = std::make_unique<TaskAggregates>(options_, task);
    if (absl::Status s = aggregates->Load(store); !s.ok()) {
      tasks_.clear();  // half-loaded state must not be mistaken for the real one
      return s;
    }
    tasks_.emplace(task, std::move(aggregates));
  }
  ShareBudget();
  return absl::OkStatus();
}

TaskAggregates& Aggregates::AddTask(state::TaskId task) {
  auto aggregates = std::make_unique<TaskAggregates>(options_, task);
  if (store_ != nullptr) aggregates->UseStore(*store_);  // Load() found nothing for it
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

void Aggregates::ForEachWindowedCount(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  if (tasks_.size() == 1) {
    return tasks_.begin()->second->ForEachWindowedCount(window, as_of_ms, visit);
  }
  const auto merged = Merge<uint64_t>(
      tasks_,
      [&](const TaskAggregates& task, const auto& add) {
        task.ForEachWindowedCount(window, as_of_ms, add);
      },
      Sum<uint64_t>);
  for (const auto& [series, value] : merged) visit(series, value);
}

void Aggregates::ForEachWindowedDistinct(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, double estimate)>& visit) const {
  if (tasks_.size() == 1) {
    return tasks_.begin()->second->ForEachWindowedDistinct(window, as_of_ms, visit);
  }
  const auto merged = Merge<HyperLogLog>(
      tasks_,
      [&](const TaskAggregates& task, const auto& add) {
        task.ForEachWindowedSketch(window, as_of_ms,
                                   [&](const SeriesKey& series, const HyperLogLog* closed,
                                       const HyperLogLog* newest) {
                                     if (closed != nullptr) add(series, *closed);
                                     if (newest != nullptr) add(series, *newest);
                                   });
      },
      [](HyperLogLog& into, const HyperLogLog& more) { into.Merge(more); });
  for (const auto& [series, sketch] : merged) visit(series, sketch.Estimate());
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
  for (const auto& [task, aggregates] : tasks_) {
    const CacheStats stats = aggregates->cache_stats();
    sum.bucket_bytes += stats.bucket_bytes;
    sum.totals_bytes += stats.totals_bytes;
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
  size_t bytes = 0;
  for (const auto& [task, aggregates] : tasks_) bytes += aggregates->MemoryBytes();
  return bytes;
}

}  // namespace prodops::window
