#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "daemon/app/dedup_index.h"
#include "daemon/app/signal_feed.h"
#include "daemon/common/clock.h"
#include "daemon/decode/decode.h"
#include "daemon/export/snapshot.h"
#include "daemon/ingest/dead_letter.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/signals/registry.h"
#include "daemon/state/background_writer.h"
#include "daemon/state/store.h"
#include "daemon/window/aggregates.h"

namespace prodops::app {

struct InputTopic {
  std::string name;
  decode::Format format = decode::Format::kJson;
  decode::Content content = decode::Content::kEnvelope;
};

// When the state of each task (state::TaskId) is loaded.
enum class TaskLoading {
  // Every stored task, at Load: a source without partitions (files).
  kAll,
  // A task when the first of its partitions is assigned (SetAssigned), and
  // dropped, with its series and its unwritten changes, once the last is
  // revoked: a consumer group member, which must expose only the tasks it
  // holds. The store is told (StateStore::AcquireTask, ReleaseTask). Until the first
  // assignment, the watermark stays where the state left it.
  kOnAssignment,
};

// What "now" is for the trailing windows.
enum class TimeMode {
  kWallClock,  // live: the clock
  kEventTime,  // replay: the newest occurred_at read so far
};

// Time has two readings here. AsOf() is "now" for the trailing windows that
// are exposed. Watermark() is how far the input is complete: every decision
// that treats an event as late, or a timer (SLA target, impact window,
// expiry) as passed, is taken against it. It is AsOf() held back by every
// assigned partition that still has input waiting (or has not reported its
// end yet) to that partition's newest event time, so that partitions read
// at different speeds (a backlog, a restart, one broker slower than
// another) cannot make one partition's events late because another ran
// ahead. It never goes backwards and is stored with the state.

// How Flush waits for its write (see Pipeline::Flush).
enum class FlushMode {
  kWait,        // until the changes are durable, or the write failed
  kBackground,  // not: the writer thread writes while events go on
};

struct PipelineOptions {
  // Required.
  std::vector<InputTopic> topics;
  // Required: at least one window.
  window::Aggregates::Options windows;
  // Default: 1000.
  int64_t flush_interval_ms = 1000;
  // Flush early when this many bytes of changes wait in memory.
  // Default: 64 MiB.
  size_t cache_max_bytes = 64u << 20;
  // Default: kWallClock.
  TimeMode time_mode = TimeMode::kWallClock;
  // Larger payloads are rejected as too_large. 0: no limit. Default: 1 MiB.
  size_t max_message_bytes = 1u << 20;
  // Events that occurred more than this ahead of / behind the clock are
  // rejected as out_of_tolerance. 0: no limit. Defaults: 1 h, no limit.
  int64_t max_future_ms = 3'600'000;
  int64_t max_age_ms = 0;
  // De-duplication by event_id (DedupIndex). 0: off. Default: 24 h.
  int64_t dedup_horizon_ms = 86'400'000;
  // Memory budget of the de-duplication filter (DedupIndex).
  size_t dedup_filter_bytes = DedupIndex::kDefaultFilterBytes;
  signals::SignalsOptions signals;
};

// The one loop's state: decodes messages, updates the aggregates, and
// writes them to the store together with the input offsets they account
// for, in one atomic WriteSet. Whatever the source (Kafka, NDJSON files),
// everything after the raw bytes is this code.
//
// Exactly-once: a message changes the aggregates and its partition's next
// offset in memory; both reach the store in the same Write. After a crash,
// the state holds the effects of exactly the messages before the stored
// offsets, and the source resumes there.
//
// Tasks: the input topics are co-partitioned (partition p of each holds
// the same keys), and the aggregates built from partition p of any topic
// are task p's (state::TaskId), stored under its own key prefix and read
// merged (window::Aggregates).
//
// Rejected messages go to `dead_letters` (optional), and the signal feed's
// updates to `feed` (optional); both are acknowledged there before the
// offsets that account for them are written.
//
// A failed Flush is retried with backoff (FlushDue); while it fails and the
// unwritten changes exceed cache_max_bytes, Backlogged() asks the source to
// pause instead of growing without bound.
//
// Single-threaded: one thread calls everything. Writes to the store run on
// a writer thread of the pipeline's own (state::BackgroundWriter), so that
// FlushMode::kBackground can go back to the events while RocksDB works.
class Pipeline {
 public:
  // `dead_letters` and `feed` are optional; `feed` receives the
  // SignalUpdates of closed windows (SignalFeed).
  Pipeline(PipelineOptions options, state::StateStore* store, const Clock* clock,
           ingest::DeadLetterSink* dead_letters = nullptr,
           ingest::Outbox* feed = nullptr);

  // Restores the process's state from the store, and with kAll every
  // task's. Call once, first.
  [[nodiscard]] absl::Status Load(TaskLoading loading = TaskLoading::kAll);

