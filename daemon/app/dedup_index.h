#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/app/recent_id_filter.h"
#include "daemon/state/store.h"

namespace prodops::app {

// Remembers the event_ids of accepted events so that a producer's retry, or
// the same event sent to another partition, is applied once.
//
// The rule, a pure function of the order in which events are read: an event
// is a duplicate when an event with the same id was accepted before and
// occurred at or after `watermark - horizon`, where the watermark is the
// newest event time read so far. Ids older than that are forgotten: the
// store may drop them (StateStore::SetDedupCutoff), and the rule ignores
// them whether or not they are still there, so garbage collection never
// changes a result.
//
// State: Family::kDedup, task (state::TaskPrefix) + event_id -> occurred_at
// (big-endian int64 ms), under the task of the partition the id was first
// accepted from, so that the ids move with the task's other state. A lookup
// looks in every task this index holds: a copy on another partition is a
// duplicate as long as the same process holds both partitions' tasks.
// New ids wait in memory until CollectChanges hands them to the write that
// also stores the offsets of the messages they came from.
//
// Most ids are new, and reading RocksDB to learn that an id is absent took
// about a fifth of a replay's CPU. After Open() a RecentIdFilter over every
// id of the tasks held (LoadTask) answers most of those lookups; only its
// false positives (about 1% of new ids) and real duplicates read the store.
// Without Open() every id not in memory is looked up.
//
// Single-threaded.
class DedupIndex {
 public:
  // `filter_bytes` bounds the filter's memory (see RecentIdFilter).
  DedupIndex(int64_t horizon_ms, state::StateStore* store,
             size_t filter_bytes = kDefaultFilterBytes);
  static constexpr size_t kDefaultFilterBytes = size_t{64} << 20;

  // Holds every task the store holds: Open, then LoadTask for each. Call
  // once, before any lookup.
  [[nodiscard]] absl::Status Load();
  // Holds no task yet; from now on, an id the filter has not seen is new
  // without a read. Call once, before any lookup.
  void Open();
  // Holds `task`: its stored ids go into the filter, and lookups look in it.
  [[nodiscard]] absl::Status LoadTask(state::TaskId task);
  // Stops holding `task`; its ids not yet written are forgotten.
  void DropTask(state::TaskId task);

  // Whether `event_id` (which occurred at `occurred_ms`) was accepted
  // before; if not, remembers it under `task`. `watermark_ms` is the newest
  // event time read, including this event.
  bool SeenBefore(state::TaskId task, std::string_view event_id, int64_t occurred_ms,
                  int64_t watermark_ms);

  // Puts the ids remembered since the last CollectChanges into `changes`.
  // They stay in memory until Written(): a failed write keeps its WriteSet
  // for the next attempt, and lookups must still see them meanwhile.
  void CollectChanges(int64_t watermark_ms, state::WriteSet* changes);
  // Every WriteSet collected before the last CollectChanges is durable
  // (ids remembered since stay pending).
  void Written();

  // Bytes of ids held in memory.
  size_t PendingBytes() const { return pending_bytes_ + collected_bytes_; }
  // Lookups that failed to read the store (counted, then treated as new).
  uint64_t read_errors() const { return read_errors_; }
  // Lookups that read the store, and the filter's memory.
  uint64_t store_reads() const { return store_reads_; }
  size_t FilterBytes() const { return filter_.MemoryBytes(); }

 private:
  int64_t Cutoff(int64_t watermark_ms) const;
  void HoldTask(state::TaskId task);
  // Whether the store holds `id` (in any task) as accepted at or after
  // `cutoff`.
  bool StoredSince(std::string_view id, int64_t cutoff);

  const int64_t horizon_ms_;
  state::StateStore* store_;
  struct Accepted {
    int64_t occurred_ms;
    state::TaskId task;
  };
  using IdTimes = absl::flat_hash_map<std::string, Accepted>;
  // The entry for `id` in pending_ or collected_, or null.
  IdTimes::value_type* FindInMemory(std::string_view id);

  // Ids not yet collected; ids collected but not yet known to be durable.
  IdTimes pending_;
  IdTimes collected_;
  // The tasks with ids in the store (or collected for it), ascending.
  std::vector<state::TaskId> tasks_;
  // Bytes of the ids in pending_, and in collected_.
  size_t pending_bytes_ = 0;
  size_t collected_bytes_ = 0;
  // Every id of the tasks held and accepted since, with its time.
  RecentIdFilter filter_;
  bool filter_complete_ = false;  // it holds the ids of every task held
  uint64_t read_errors_ = 0;
  uint64_t store_reads_ = 0;
};

}  // namespace prodops::app
