#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/state/store.h"
#include "daemon/window/buckets.h"
#include "daemon/window/hll.h"
#include "daemon/window/series.h"

namespace prodops::window {

// The write-combining cache of every aggregate, and its persistent form.
//
// Three kinds of aggregate, each keyed by a SeriesKey:
//  - counters: cumulative totals over all time (Prometheus counters);
//  - maxima: the largest value seen (e.g. the newest event time of a topic);
//  - windowed counts and windowed distinct sets: kept per event-time bucket,
//    for every bucket width that some WindowSpec uses, and merged into
//    trailing windows on demand.
//
// Events update memory only. CollectChanges() hands the aggregates changed
// since the previous call to a WriteSet, as absolute values (never deltas),
// so that the caller can write them in the same atomic batch as the input
// offsets that produced them. Load() restores the state written that way.
//
// Retention: ExpireBefore(as_of) drops the buckets that no window can cover
// any more (bucket end <= as_of - longest window - allowed lateness) from
// memory and, through the next CollectChanges(), from the store with one
// DeleteRange per bucket width. Precisely, with cutoff = as_of_ms -
// RetentionMs(), it drops the buckets [start, start + bucket_ms) with
// start + bucket_ms <= cutoff. The cutoff never moves back: a call with an
// earlier as_of_ms than before does nothing.
//
// An event is in retention iff event_time_ms > as_of_ms - RetentionMs() and
// event_time_ms > the cutoff of every earlier ExpireBefore(). Its bucket of
// every width then ends after every cutoff applied so far, so an accepted
// event never lands in a bucket that was (or is about to be) deleted, even
// when as_of_ms goes backwards. Events in the part of a partly expired
// bucket before the cutoff are rejected although the bucket still exists:
// no trailing window as of a time >= the cutoff's as_of covers them.
//
// Single-threaded: owned by the pipeline thread.
//
// Store layout:
//   kCounters: 'c' + series -> uint64 big-endian
//              'm' + series -> int64 big-endian (maxima)
//   kBuckets:  bucket_ms (u32 BE) + biased bucket start (u64 BE, sign bit
//              flipped so that negative times sort first) + kind ('n' count,
//              'd' distinct) + series -> uint64 BE count, or a serialized
//              HyperLogLog
//   Buckets of a width that no configured window uses any more (the config
//   changed) are ignored by Load() and deleted by the next CollectChanges().
class Aggregates {
 public:
  struct Options {
    // At least one. The config validates them; invalid ones (length not a
    // positive multiple of bucket_ms, bucket_ms outside [1, 2^32 - 1] as the
    // store layout needs, negative lateness) abort the process.
    std::vector<WindowSpec> windows;
    int64_t allowed_lateness_ms = 0;
  };
  explicit Aggregates(Options options);

  // Replaces the in-memory state with what `store` holds. Call once, before
  // any update.
  [[nodiscard]] absl::Status Load(const state::StateStore& store);

  void AddCounter(const SeriesKey& series, uint64_t delta);
  void UpdateMax(const SeriesKey& series, int64_t value);

  // Windowed updates. `as_of_ms` is the current time of the pipeline.
  // Return false and change nothing when the event is older than retention
  // (its bucket may already be deleted): the caller counts it as late.
  bool AddWindowedCount(const SeriesKey& series, int64_t event_time_ms, uint64_t delta,
                        int64_t as_of_ms);
  bool AddWindowedDistinct(const SeriesKey& series, int64_t event_time_ms,
                           uint64_t item_hash, int64_t as_of_ms);

  // Readers. Visit every series of the kind, in unspecified order.
  void ForEachCounter(const std::function<void(const SeriesKey&, uint64_t)>& visit) const;
  void ForEachMax(const std::function<void(const SeriesKey&, int64_t)>& visit) const;
  // Value of every windowed series over `window` as of `as_of_ms`. Series
  // with no bucket in the window are not visited.
  void ForEachWindowedCount(
      const WindowSpec& window, int64_t as_of_ms,
      const std::function<void(const SeriesKey&, uint64_t)>& visit) const;
  void ForEachWindowedDistinct(
      const WindowSpec& window, int64_t as_of_ms,
      const std::function<void(const SeriesKey&, double estimate)>& visit) const;