  // Processes one message; never fails: bad input is counted as rejected.
  // A message at or before the partition's stored position (already in the
  // state) is skipped, and so is one of a partition not assigned with
  // TaskLoading::kOnAssignment (its task is not held).
  void ProcessMessage(const ingest::Message& message);

  // The next offset to read from `tp`, if the state has one.
  std::optional<int64_t> NextOffset(const ingest::TopicPartition& tp) const;

  // Processes a message of a topic that every process reads whole
  // (ingest::TopicReader), whichever partitions it holds: its release
  // events define the releases here (SignalSet::ApplyBroadcast), so that
  // the tickets of every task held count for them. Nothing is counted: the
  // process that holds the message's partition counts it, and its rejects,
  // through ProcessMessage. Its offset is stored with the process's state.
  void ProcessBroadcast(const ingest::Message& message);
  // The next offset to read from `tp` as a broadcast, if the state has one.
  std::optional<int64_t> BroadcastOffset(const ingest::TopicPartition& tp) const;

  // The source's view of its partitions, for the watermark and (with
  // TaskLoading::kOnAssignment) for the tasks held. An assigned partition
  // holds the watermark back until it is read up to its end offset (the
  // offset after its last message), which is unknown (so it holds) until
  // SetEndOffset reports it. A source that never calls these (a file)
  // holds nothing back: its order is the event order. A partition is
  // revoked (assigned = false) only after a Flush: what was not written
  // is dropped with its task.
  void SetAssigned(const ingest::TopicPartition& tp, bool assigned);
  void SetEndOffset(const ingest::TopicPartition& tp, int64_t end_offset);
  // Whether an assigned partition still has input waiting or an unknown end.
  bool WaitingForInput() const { return holding_ > 0; }
  // Whether `tp` is assigned (SetAssigned), and so exposed.
  bool Assigned(const ingest::TopicPartition& tp) const;

  // OK, or why the pipeline cannot go on: a task's state could not be
  // loaded on assignment. The caller should stop.
  const absl::Status& status() const { return status_; }

  // Whether the flush interval has passed or the cache is full; after a
  // failure, not before the retry backoff has passed.
  bool FlushDue() const;

  // Whether the source should stop delivering messages: writes fail and the
  // changes waiting for them have reached cache_max_bytes.
  bool Backlogged() const;

  // Writes all changes and offsets atomically. On error nothing is lost:
  // the unwritten changes are kept and go out with the next Flush.
  //
  // kWait returns once they are durable, or the write failed. kBackground
  // returns once the writer thread has them, and the outcome is the next
  // Flush's: it first waits for the write in flight, and returns its error
  // without starting another one. (Writes thus reach the store in order,
  // one at a time; the state in memory runs at most one write ahead of the
  // store.) A kWait Flush is needed before the state is handed on: before
  // a revoke, and at the end.
  [[nodiscard]] absl::Status Flush(FlushMode mode = FlushMode::kWait);

  // The write a Flush(kBackground) started: whether it is in flight; its
  // outcome once it has ended, without waiting (nullopt while it runs, or
  // when none is in flight); and its outcome, waiting for it (OK when none
  // is in flight). Taking the outcome does what Flush does with it: on
  // success its offsets become committable; on failure its changes wait
  // for the next Flush, which FlushDue holds back for the retry backoff.
  bool Writing() const { return writer_.InFlight(); }
  [[nodiscard]] std::optional<absl::Status> PollWrite();
  [[nodiscard]] absl::Status WaitForWrite();

  // The offsets made durable by the writes that have succeeded (for Kafka
  // commits), then forgotten.
  std::vector<std::pair<ingest::TopicPartition, int64_t>> TakeCommittableOffsets();

  // Families for every stored metric as of AsOf(), plus `live` (metrics the
  // caller computes, e.g. lag), sorted for exposition.
  std::unique_ptr<exporter::Snapshot> BuildSnapshot(
      std::vector<prometheus::MetricFamily> live) const;

  // The time the windows are evaluated at (see TimeMode).
  int64_t AsOf() const;
  // The time decisions are taken at (see above); <= AsOf().
  int64_t Watermark() const { return watermark_ms_; }

  uint64_t flushes() const { return flushes_; }
  uint64_t flush_errors() const { return flush_errors_; }
  double last_flush_seconds() const { return last_flush_seconds_; }
  const window::Aggregates& aggregates() const { return aggregates_; }
  // Null when de-duplication is off.
  const DedupIndex* dedup() const { return dedup_.has_value() ? &*dedup_ : nullptr; }

 private:
  struct TopicState {
    InputTopic spec;
    window::SeriesKey ingested;
    window::SeriesKey duplicate;
    window::SeriesKey late;
    window::SeriesKey last_event;
  };
  struct PartitionHash {
    size_t operator()(const ingest::TopicPartition& tp) const;
  };

