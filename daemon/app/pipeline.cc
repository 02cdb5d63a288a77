#include "daemon/app/pipeline.h"

#include <chrono>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/big_endian.h"
#include "daemon/common/log.h"
#include "daemon/signals/catalog.h"

namespace prodops::app {
namespace {

// The task of a partition: its number (the topics are co-partitioned).
state::TaskId TaskOf(int32_t partition) { return static_cast<state::TaskId>(partition); }

// kOffsets layout: the partition's task (state::TaskPrefix), topic bytes, a
// NUL (never part of a topic name) -> next offset as big-endian u64. The
// offsets are part of the task's state: they say which messages it holds.
std::string OffsetKey(const ingest::TopicPartition& tp) {
  std::string key = state::TaskKey(TaskOf(tp.partition), tp.topic);
  key.push_back('\0');
  return key;
}

std::string OffsetValue(int64_t offset) {
  std::string value;
  PutFixedBigEndian(static_cast<uint64_t>(offset), 8, &value);
  return value;
}

absl::Status ParseOffsetEntry(std::string_view key, std::string_view value,
                              ingest::TopicPartition* tp, int64_t* offset) {
  state::TaskId task = 0;
  if (!state::ParseTaskPrefix(key, &task) || key.size() == state::kTaskPrefixBytes ||
      key.back() != '\0' || value.size() != 8 ||
      task > static_cast<state::TaskId>(std::numeric_limits<int32_t>::max())) {
    return absl::DataLossError("malformed entry in the offsets column family");
  }
  const std::string_view topic = state::OwnKeyOf(key);
  tp->topic = std::string(topic.substr(0, topic.size() - 1));
  tp->partition = static_cast<int32_t>(task);
  *offset = static_cast<int64_t>(DecodeFixedBigEndian(value, 8));
  return absl::OkStatus();
}

// Family::kMeta key of the watermark (big-endian u64).
constexpr std::string_view kWatermarkKey = "watermark";
// Family::kMeta: this prefix + OffsetKey(tp) -> the next offset of a
// broadcast partition (ProcessBroadcast), which is the process's.
constexpr std::string_view kBroadcastPrefix = "broadcast/";

}  // namespace

size_t Pipeline::PartitionHash::operator()(const ingest::TopicPartition& tp) const {
  return absl::HashOf(tp.topic, tp.partition);
}

Pipeline::Pipeline(PipelineOptions options, state::StateStore* store, const Clock* clock,
                   ingest::DeadLetterSink* dead_letters, ingest::Outbox* feed)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      dead_letters_(dead_letters),
      feed_out_(feed),
      aggregates_(options_.windows),
      signal_sets_(signals::MakeSignalSets(options_.signals, &aggregates_)),
      writer_(store) {
  if (options_.dedup_horizon_ms > 0) {
    dedup_.emplace(options_.dedup_horizon_ms, store_, options_.dedup_filter_bytes);
  }
  if (feed_out_ != nullptr) {
    feed_.emplace(options_.windows.windows, options_.windows.allowed_lateness_ms,
                  [this](const window::WindowSpec& spec, int64_t watermark_ms) {
                    return aggregates_.HeldAfterMs(spec.bucket_ms, watermark_ms);
                  });
  }
  for (const InputTopic& topic : options_.topics) {
    topics_[topic.name] = TopicState{
        topic,
        signals::SeriesOf(signals::MetricOrDie(signals::kEventsIngestedTotal),
                          {topic.name}),
        signals::SeriesOf(signals::MetricOrDie(signals::kEventsDuplicateTotal),
                          {topic.name}),
        signals::SeriesOf(signals::MetricOrDie(signals::kEventsLateTotal), {topic.name}),
        signals::SeriesOf(signals::MetricOrDie(signals::kLastEventTimestamp),
                          {topic.name}),
    };
  }
}

absl::Status Pipeline::Load(TaskLoading loading) {
  loading_ = loading;
  awaiting_assignment_ = loading == TaskLoading::kOnAssignment;
  aggregates_.Open(*store_);
  if (dedup_.has_value()) dedup_->Open();
  for (const auto& set : signal_sets_) {
    if (absl::Status opened = set->Open(*store_); !opened.ok()) return opened;
  }
  if (feed_.has_value()) {
    if (absl::Status loaded = feed_->Load(*store_); !loaded.ok()) return loaded;
  }
  absl::StatusOr<std::string> watermark =
      store_->Get(state::Family::kMeta, kWatermarkKey);
  if (watermark.ok() && watermark->size() == 8) {
    watermark_ms_ = static_cast<int64_t>(DecodeFixedBigEndian(*watermark, 8));
  } else if (watermark.ok()) {
    return absl::DataLossError("malformed watermark in the meta column family");
  } else if (!absl::IsNotFound(watermark.status())) {
    return watermark.status();
  }
  if (absl::Status s = LoadBroadcastOffsets(); !s.ok()) return s;
  if (loading == TaskLoading::kAll) {
    absl::StatusOr<std::vector<state::TaskId>> tasks = state::AllStoredTasks(*store_);
    if (!tasks.ok()) return tasks.status();
    for (state::TaskId task : *tasks) {
      if (absl::Status s = LoadTask(task); !s.ok()) return s;
    }
  }
  last_flush_ms_ = clock_->NowMillis();
  return absl::OkStatus();
}

absl::Status Pipeline::LoadBroadcastOffsets() {
  return store_->Scan(state::Family::kMeta, kBroadcastPrefix,
                      [&](std::string_view key, std::string_view value) {
                        ingest::TopicPartition tp;
                        int64_t offset = 0;
                        absl::Status parsed = ParseOffsetEntry(
                            key.substr(kBroadcastPrefix.size()), value, &tp, &offset);
                        if (parsed.ok()) broadcast_[tp].next_offset = offset;
                        return parsed;
                      });
}

absl::Status Pipeline::LoadTask(state::TaskId task) {
  if (absl::Status s = aggregates_.LoadTask(task); !s.ok()) return s;
  // The state was expired as of the stored watermark before it was
  // written; saying so tells the feed which buckets the store still holds.
  aggregates_.ExpireBefore(watermark_ms_);
  if (dedup_.has_value()) {
    if (absl::Status s = dedup_->LoadTask(task); !s.ok()) return s;
  }
  absl::Status s = store_->Scan(
      state::Family::kOffsets, state::TaskPrefix(task),
      [&](std::string_view key, std::string_view value) {
        ingest::TopicPartition tp;
        int64_t offset = 0;
        if (absl::Status parsed = ParseOffsetEntry(key, value, &tp, &offset);
            !parsed.ok()) {
          return parsed;
        }
        PartitionProgress& progress = partitions_[tp];
        progress.next_offset = offset;
        progress.has_offset = true;
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  for (const auto& set : signal_sets_) {
    if (absl::Status loaded = set->LoadTask(task); !loaded.ok()) return loaded;
  }
  // The newest event time is the windows' "now" in event-time mode.
  aggregates_.ForEachMax([&](const window::SeriesKey&, int64_t value) {
    max_event_time_ms_ = std::max(max_event_time_ms_, value);
  });
  return absl::OkStatus();
}

void Pipeline::DropTask(state::TaskId task) {
  aggregates_.DropTask(task);
  if (dedup_.has_value()) dedup_->DropTask(task);
  for (const auto& set : signal_sets_) set->DropTask(task);
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    if (TaskOf(it->first.partition) == task) {
      holding_ -= static_cast<int>(it->second.Holds());
      partitions_.erase(it++);
    } else {
      ++it;
    }
  }
}

int64_t Pipeline::AsOf() const {
  return options_.time_mode == TimeMode::kEventTime ? max_event_time_ms_
                                                    : clock_->NowMillis();
}

std::optional<int64_t> Pipeline::NextOffset(const ingest::TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || !it->second.has_offset) return std::nullopt;
  return it->second.next_offset;
}

std::optional<int64_t> Pipeline::BroadcastOffset(const ingest::TopicPartition& tp) const {
  auto it = broadcast_.find(tp);
  if (it == broadcast_.end()) return std::nullopt;
  return it->second.next_offset;
}

bool Pipeline::Assigned(const ingest::TopicPartition& tp) const {
  auto it = partitions_.find(tp);
  return it != partitions_.end() && it->second.assigned;
}

template <typename Change>
void Pipeline::UpdateProgress(PartitionProgress& progress, Change change) {
  const bool held = progress.Holds();
  change(progress);
  holding_ += static_cast<int>(progress.Holds()) - static_cast<int>(held);
}

void Pipeline::SetAssigned(const ingest::TopicPartition& tp, bool assigned) {
  // A task is acquired from, or released to, the store between writes. A
  // failed write is kept and retried by the next Flush (the caller learns
  // of it there), without a revoked task's part.
  if (loading_ == TaskLoading::kOnAssignment) WaitForWrite().IgnoreError();
  const state::TaskId task = TaskOf(tp.partition);
  if (assigned) {
    awaiting_assignment_ = false;
    if (loading_ == TaskLoading::kOnAssignment && ++assigned_per_task_[task] == 1) {
      absl::Status s = store_->AcquireTask(task);
      if (s.ok()) s = LoadTask(task);
      if (!s.ok() && status_.ok()) {
        status_ = absl::Status(s.code(), absl::StrCat("cannot load the state of task ",
                                                      task, ": ", s.message()));
        Log(LogLevel::kError, std::string(status_.message()));
      }
    }
  }
  UpdateProgress(partitions_[tp], [&](PartitionProgress& p) {
    p.assigned = assigned;
    p.end_offset.reset();  // a new assignment's end is not known yet
  });
  if (!assigned && loading_ == TaskLoading::kOnAssignment) {
    const auto it = assigned_per_task_.find(task);
    if (it != assigned_per_task_.end() && --it->second == 0) {
      assigned_per_task_.erase(it);
      DropTask(task);
      // What a failed flush left unwritten goes with the task: its next
      // owner resumes from the offsets stored with what was written.
      unwritten_.RemoveTask(task);
      store_->ReleaseTask(task);
    }
  }
  AdvanceWatermark();
}

void Pipeline::SetEndOffset(const ingest::TopicPartition& tp, int64_t end_offset) {
  auto it = partitions_.find(tp);
  if (it == partitions_.end() || !it->second.assigned) return;
  const bool held = it->second.Holds();
  UpdateProgress(it->second, [&](PartitionProgress& p) { p.end_offset = end_offset; });
  if (held && !it->second.Holds()) AdvanceWatermark();
}

void Pipeline::AdvanceWatermark() {
  if (awaiting_assignment_) return;
  int64_t candidate = AsOf();
  if (holding_ > 0) {
    for (const auto& [tp, progress] : partitions_) {
      if (progress.Holds()) candidate = std::min(candidate, progress.stream_time_ms);
    }
  }
  if (candidate > watermark_ms_) {
    watermark_ms_ = candidate;
    watermark_dirty_ = true;
  }
}

void Pipeline::ProcessMessage(const ingest::Message& message) {
  auto topic_it =
      topics_.find(absl::string_view(message.topic.data(), message.topic.size()));
  if (topic_it == topics_.end()) return;  // not subscribed: cannot happen with Kafka
  const TopicState& topic = topic_it->second;

  ingest::TopicPartition tp{std::string(message.topic), message.partition};
  PartitionProgress& progress = partitions_[tp];
  // Already in the state.
  if (progress.has_offset && message.offset < progress.next_offset) return;
  // A partition this member no longer holds (a message that outlived its
  // revoke): its task is gone, and its next owner reads it.
  if (!progress.assigned && loading_ == TaskLoading::kOnAssignment) return;
  const state::TaskId task = TaskOf(message.partition);
  aggregates_.SelectTask(task);
  const bool held = progress.Holds();
  UpdateProgress(progress,
                 [&](PartitionProgress& p) { p.next_offset = message.offset + 1; });
  progress.has_offset = true;
  progress.dirty = true;

  int64_t occurred_ms = 0;
  std::string detail;
  if (const decode::Reject reason = DecodeValid(topic, message, &occurred_ms, &detail);
      reason != decode::Reject::kNone) {
    Reject(topic, reason, detail, message);
    return;
  }
  max_event_time_ms_ = std::max(max_event_time_ms_, occurred_ms);
  // The watermark can only move if no partition holds it, or if this one
  // did and may have been the one furthest behind. (A partition that stops
  // holding through a rejected message is seen at the next flush.)
  const bool may_move =
      holding_ == 0 || (held && progress.stream_time_ms <= watermark_ms_);
  progress.stream_time_ms = std::max(progress.stream_time_ms, occurred_ms);
  const int64_t before_ms = watermark_ms_;
  if (may_move) AdvanceWatermark();
  // The event is applied as of its own time at most: when it is the last
  // one its partition held back, the watermark may now be far past it
  // (other partitions ran ahead), and the event must not be late by that.
  Accept(topic, task, occurred_ms,
         std::max(before_ms, std::min(occurred_ms, watermark_ms_)));
}

void Pipeline::ProcessBroadcast(const ingest::Message& message) {
  auto topic_it =
      topics_.find(absl::string_view(message.topic.data(), message.topic.size()));
  if (topic_it == topics_.end()) return;
  const TopicState& topic = topic_it->second;
  ingest::TopicPartition tp{std::string(message.topic), message.partition};
  auto [it, first] = broadcast_.try_emplace(std::move(tp));
  if (!first && message.offset < it->second.next_offset) return;  // in the state
  it->second = {message.offset + 1, /*dirty=*/true};
  // What ProcessMessage rejects (and counts) is skipped here.
  int64_t occurred_ms = 0;
  std::string unused;
  if (DecodeValid(topic, message, &occurred_ms, &unused) != decode::Reject::kNone) return;
  for (const auto& set : signal_sets_) set->ApplyBroadcast(event_, occurred_ms);
}

void Pipeline::Accept(const TopicState& topic, state::TaskId task, int64_t occurred_ms,
                      int64_t as_of_ms) {
  if (dedup_.has_value() && dedup_->SeenBefore(task, decode::EventId(event_), occurred_ms,
                                               max_event_time_ms_)) {
    aggregates_.AddCounter(topic.duplicate, 1);
    return;
  }
  aggregates_.AddCounter(topic.ingested, 1);
  aggregates_.UpdateMax(topic.last_event, occurred_ms);
  if (!aggregates_.InRetention(occurred_ms, as_of_ms)) {
    aggregates_.AddCounter(topic.late, 1);
  }
  for (const auto& set : signal_sets_) set->Apply(event_, occurred_ms, as_of_ms);
  if (feed_.has_value()) feed_->NoteEvent(occurred_ms);
}

decode::Reject Pipeline::DecodeValid(const TopicState& topic,
                                     const ingest::Message& message, int64_t* occurred_ms,
                                     std::string* detail) {
  if (options_.max_message_bytes > 0 &&
      message.payload.size() > options_.max_message_bytes) {
    *detail = absl::StrCat(message.payload.size(), " bytes; the limit is ",
                           options_.max_message_bytes);
    return decode::Reject::kTooLarge;
  }
  const decode::Decoded decoded = decode::DecodeEvent(message.payload, topic.spec.format,
                                                      topic.spec.content, &event_);
  if (!decoded.ok()) {
    *detail = decoded.detail;
    return decoded.reason;
  }
  *occurred_ms = decode::OccurredAtMillis(event_);
  return CheckTolerance(*occurred_ms, detail);
}

decode::Reject Pipeline::CheckTolerance(int64_t occurred_ms, std::string* detail) const {
  const int64_t now_ms = clock_->NowMillis();
  if (options_.max_future_ms > 0 && occurred_ms > now_ms + options_.max_future_ms) {
    *detail = absl::StrCat("occurred_at is ", (occurred_ms - now_ms) / 1000,
                           " s ahead of the clock; the limit is ",
                           options_.max_future_ms / 1000, " s");
    return decode::Reject::kOutOfTolerance;
  }
  if (options_.max_age_ms > 0 && occurred_ms < now_ms - options_.max_age_ms) {
    *detail = absl::StrCat("occurred_at is ", (now_ms - occurred_ms) / 1000,
                           " s behind the clock; the limit is ",
                           options_.max_age_ms / 1000, " s");
    return decode::Reject::kOutOfTolerance;
  }
  return decode::Reject::kNone;
}

void Pipeline::Reject(const TopicState& topic, decode::Reject reason,
                      const std::string& detail, const ingest::Message& message) {
  if (dead_letters_ != nullptr) dead_letters_->Send(message, decode::RejectName(reason));
  aggregates_.AddCounter(
      signals::SeriesOf(signals::MetricOrDie(signals::kEventsRejectedTotal),
                        {topic.spec.name, decode::RejectName(reason)}),
      1);
  // Bad producers can send floods: log the first few, then every 1000th.
  if (rejects_logged_++ < 10 || rejects_logged_ % 1000 == 0) {
    Log(LogLevel::kWarning,
        absl::StrCat("rejected message ", topic.spec.name, "[", message.partition, "]@",
                     message.offset, " (", decode::RejectName(reason), "): ", detail));
  }
}

size_t Pipeline::PendingBytes() const {
  size_t pending = aggregates_.PendingBytes() + unwritten_.bytes();
  for (const auto& set : signal_sets_) pending += set->PendingBytes();
  if (dedup_.has_value()) pending += dedup_->PendingBytes();
  return pending;
}

bool Pipeline::FlushDue() const {
  const int64_t now_ms = clock_->NowMillis();
  if (retry_backoff_ms_ > 0) return now_ms >= retry_at_ms_;  // failing: retry on schedule
  return now_ms - last_flush_ms_ >= options_.flush_interval_ms ||
         PendingBytes() >= options_.cache_max_bytes;
}

bool Pipeline::Backlogged() const {
  return retry_backoff_ms_ > 0 && PendingBytes() >= options_.cache_max_bytes;
}

void Pipeline::ScheduleRetry() {
  // 100 ms, doubling to 10 s: quick recovery from a blip, little load while
  // a disk stays full.
  constexpr int64_t kFirstRetryMs = 100;
  constexpr int64_t kMaxRetryMs = 10'000;
  ++flush_errors_;
  retry_backoff_ms_ = retry_backoff_ms_ == 0
                          ? kFirstRetryMs
                          : std::min(2 * retry_backoff_ms_, kMaxRetryMs);
  retry_at_ms_ = clock_->NowMillis() + retry_backoff_ms_;
}

absl::Status Pipeline::Flush(FlushMode mode) {
  // The write in flight first: writes reach the store in order, and a
  // failed one goes again, ahead of anything collected after it.
  if (absl::Status s = WaitForWrite(); !s.ok()) return s;
  const auto started = std::chrono::steady_clock::now();
  last_flush_ms_ = clock_->NowMillis();
  // Dead letters first: an offset is stored only once the messages before
  // it are either in the state or in the dead-letter topic.
  if (dead_letters_ != nullptr) {
    if (absl::Status s = dead_letters_->Drain(); !s.ok()) {
      ScheduleRetry();
      return s;
    }
  }
  AdvanceWatermark();
  for (const auto& set : signal_sets_) set->Advance(watermark_ms_);
  // The offsets this flush stores (a transactional feed commits them too).
  std::vector<std::pair<ingest::TopicPartition, int64_t>> offsets;
  for (const auto& [tp, progress] : partitions_) {
    if (progress.dirty) offsets.emplace_back(tp, progress.next_offset);
  }
  if (feed_.has_value()) {
    // Before expiry: the windows it closes may use the oldest buckets.
    feed_->Advance(
        watermark_ms_,
        [this](int64_t as_of_ms) {
          std::vector<prometheus::MetricFamily> families;
          CollectFamilies(as_of_ms, &families);
          return families;
        },
        [this](const window::WindowSpec& spec, int64_t as_of_ms) {
          return aggregates_.AnyBucketInWindow(spec, as_of_ms);
        },
        feed_out_);
    if (absl::Status s = feed_out_->Drain(offsets); !s.ok()) {
      ScheduleRetry();
      return s;
    }
  }
  aggregates_.ExpireBefore(watermark_ms_);
  // Appended after any changes a failed Write left behind: in a WriteBatch
  // later operations win, so the newest absolute values are what persist.
  aggregates_.CollectChanges(&unwritten_);
  for (const auto& set : signal_sets_) set->CollectChanges(&unwritten_);
  if (dedup_.has_value()) dedup_->CollectChanges(max_event_time_ms_, &unwritten_);
  if (feed_.has_value()) feed_->CollectChanges(&unwritten_);
  if (watermark_dirty_) {
    std::string value;
    PutFixedBigEndian(static_cast<uint64_t>(watermark_ms_), 8, &value);
    unwritten_.Put(state::Family::kMeta, std::string(kWatermarkKey), std::move(value));
    watermark_dirty_ = false;
  }
  for (const auto& [tp, next_offset] : offsets) {
    unwritten_.Put(state::Family::kOffsets, OffsetKey(tp), OffsetValue(next_offset));
    partitions_[tp].dirty = false;
  }
  for (auto& [tp, progress] : broadcast_) {
    if (!progress.dirty) continue;
    // A failed write keeps it in unwritten_, which the next one rewrites.
    unwritten_.Put(state::Family::kMeta, std::string(kBroadcastPrefix) + OffsetKey(tp),
                   OffsetValue(progress.next_offset));
    progress.dirty = false;
  }
  if (unwritten_.empty()) {
    retry_backoff_ms_ = 0;
    retry_at_ms_ = 0;
    return absl::OkStatus();
  }

  writing_offsets_ = std::move(offsets);
  collect_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  writer_.Start(std::exchange(unwritten_, {}));
  if (mode == FlushMode::kBackground) return absl::OkStatus();
  return WaitForWrite();
}

std::optional<absl::Status> Pipeline::PollWrite() {
  if (!writer_.InFlight() || !writer_.Ended()) return std::nullopt;
  return WaitForWrite();
}

absl::Status Pipeline::WaitForWrite() {
  if (!writer_.InFlight()) return absl::OkStatus();
  // On success the components learn that their changes are durable.
  state::BackgroundWriter::Outcome outcome = writer_.Wait();
  if (!outcome.status.ok()) {
    // Nothing is collected while a write is in flight, so these are all the
    // unwritten changes.
    unwritten_ = std::move(outcome.changes);
    ScheduleRetry();
    // Keep the offsets dirty so that they are committed once written.
    for (const auto& entry : writing_offsets_) partitions_[entry.first].dirty = true;
    writing_offsets_.clear();
    return outcome.status;
  }
  aggregates_.Written();
  for (const auto& set : signal_sets_) set->Written();
  if (dedup_.has_value()) dedup_->Written();
  retry_backoff_ms_ = 0;
  retry_at_ms_ = 0;
  ++flushes_;
  last_flush_seconds_ = collect_seconds_ + outcome.seconds;
  committable_.insert(committable_.end(), writing_offsets_.begin(),
                      writing_offsets_.end());
  writing_offsets_.clear();
  return absl::OkStatus();
}

std::vector<std::pair<ingest::TopicPartition, int64_t>>
Pipeline::TakeCommittableOffsets() {
  return std::exchange(committable_, {});
}

std::unique_ptr<exporter::Snapshot> Pipeline::BuildSnapshot(
    std::vector<prometheus::MetricFamily> live) const {
  auto snapshot = std::make_unique<exporter::Snapshot>();
  snapshot->as_of_ms = AsOf();
  snapshot->families = std::move(live);
  CollectFamilies(snapshot->as_of_ms, &snapshot->families);
  exporter::SortFamilies(&snapshot->families);
  return snapshot;
}

void Pipeline::CollectFamilies(int64_t as_of_ms,
                               std::vector<prometheus::MetricFamily>* families) const {
  signals::CollectStored(aggregates_, as_of_ms, families);
  for (const auto& set : signal_sets_) set->Collect(as_of_ms, families);
}

}  // namespace prodops::app
