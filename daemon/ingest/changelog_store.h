#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/admin.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/state/store.h"

namespace prodops::ingest {

struct ChangelogOptions {
  // Topic names are "<topic_prefix>-<family>-changelog". Required.
  std::string topic_prefix;
  // Required.
  std::string bootstrap_servers;
  // Passed to librdkafka after prodopsd's own settings.
  KafkaProperties extra_properties;
  // How long a transaction's commit may take, and how long a restore may
  // go without reading anything, before they fail. Default: 30 s.
  int timeout_ms = 30'000;
};

// Progress and volume, for /metrics.
struct ChangelogStats {
  uint64_t records_written = 0;
  uint64_t records_restored = 0;
  double restore_seconds = 0;     // spent restoring since start
  int64_t restore_remaining = 0;  // records left in the restore under way
  uint64_t restores = 0;          // tasks restored since start
  bool restoring = false;         // a restore is under way
};

// A StateStore that keeps a local store (RocksDB) and, for every family
// that holds tasks (state::kTaskFamilies), a compacted Kafka topic with
// one partition per task: the changelog. A task's entries can then be
// handed to another process, as Kafka Streams hands over its stores.
//
// Writing: the task-scoped changes of a Write go to the changelog first,
// in one transaction per task (a producer per task, whose transactional id
// names the task, so that the task's next owner fences this one and aborts
// what it left open); then the whole WriteSet goes to the local store, and
// after it each changelog partition's position (the offset after the last
// record written). A put's record is its key and a marked value, a delete
// is a tombstone, and a range delete is a tombstone per key in the range.
// Every record holds an absolute value, so replaying any suffix of a
// partition over a copy that already has some of it gives the same state:
// a crash between these steps costs a re-read, never a wrong state.
//
// AcquireTask restores the task before it is read: each partition is read
// from the local position to its end (read_committed), so a current local
// copy costs one empty read and a stale one its tail. Without a local
// position the task's local entries are replaced by the changelog's, or,
// if the changelog holds nothing for the task, written to it (a process
// that turns the changelog on seeds it with its state).
//
// The process's own state (Family::kMeta) stays local.
//
// Called by one thread at a time: the pipeline's, which may hand Write to
// its writer thread (state::BackgroundWriter) and then only reads, or asks
// for stats(), until the write has ended.
class ChangelogStore final : public state::StateStore {
 public:
  // The changelog topic of `family`.
  static std::string TopicName(const std::string& prefix, state::Family family);
  // The changelog topics, for KafkaAdmin::EnsureTopics: one partition per
  // task, compacted; de-duplication ids (unique keys, not needed after the
  // horizon) are deleted after `dedup_retention_ms` as well.
  static std::vector<TopicSpec> Topics(const std::string& prefix, int partitions,
                                       int replication_factor,
                                       int64_t dedup_retention_ms);

  // `local` must outlive this.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ChangelogStore>> Create(
      ChangelogOptions options, state::StateStore* local);
  ~ChangelogStore() override;

  [[nodiscard]] absl::Status Write(const state::WriteSet& changes) override;
  [[nodiscard]] absl::Status ScanRange(state::Family family, std::string_view begin,
                                       std::string_view end,
                                       const Visitor& visit) const override;
  [[nodiscard]] absl::StatusOr<std::string> Get(state::Family family,
                                                std::string_view key) const override;
  void SetDedupCutoff(int64_t cutoff) override;
  [[nodiscard]] absl::Status AcquireTask(state::TaskId task) override;
  void ReleaseTask(state::TaskId task) override;

  // A copy: records_written may grow on the writer thread meanwhile.
  ChangelogStats stats() const {
    ChangelogStats stats = stats_;
    stats.records_written = records_written_.load(std::memory_order_relaxed);
    return stats;
  }
  // Called about once a second while a restore runs (to publish progress).
  void SetProgressCallback(std::function<void()> callback) {
    progress_ = std::move(callback);
  }

  struct Impl;

 private:
  ChangelogStore(ChangelogOptions options, state::StateStore* local,
                 std::unique_ptr<Impl> impl);
  // Produces the tombstones of a range delete: every key of the range in
  // the local store, and every key put in `changes` before it; adds their
  // number to `records`.
  absl::Status ProduceRangeTombstones(const state::WriteSet& changes, size_t op_index,
                                      state::TaskId task, uint64_t* records);
  // Reads the task's partitions from `from` (per family) to their ends into
  // the local store.
  absl::Status Restore(state::TaskId task, std::map<state::Family, int64_t> from,
                       int64_t remaining);
  // Writes every local entry of `task` to the changelog, whose partitions
  // end at `ends` (per family).
  absl::Status Seed(state::TaskId task, std::map<state::Family, int64_t> ends);
  // The first and the end offset of the task's partition of `topic`.
  absl::Status EndOffsets(const std::string& topic, state::TaskId task, int64_t* low,
                          int64_t* high) const;
  // Stores the positions the producers of `tasks` reached; a family none of
  // its records reached keeps its position, or, with `ends`, gets that.
  absl::Status WritePositions(const std::vector<state::TaskId>& tasks,
                              const std::map<state::Family, int64_t>* ends = nullptr);
  // The changelog topic of `family`.
  const std::string& Topic(state::Family family) const {
    return topics_[static_cast<size_t>(family)];
  }

  ChangelogOptions options_;
  state::StateStore* local_;
  std::unique_ptr<Impl> impl_;
  ChangelogStats stats_;  // all but records_written, kept here:
  std::atomic<uint64_t> records_written_{0};
  std::function<void()> progress_;
  // TopicName(topic_prefix, family), by family; built once.
  std::array<std::string, state::kFamilyCount> topics_;
};

}  // namespace prodops::ingest