  // Counts the decoded event_ (or its duplicate) of `task` and applies it
  // as of `as_of_ms` (<= the watermark).
  void Accept(const TopicState& topic, state::TaskId task, int64_t occurred_ms,
              int64_t as_of_ms);
  void Reject(const TopicState& topic, decode::Reject reason, const std::string& detail,
              const ingest::Message& message);
  // Decodes `message` into event_ and checks it: kNone with its occurred_at
  // in *occurred_ms, or why it is refused (and *detail). The one check of
  // ProcessMessage and ProcessBroadcast.
  decode::Reject DecodeValid(const TopicState& topic, const ingest::Message& message,
                             int64_t* occurred_ms, std::string* detail);
  // Why the event's time is refused, or kNone.
  decode::Reject CheckTolerance(int64_t occurred_ms, std::string* detail) const;
  size_t PendingBytes() const;
  void ScheduleRetry();
  // Every stored and computed family as of `as_of_ms`, plus `families`' own.
  void CollectFamilies(int64_t as_of_ms,
                       std::vector<prometheus::MetricFamily>* families) const;
  // Recomputes the watermark from AsOf() and the holding partitions.
  void AdvanceWatermark();
  // Loads `task`'s state from the store into every component, or drops it
  // from them.
  [[nodiscard]] absl::Status LoadTask(state::TaskId task);
  // The offsets of ProcessBroadcast's partitions, from the store.
  [[nodiscard]] absl::Status LoadBroadcastOffsets();
  void DropTask(state::TaskId task);

  PipelineOptions options_;
  state::StateStore* store_;
  const Clock* clock_;
  ingest::DeadLetterSink* dead_letters_;  // may be null
  ingest::Outbox* feed_out_;              // may be null
  std::optional<SignalFeed> feed_;        // empty without feed_out_
  window::Aggregates aggregates_;
  std::optional<DedupIndex> dedup_;  // empty when de-duplication is off
  std::vector<std::unique_ptr<signals::SignalSet>> signal_sets_;
  absl::flat_hash_map<std::string, TopicState> topics_;
  // Where each input partition stands, and whether that changed since the
  // offsets were last collected for a write.
  struct PartitionProgress {
    int64_t next_offset = 0;
    bool has_offset = false;  // next_offset is from the state or a message
    bool dirty = false;
    // The newest valid event time read from it by this process (0: none).
    int64_t stream_time_ms = 0;
    bool assigned = false;
    std::optional<int64_t> end_offset;  // unknown until the source says
    // Whether it holds the watermark back (see SetAssigned).
    bool Holds() const {
      return assigned && (!end_offset.has_value() || next_offset < *end_offset);
    }
  };
  // Keeps holding_ right around a change to `progress`.
  template <typename Change>
  void UpdateProgress(PartitionProgress& progress, Change change);
  absl::flat_hash_map<ingest::TopicPartition, PartitionProgress, PartitionHash>
      partitions_;
  // ProcessBroadcast's partitions: the next offset, and whether it changed
  // since it was last collected for a write.
  struct BroadcastProgress {
    int64_t next_offset = 0;
    bool dirty = false;
  };
  absl::flat_hash_map<ingest::TopicPartition, BroadcastProgress, PartitionHash>
      broadcast_;
  std::vector<std::pair<ingest::TopicPartition, int64_t>> committable_;
  // Changes collected but not yet written (a failed Write keeps them here).
  state::WriteSet unwritten_;
  // The offsets stored by the write in flight, and how long collecting its
  // changes took.
  std::vector<std::pair<ingest::TopicPartition, int64_t>> writing_offsets_;
  double collect_seconds_ = 0;
  prodops::v1::Event event_;  // reused for every message
  int64_t max_event_time_ms_ = 0;
  int64_t watermark_ms_ = 0;
  bool watermark_dirty_ = false;
  int holding_ = 0;  // partitions with Holds()
  bool awaiting_assignment_ = false;
  TaskLoading loading_ = TaskLoading::kAll;
  // kOnAssignment: the tasks held, with their number of assigned partitions.
  absl::flat_hash_map<state::TaskId, int> assigned_per_task_;
  absl::Status status_;
  int64_t last_flush_ms_ = 0;
  // After a failed flush: when to try again, and how long the wait was.
  int64_t retry_at_ms_ = 0;
  int64_t retry_backoff_ms_ = 0;
  uint64_t flushes_ = 0;
  uint64_t flush_errors_ = 0;
  double last_flush_seconds_ = 0;
  uint64_t rejects_logged_ = 0;
  // Last: destroyed first, so the write in flight ends while the rest of
  // the pipeline still exists.
  state::BackgroundWriter writer_;
};

}  // namespace prodops::app
