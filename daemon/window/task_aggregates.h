#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "daemon/state/store.h"
#include "daemon/window/buckets.h"
#include "daemon/window/hll.h"
#include "daemon/window/series.h"
#include "daemon/window/window_totals.h"

namespace prodops::window {

// The aggregates of one task (state::TaskId): the write-combining cache of
// every aggregate built from the task's partitions, and its persistent
// form. Aggregates holds one per task and merges them for readers.
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
// Retention, per bucket width: a width's retention is the longest window
// of that width + the allowed lateness (BucketLayout). ExpireBefore(as_of) drops the
// buckets that no window of their width can cover any more from memory and, through the
// next CollectChanges(), from the store with one DeleteRange per width. Precisely, with
// cutoff = as_of_ms - the width's retention, it drops the buckets [start, start +
// bucket_ms) with start + bucket_ms <= cutoff. Cutoffs never move back: a
// call with an earlier as_of_ms than before does nothing.
//
// An event is in retention of a width iff event_time_ms > as_of_ms - the
// width's retention and > the cutoff of every earlier ExpireBefore(). Its
// bucket of that width then ends after every cutoff applied so far, so an
// accepted event never lands in a bucket that was (or is about to be)
// deleted, even when as_of_ms goes backwards. Events in the part of a partly
// expired bucket before the cutoff skip it although the bucket still exists:
// no trailing window as of a time >= the cutoff's as_of covers them. An
// event in retention of no width is refused (InRetention()); one in
// retention of some widths (e.g. two hours old, with 1 h windows of
// 1-minute buckets and 7 d windows of hourly ones) updates only theirs.
//
// Bucket cache: buckets are a write-back cache over the store. With a
// byte budget (Options::bucket_cache_bytes), Written() drops the oldest
// clean buckets from memory until the resident ones fit; the newest bucket
// of each width always stays. A dropped bucket keeps an empty placeholder
// (so existence is known without a read); a reader reads it back from the
// store for the call, and a late event reloads it before updating it.
// Windowed updates also update the process's closed-bucket totals that
// cover their bucket (WindowTotals, shared by the tasks); Aggregates reads
// windows from those totals and each task's newest bucket.
//
// Single-threaded: owned by the pipeline thread.
//
// Store layout, every key after state::TaskPrefix(task):
//   kCounters: 'c' + series -> uint64 big-endian
//              'm' + series -> int64 big-endian (maxima)
//   kBuckets:  bucket_ms (u32 BE) + biased bucket start (u64 BE, sign bit
//              flipped so that negative times sort first) + kind ('n' count,
//              'd' distinct) + series -> uint64 BE count, or a serialized
//              HyperLogLog
//   Buckets of a width that no configured window uses any more (the config
//   changed) are ignored by Load() and deleted by the next CollectChanges().
class TaskAggregates {
 public:
  struct Options {
    // At least one. The config validates them; invalid ones (length not a
    // positive multiple of bucket_ms, bucket_ms outside [1, 2^32 - 1] as the
    // store layout needs, negative lateness) abort the process.
    std::vector<WindowSpec> windows;
    int64_t allowed_lateness_ms = 0;
    // Byte budget of the buckets kept in memory; 0 keeps every bucket.
    size_t bucket_cache_bytes = 0;
  };
  // `totals` (shared by the process's tasks) must outlive this.
  TaskAggregates(Options options, state::TaskId task, WindowTotals* totals);

  state::TaskId task() const { return task_; }

  // Replaces the in-memory state with what `store` holds for the task. Call
  // once, before any update. `store` must outlive this object: buckets dropped from
  // memory are read back from it. Without Load() nothing is ever dropped.
  [[nodiscard]] absl::Status Load(const state::StateStore& store);
  // Load() for a task the store holds nothing for: uses `store` from now on
  // without reading it.
  void UseStore(const state::StateStore& store) { store_ = &store; }

  void AddCounter(const SeriesKey& series, uint64_t delta);
  void UpdateMax(const SeriesKey& series, int64_t value);

  // Windowed updates. `as_of_ms` is the current time of the pipeline.
  // Return false and change nothing when the event is older than retention
  // (its bucket may already be deleted): the caller counts it as late. Also
  // false if a bucket dropped from memory cannot be read back (logged and
  // counted in CacheStats::read_errors).
  bool AddWindowedCount(const SeriesKey& series, int64_t event_time_ms, uint64_t delta,
                        int64_t as_of_ms);
  bool AddWindowedDistinct(const SeriesKey& series, int64_t event_time_ms,
                           uint64_t item_hash, int64_t as_of_ms);

  // Readers. Visit every series of the kind, in unspecified order.
  void ForEachCounter(const std::function<void(const SeriesKey&, uint64_t)>& visit) const;
  void ForEachMax(const std::function<void(const SeriesKey&, int64_t)>& visit) const;

