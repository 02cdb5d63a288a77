#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "daemon/window/buckets.h"
#include "daemon/window/hll.h"
#include "daemon/window/series.h"

namespace prodops::window {

// A window's totals over its closed buckets `closed` (valid only if set):
// every bucket of its trailing range but the newest.
struct ClosedTotals {
  std::optional<BucketRange> closed;
  absl::flat_hash_map<SeriesKey, uint64_t> counts;
  absl::flat_hash_map<SeriesKey, HyperLogLog> distincts;
};

// The closed-bucket totals of every window, over every task of the
// process: a read cache, so that a read of a long window merges its cached
// totals with the newest bucket instead of rereading every bucket. Late
// events update the totals that cover their bucket in place (Covering): a
// count adds, a sketch's union takes the item, whichever task the bucket
// is of. The totals are rebuilt when the range moves on, at most once per
// bucket width of event time, and dropped when expiry reaches into them or
// the set of tasks changes. One set for all tasks, so that their memory
// does not grow with the number of tasks.
//
// Single-threaded, like the Aggregates that own it.
class WindowTotals {
 public:
  explicit WindowTotals(std::vector<WindowSpec> windows);

  // Adds the closed buckets `closed` of width `width` of every task into
  // `into`; false if a bucket could not be read (the totals are then
  // incomplete and not cached).
  using Fill =
      std::function<bool(int64_t width, const BucketRange& closed, ClosedTotals* into)>;

  // The totals of `window`'s closed buckets as of `range`, from the cache
  // when it holds them, else filled by `fill` into the cache (or into
  // `scratch`: an earlier range than the cached one, as the feed closing a
  // window behind the exposition reads, is computed aside). Null for a
  // one-bucket window.
  const ClosedTotals* TotalsFor(const WindowSpec& window, const BucketRange& range,
                                ClosedTotals* scratch, const Fill& fill);

  // The cached totals whose closed buckets include the bucket of width
  // `width` starting at `start_ms`.
  absl::InlinedVector<ClosedTotals*, 4> Covering(int64_t width, int64_t start_ms);

  // Drops the totals of width `width` that reach before `first_kept_ms`.
  void ExpireBefore(int64_t width, int64_t first_kept_ms);
  // Drops every total.
  void Clear();

  size_t MemoryBytes() const;

 private:
  std::vector<WindowSpec> windows_;
  std::vector<ClosedTotals> totals_;  // by index in windows_
};

}  // namespace prodops::window
