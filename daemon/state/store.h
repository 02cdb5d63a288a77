#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prodops::state {

// The kinds of state, one RocksDB column family each. Keys and values are
// opaque bytes to the store; their layout belongs to the module that writes
// them (see docs in each module).
enum class Family : uint8_t {
  kMeta = 0,      // schema version and other store-wide facts
  kOffsets = 1,   // input topic/partition -> next offset to read
  kCounters = 2,  // series -> cumulative counter value
  kBuckets = 3,   // bucket size, bucket start (big-endian), series -> aggregate
  kTickets = 4,   // ticket_id -> lifecycle state
  kDedup = 5,     // event_id -> first seen
  kSignals = 6,   // signal sets' own state beyond tickets (experiments, releases)
};
inline constexpr int kFamilyCount = 7;
const char* FamilyName(Family family);
// The families whose every key starts with a task prefix (TaskPrefix): all
// but kMeta, which is the process's own.
inline constexpr Family kTaskFamilies[] = {Family::kOffsets, Family::kCounters,
                                           Family::kBuckets, Family::kTickets,
                                           Family::kDedup,   Family::kSignals};
inline constexpr bool HoldsTasks(Family family) { return family != Family::kMeta; }

// A set of changes applied atomically by StateStore::Write: after a crash,
// either all of them are visible or none is.
class WriteSet {
 public:
  enum class OpKind : uint8_t { kPut, kDelete, kDeleteRange };
  struct Op {
    OpKind kind;
    Family family;
    std::string key;    // kDeleteRange: first key deleted
    std::string value;  // kPut: the value; kDeleteRange: first key kept
  };

  void Put(Family family, std::string key, std::string value) {
    bytes_ += key.size() + value.size();
    ops_.push_back({OpKind::kPut, family, std::move(key), std::move(value)});
  }
  void Delete(Family family, std::string key) {
    bytes_ += key.size();
    ops_.push_back({OpKind::kDelete, family, std::move(key), {}});
  }
  // Deletes every key in [begin, end).
  void DeleteRange(Family family, std::string begin, std::string end) {
    bytes_ += begin.size() + end.size();
    ops_.push_back({OpKind::kDeleteRange, family, std::move(begin), std::move(end)});
  }

  const std::vector<Op>& ops() const { return ops_; }
  // Removes the ops on the entries of `task` (see TaskPrefix).
  void RemoveTask(uint32_t task);
  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  size_t bytes() const { return bytes_; }
  void Clear() {
    ops_.clear();
    unordered_.clear();
    bytes_ = 0;
  }

  // Declares the ops from index `begin` (an earlier size()) to the end to
  // be puts of distinct keys, whose order therefore does not matter.
  void MarkUnordered(size_t begin);
  // Sorts each run marked unordered by family and key, then forgets the
  // marks. RocksDB inserts a batch into its memtable in batch order, and a
  // skip list takes sorted keys several times faster than random ones (each
  // insert starts where the previous one ended); the writer thread sorts,
  // so that the thread that collected the ops does not.
  void SortUnordered();

 private:
  std::vector<Op> ops_;
  // Runs [first, second) of ops_ marked unordered.
  std::vector<std::pair<size_t, size_t>> unordered_;
  size_t bytes_ = 0;
};

// The first key after every key that starts with `prefix`; empty if there
// is none (the prefix is empty or all 0xff).
std::string PrefixSuccessor(std::string_view prefix);

// A task: one partition number of the input topics, which are
// co-partitioned (partition p of every topic holds the same keys). The
// state built from a task's partitions is stored under TaskPrefix(task) in
// every family that holds it, so that it is one key range per family:
// loaded, dropped or handed to another instance as a whole.
using TaskId = uint32_t;
inline constexpr size_t kTaskPrefixBytes = 4;
// The task id, big-endian (so tasks sort by id).
std::string TaskPrefix(TaskId task);
// The task whose prefix `key` starts with; false if it is too short.
bool ParseTaskPrefix(std::string_view key, TaskId* task);
// Modules that hold task-scoped entries in memory key them by TaskKey: the
// task's prefix, then the entry's own key.
std::string TaskKey(TaskId task, std::string_view key);
// The task of a TaskKey (0 if it is too short to have one).
TaskId TaskOfKey(std::string_view task_key);
// A TaskKey's own key, after the task prefix.
std::string_view OwnKeyOf(std::string_view task_key);
// The store key of a TaskKey's entry in a family shared by several kinds
// of entry: the task prefix, `kind` (which sorts each kind's entries of a
// task together), then the own key.
std::string StoreKeyOf(std::string_view task_key, std::string_view kind);