  // The windowed count of every series in each bucket of width `bucket_ms`
  // whose start is in `range` (bucket starts, inclusive), bucket by bucket
  // in ascending start order; series absent from a bucket are not visited.
  // For signals that need the per-bucket series (e.g. hourly baselines);
  // does nothing for a width no window uses.
  void ForEachBucketCount(int64_t bucket_ms, const BucketRange& range,
                          const std::function<void(int64_t start_ms, const SeriesKey&,
                                                   uint64_t)>& visit) const;

  // Whether any bucket of `window`'s trailing window as of `as_of_ms`
  // holds data (a cheap test before computing the window's values).
  bool AnyBucketInWindow(const WindowSpec& window, int64_t as_of_ms) const;

  // Whether an event at `event_time_ms` still lands in the windows as of
  // `as_of_ms` (the windowed updates above return this).
  bool InRetention(int64_t event_time_ms, int64_t as_of_ms) const;

  // Drops buckets that are out of retention as of `as_of_ms`.
  void ExpireBefore(int64_t as_of_ms);

  // Appends every change since the last call to `changes`, then forgets
  // that they were changes.
  void CollectChanges(state::WriteSet* changes);

  // Approximate bytes of changes not yet collected.
  size_t PendingBytes() const { return pending_bytes_; }
  // Approximate heap bytes of all aggregates in memory.
  size_t MemoryBytes() const;

  const std::vector<WindowSpec>& windows() const { return options_.windows; }
  // Longest window + allowed lateness.
  int64_t RetentionMs() const { return retention_ms_; }

 private:
  struct Bucket {
    absl::flat_hash_map<SeriesKey, uint64_t> counts;
    absl::flat_hash_map<SeriesKey, HyperLogLog> distincts;
    absl::flat_hash_map<SeriesKey, bool> dirty_counts;     // presence = dirty
    absl::flat_hash_map<SeriesKey, bool> dirty_distincts;  // presence = dirty
  };
  // Buckets of one width, by start.
  using BucketsByStart = std::map<int64_t, Bucket>;

  void Reset();
  [[nodiscard]] absl::Status LoadBucket(std::string_view key, std::string_view value);
  // Calls `visit` for each bucket of window.bucket_ms in TrailingBuckets().
  void ForEachBucketInWindow(const WindowSpec& window, int64_t as_of_ms,
                             const std::function<void(const Bucket&)>& visit) const;
  // The bucket of every configured width that holds `event_time_ms`.
  std::vector<Bucket*> BucketsFor(int64_t event_time_ms);
  void CollectBucketChanges(state::WriteSet* changes);

  Options options_;
  int64_t retention_ms_ = 0;
  std::vector<int64_t> bucket_widths_;                    // distinct bucket_ms, ascending
  absl::flat_hash_map<int64_t, BucketsByStart> buckets_;  // by bucket_ms
  absl::flat_hash_map<SeriesKey, uint64_t> counters_;
  absl::flat_hash_map<SeriesKey, int64_t> maxima_;
  absl::flat_hash_map<SeriesKey, bool> dirty_counters_;
  absl::flat_hash_map<SeriesKey, bool> dirty_maxima_;
  // Per bucket width: buckets strictly before this start were expired and
  // must be deleted from the store at the next CollectChanges().
  absl::flat_hash_map<int64_t, int64_t> expire_before_;
  // The largest as_of_ms - RetentionMs() ExpireBefore() has applied; none
  // yet after construction or Load().
  std::optional<int64_t> expired_cutoff_ms_;
  // Widths found in the store by Load() that no window uses; deleted
  // entirely at the next CollectChanges().
  std::vector<int64_t> stale_widths_;
  size_t pending_bytes_ = 0;
};

}  // namespace prodops::window