  // One bucket's contents.
  struct Bucket {
    absl::flat_hash_map<SeriesKey, uint64_t> counts;
    absl::flat_hash_map<SeriesKey, HyperLogLog> distincts;
    absl::flat_hash_map<SeriesKey, bool> dirty_counts;     // presence = dirty
    absl::flat_hash_map<SeriesKey, bool> dirty_distincts;  // presence = dirty
    // False for a placeholder whose contents were dropped from memory; they
    // are in the store.
    bool resident = true;
    size_t bytes = 0;         // memory as last measured; in resident_bytes_
    bool bytes_stale = true;  // changed since measured
  };
  // Calls `visit` for each bucket of `width` whose start is in `range`, in
  // ascending order, reading dropped ones from the store for the call (only
  // their windowed counts if `counts_only`). A bucket that cannot be read
  // is logged, counted in CacheStats::read_errors and skipped.
  void VisitBuckets(
      int64_t width, const BucketRange& range, bool counts_only,
      const std::function<void(int64_t start_ms, const Bucket&)>& visit) const;
  // Adds the buckets of width `width` in `closed` into `into` (the
  // WindowTotals::Fill of this task); false if one could not be read.
  bool AddClosedTo(int64_t width, const BucketRange& closed, ClosedTotals* into) const;

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

  // Whether an event at `event_time_ms` still lands in some window as of
  // `as_of_ms` (the windowed updates above return this).
  bool InRetention(int64_t event_time_ms, int64_t as_of_ms) const;

  // Drops buckets that are out of retention as of `as_of_ms`.
  void ExpireBefore(int64_t as_of_ms);

  // Appends every change since the last call to `changes`, then forgets
  // that they were changes.
  void CollectChanges(state::WriteSet* changes);

  // Every change collected so far is now durable in the store: drops the
  // oldest clean buckets while the resident ones exceed the budget.
  void Written();

  // Replaces Options::bucket_cache_bytes (applied by the next Written()).
  void set_bucket_cache_bytes(size_t bytes) { options_.bucket_cache_bytes = bytes; }

  struct CacheStats {
    size_t bucket_bytes = 0;   // resident buckets, as of the last Written()
    size_t totals_bytes = 0;   // the windows' closed-bucket totals (Aggregates)
    uint64_t evictions = 0;    // buckets dropped from memory
    uint64_t store_reads = 0;  // dropped buckets read back from the store
    uint64_t read_errors = 0;  // reads back that failed
  };
  CacheStats cache_stats() const;

  // Approximate bytes of changes not yet collected.
  size_t PendingBytes() const { return pending_bytes_; }
  // Approximate heap bytes of all aggregates in memory.
  size_t MemoryBytes() const;

  // Buckets of width `bucket_ms` that end after this time are still held
  // (in memory or in the store) as of `as_of_ms`: the cutoff as of the
  // earliest of as_of_ms and the latest ExpireBefore() (before any, the
  // oldest bucket's start).
  int64_t HeldAfterMs(int64_t bucket_ms, int64_t as_of_ms) const;

 private:
  // Buckets of one width, by start.
  using BucketsByStart = std::map<int64_t, Bucket>;

  void Reset();
  [[nodiscard]] static absl::Status LoadEntry(std::string_view key,
                                              std::string_view value, Bucket* bucket);
  // The contents of a dropped bucket, read from the store (only its
  // windowed counts if `counts_only`).
  absl::StatusOr<Bucket> ReadBucket(int64_t width, int64_t start_ms,
                                    bool counts_only) const;
  // Whether `event_time_ms` is after the cutoff of `retention_ms` as of
  // `as_of_ms` and as of every earlier ExpireBefore().
  bool InRetentionOf(int64_t retention_ms, int64_t event_time_ms, int64_t as_of_ms) const;
  // A resident bucket and where it is.
  struct BucketRef {
    int64_t width;
    int64_t start_ms;
    Bucket* bucket;
  };
  // The resident bucket that holds `event_time_ms` of every width whose
  // retention it is in; empty if one could not be read back.
  // Inline: called for every windowed update, with one entry per width.
  using BucketRefs = absl::InlinedVector<BucketRef, 4>;
  BucketRefs BucketsFor(int64_t event_time_ms, int64_t as_of_ms);
  // Approximate heap bytes of a bucket's maps.
  static size_t BucketBytes(const Bucket& bucket);
  // Re-measures changed buckets, then drops the oldest clean ones while over
  // the budget.
  void EnforceBudget();
  void CollectBucketChanges(state::WriteSet* changes);

  Options options_;
  BucketLayout layout_;
  state::TaskId task_;
  std::string key_prefix_;                                // state::TaskPrefix(task_)
  absl::flat_hash_map<int64_t, BucketsByStart> buckets_;  // by bucket_ms
  absl::flat_hash_map<SeriesKey, uint64_t> counters_;
  absl::flat_hash_map<SeriesKey, int64_t> maxima_;
  absl::flat_hash_map<SeriesKey, bool> dirty_counters_;
  absl::flat_hash_map<SeriesKey, bool> dirty_maxima_;
  // Per bucket width: buckets strictly before this start were expired and
  // must be deleted from the store at the next CollectChanges().
  absl::flat_hash_map<int64_t, int64_t> expire_before_;
  // The largest as_of_ms ExpireBefore() has applied; none yet after
  // construction or Load().
  std::optional<int64_t> expired_as_of_ms_;
  // Widths found in the store by Load() that no window uses; deleted
  // entirely at the next CollectChanges().
  std::vector<int64_t> stale_widths_;
  size_t pending_bytes_ = 0;

  const state::StateStore* store_ = nullptr;  // set by Load()
  size_t resident_bytes_ = 0;
  WindowTotals* totals_;  // the process's, shared by its tasks
  uint64_t evictions_ = 0;
  mutable uint64_t store_reads_ = 0;
  mutable uint64_t read_errors_ = 0;
};

}  // namespace prodops::window