// Erases the entries of `task` from `container`: a map or set keyed by
// TaskKey, or a set of pairs whose first is one.
template <typename Container>
void EraseTaskEntries(TaskId task, Container* container) {
  const std::string prefix = TaskPrefix(task);
  for (auto it = container->begin(); it != container->end();) {
    const std::string_view key = [&]() -> std::string_view {
      if constexpr (requires { it->first; }) {
        return it->first;
      } else {
        return *it;
      }
    }();
    if (key.substr(0, kTaskPrefixBytes) == prefix) {
      container->erase(it++);
    } else {
      ++it;
    }
  }
}

class StateStore;
// The tasks with at least one key in `family`, ascending. Reads one key per
// task.
[[nodiscard]] absl::StatusOr<std::vector<TaskId>> StoredTasks(const StateStore& store,
                                                              Family family);
// The tasks with at least one key in any family that holds task state,
// ascending.
[[nodiscard]] absl::StatusOr<std::vector<TaskId>> AllStoredTasks(const StateStore& store);

// Durable key-value state. Errors are values; an error from Write means
// nothing of the WriteSet was applied. One thread at a time writes (Write,
// AcquireTask, ReleaseTask): the pipeline's, or its writer thread
// (BackgroundWriter), while the pipeline's reads (Get, Scan) go on and see
// the state before or after a Write, never part of one.
class StateStore {
 public:
  virtual ~StateStore() = default;

  // Applies every op of `changes` atomically and durably (it survives a
  // process kill once this returns OK).
  [[nodiscard]] virtual absl::Status Write(const WriteSet& changes) = 0;

  using Visitor =
      std::function<absl::Status(std::string_view key, std::string_view value)>;

  // Calls `visit` for every key in [begin, end) (no upper bound if `end` is
  // empty), in key order. Stops early and returns the error if `visit`
  // returns one.
  [[nodiscard]] virtual absl::Status ScanRange(Family family, std::string_view begin,
                                               std::string_view end,
                                               const Visitor& visit) const = 0;

  // Calls `visit` for every key starting with `prefix`, in key order.
  [[nodiscard]] absl::Status Scan(Family family, std::string_view prefix,
                                  const Visitor& visit) const {
    return ScanRange(family, prefix, PrefixSuccessor(prefix), visit);
  }

  // The value of `key`, or NotFound.
  [[nodiscard]] virtual absl::StatusOr<std::string> Get(Family family,
                                                        std::string_view key) const = 0;

  // Garbage collection of Family::kDedup, whose values begin with a
  // big-endian int64 (an event time): entries below `cutoff` are no longer
  // needed and the store may drop them whenever it likes (RocksStore: as it
  // compacts). Callers must give such entries the same meaning whether or
  // not they are still there. The cutoff only moves forward. Default: keeps
  // everything.
  virtual void SetDedupCutoff(int64_t cutoff) { (void)cutoff; }

  // Ownership of a task's entries, for a store whose state is also kept
  // elsewhere (ingest::ChangelogStore): AcquireTask brings the task's key
  // ranges up to date (restores them) before they are read, and writes to
  // them are accepted from then until ReleaseTask. Default: the store is
  // the only copy, and holds every task.
  [[nodiscard]] virtual absl::Status AcquireTask(TaskId task) {
    (void)task;
    return absl::OkStatus();
  }
  virtual void ReleaseTask(TaskId task) { (void)task; }
};

}  // namespace prodops::state
