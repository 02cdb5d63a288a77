#include "daemon/ingest/changelog_store.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/common/big_endian.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"
#include "daemon/ingest/producer.h"

namespace prodops::ingest {

using state::Family;
using state::TaskId;
using state::WriteSet;

namespace {

using Steady = std::chrono::steady_clock;

// A put's record value is this byte, then the entry's value; a null value
// is a delete (a tombstone, which compaction removes). The byte keeps a put
// of an empty value apart from a delete, and leaves room for other formats.
constexpr char kPutMarker = '\x01';
// Restored records are written to the local store in batches of this many
// (each write is synced).
constexpr size_t kRestoreBatch = 50'000;
// The clock is read once per this many records read (and whenever a poll
// finds nothing): reading it per record costs more than the bookkeeping.
constexpr uint64_t kClockEvery = 1024;

int64_t SecondsBetween(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

// Where the local copy of `task`'s entries of `family` stands in its
// changelog partition, in Family::kMeta.
std::string PositionKey(Family family, TaskId task) {
  return absl::StrCat("changelog_position/", state::FamilyName(family), "/", task);
}

std::string PositionValue(int64_t offset) {
  std::string value;
  PutFixedBigEndian(static_cast<uint64_t>(offset), 8, &value);
  return value;
}

// The producer of `task`'s records. Its transactional id names the task,
// so that creating it fences the task's previous owner.
absl::StatusOr<std::unique_ptr<KafkaProducer>> CreateTaskProducer(
    const ChangelogOptions& options, TaskId task) {
  // A flush's records go out together: compressed batches cost the broker
  // (often on the same machines) far less per record.
  KafkaProperties properties = {{"compression.codec", "lz4"}};
  for (const auto& [name, value] : options.extra_properties) properties[name] = value;
  return KafkaProducer::Create({options.bootstrap_servers, std::move(properties),
                                "prodopsd-changelog",
                                absl::StrCat(options.topic_prefix, "-task-", task)});
}

}  // namespace

struct ChangelogStore::Impl {
  // The tasks held (AcquireTask until ReleaseTask), each with its producer;
  // null after a failure, until the next use creates it again.
  std::map<TaskId, std::unique_ptr<KafkaProducer>> producers;
  // Reads partitions for restores; created by the first.
  internal::KafkaHandle restorer;
};

std::string ChangelogStore::TopicName(const std::string& prefix, Family family) {
  return absl::StrCat(prefix, "-", state::FamilyName(family), "-changelog");
}

std::vector<TopicSpec> ChangelogStore::Topics(const std::string& prefix, int partitions,
                                              int replication_factor,
                                              int64_t dedup_retention_ms) {
  std::vector<TopicSpec> topics;
  for (Family family : state::kTaskFamilies) {
    TopicSpec spec{TopicName(prefix, family),
                   partitions,
                   replication_factor,
                   {{"cleanup.policy", "compact"}}};
    if (family == Family::kDedup && dedup_retention_ms > 0) {
      spec.configs = {{"cleanup.policy", "compact,delete"},
                      {"retention.ms", std::to_string(dedup_retention_ms)}};
    }
    topics.push_back(std::move(spec));
  }
  return topics;
}

absl::StatusOr<std::unique_ptr<ChangelogStore>> ChangelogStore::Create(
    ChangelogOptions options, state::StateStore* local) {
  if (options.topic_prefix.empty()) {
    return absl::InvalidArgumentError("changelog topic prefix is empty");
  }
  return std::unique_ptr<ChangelogStore>(
      new ChangelogStore(std::move(options), local, std::make_unique<Impl>()));
}

ChangelogStore::ChangelogStore(ChangelogOptions options, state::StateStore* local,
                               std::unique_ptr<Impl> impl)
    : options_(std::move(options)), local_(local), impl_(std::move(impl)) {
  for (Family family : state::kTaskFamilies) {
    topics_[static_cast<size_t>(family)] = TopicName(options_.topic_prefix, family);
  }
}

ChangelogStore::~ChangelogStore() = default;

absl::Status ChangelogStore::ScanRange(Family family, std::string_view begin,
                                       std::string_view end, const Visitor& visit) const {
  return local_->ScanRange(family, begin, end, visit);
}

absl::StatusOr<std::string> ChangelogStore::Get(Family family,
                                                std::string_view key) const {
  return local_->Get(family, key);
}

void ChangelogStore::SetDedupCutoff(int64_t cutoff) { local_->SetDedupCutoff(cutoff); }

absl::Status ChangelogStore::Write(const WriteSet& changes) {
  // The producers with an open transaction, in the order they were opened.
  std::vector<TaskId> open;
  absl::Status status;
  uint64_t records = 0;
  std::string value;
  const std::vector<WriteSet::Op>& ops = changes.ops();
  for (size_t i = 0; i < ops.size() && status.ok(); ++i) {
    const WriteSet::Op& op = ops[i];
    if (!state::HoldsTasks(op.family)) continue;
    TaskId task = 0;
    if (!state::ParseTaskPrefix(op.key, &task)) {
      status = absl::InternalError(absl::StrCat(
          "a key of the ", state::FamilyName(op.family), " family has no task prefix"));
      break;
    }
    const auto held = impl_->producers.find(task);
    if (held == impl_->producers.end()) {
      status = absl::FailedPreconditionError(
          absl::StrCat("changes to task ", task, ", which this process does not hold"));
      break;
    }
    if (held->second == nullptr) {
      absl::StatusOr<std::unique_ptr<KafkaProducer>> created =
          CreateTaskProducer(options_, task);
      if (!created.ok()) {
        status = created.status();
        break;
      }
      held->second = *std::move(created);
    }
    KafkaProducer& producer = *held->second;
    if (std::find(open.begin(), open.end(), task) == open.end()) {
      status = producer.BeginTransaction();
      if (!status.ok()) break;
      open.push_back(task);
    }
    const std::string& topic = Topic(op.family);
    const auto partition = static_cast<int32_t>(task);
    switch (op.kind) {
      case WriteSet::OpKind::kPut:
        value.assign(1, kPutMarker);
        value.append(op.value);
        status = producer.Produce(topic, partition, op.key, value);
        ++records;
        break;
      case WriteSet::OpKind::kDelete:
        status = producer.ProduceTombstone(topic, partition, op.key);
        ++records;
        break;
      case WriteSet::OpKind::kDeleteRange:
        status = ProduceRangeTombstones(changes, i, task, &records);
        break;
    }
  }
  for (TaskId task : open) {
    std::unique_ptr<KafkaProducer>& producer = impl_->producers[task];
    if (status.ok()) {
      status = producer->CommitTransaction(options_.timeout_ms);
      if (status.ok()) continue;
    }
    // Nothing of this Write may reach the local store; the pipeline writes
    // it all again later. A producer that cannot even abort is made anew,
    // unless it was fenced: the task then has another owner, and fighting
    // over it would fence that one in turn.
    absl::Status aborted = producer->AbortTransaction(options_.timeout_ms);
    if (!aborted.ok() && !absl::IsFailedPrecondition(aborted)) producer.reset();
  }
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("changelog: ", status.message()));
  }
  records_written_.fetch_add(records, std::memory_order_relaxed);
  if (absl::Status s = local_->Write(changes); !s.ok()) return s;
  return WritePositions(open);
}

absl::Status ChangelogStore::ProduceRangeTombstones(const WriteSet& changes,
                                                    size_t op_index, TaskId task,
                                                    uint64_t* records) {
  const WriteSet::Op& range = changes.ops()[op_index];
  KafkaProducer& producer = *impl_->producers.at(task);
  const std::string& topic = Topic(range.family);
  const auto partition = static_cast<int32_t>(task);
  const auto in_range = [&](std::string_view key) {
    return key >= range.key && key < range.value;
  };
  for (size_t i = 0; i < op_index; ++i) {
    const WriteSet::Op& op = changes.ops()[i];
    if (op.kind == WriteSet::OpKind::kPut && op.family == range.family &&
        in_range(op.key)) {
      if (absl::Status s = producer.ProduceTombstone(topic, partition, op.key); !s.ok()) {
        return s;
      }
      ++*records;
    }
  }
  return local_->ScanRange(range.family, range.key, range.value,
                           [&](std::string_view key, std::string_view) {
                             ++*records;
                             return producer.ProduceTombstone(topic, partition, key);
                           });
}

absl::Status ChangelogStore::WritePositions(const std::vector<TaskId>& tasks,
                                            const std::map<Family, int64_t>* ends) {
  WriteSet positions;
  for (TaskId task : tasks) {
    const KafkaProducer* producer = impl_->producers[task].get();
    if (producer == nullptr) continue;
    for (Family family : state::kTaskFamilies) {
      std::optional<int64_t> end =
          producer->DeliveredEnd(Topic(family), static_cast<int32_t>(task));
      if (!end.has_value() && ends != nullptr) end = ends->at(family);
      if (end.has_value()) {
        positions.Put(Family::kMeta, PositionKey(family, task), PositionValue(*end));
      }
    }
  }
  if (positions.empty()) return absl::OkStatus();
  return local_->Write(positions);
}

absl::Status ChangelogStore::EndOffsets(const std::string& topic, TaskId task,
                                        int64_t* low, int64_t* high) const {
  // A partition without a leader yet (a topic just created, a broker
  // failing over) is asked again until the timeout.
  const Steady::time_point deadline =
      Steady::now() + std::chrono::milliseconds(options_.timeout_ms);
  while (true) {
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        impl_->restorer.get(), topic.c_str(), static_cast<int32_t>(task), low, high,
        options_.timeout_ms);
    const bool retriable = err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
                           err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
                           err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                           err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                           err == RD_KAFKA_RESP_ERR__TRANSPORT;
    if (!retriable || Steady::now() >= deadline) {
      return internal::KafkaError(
          absl::StrCat("changelog ", topic, " partition ", task, ": end offsets"), err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::Status ChangelogStore::AcquireTask(TaskId task) {
  // Fences the task's previous owner and aborts what it left open, so that
  // the partitions' ends below are final.
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer =
      CreateTaskProducer(options_, task);
  if (!producer.ok()) return producer.status();
  impl_->producers[task] = *std::move(producer);

  if (impl_->restorer == nullptr) {
    KafkaProperties properties = {
        {"bootstrap.servers", options_.bootstrap_servers},
        {"client.id", "prodopsd-changelog-restore"},
        {"group.id", absl::StrCat(options_.topic_prefix, "-restore")},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"isolation.level", "read_committed"},
        // The end of a partition is only known from a fetch that finds
        // nothing: do not let it wait long for more.
        {"fetch.wait.max.ms", "20"},
    };
    for (const auto& [name, value] : options_.extra_properties) properties[name] = value;
    absl::StatusOr<internal::ConfHandle> conf = internal::MakeConf(properties);
    if (!conf.ok()) return conf.status();
    absl::StatusOr<internal::KafkaHandle> rk =
        internal::MakeClient(RD_KAFKA_CONSUMER, *std::move(conf));
    if (!rk.ok()) return rk.status();
    impl_->restorer = *std::move(rk);
    rd_kafka_poll_set_consumer(impl_->restorer.get());
  }

  // Where the local copy stands, and what the changelog holds.
  std::map<Family, int64_t> from;
  std::map<Family, int64_t> ends;
  bool positioned = true;
  bool local_ahead = false;
  bool changelog_empty = true;
  int64_t remaining = 0;
  for (Family family : state::kTaskFamilies) {
    const std::string& topic = Topic(family);
    int64_t low = 0;
    int64_t high = 0;
    if (absl::Status s = EndOffsets(topic, task, &low, &high); !s.ok()) return s;
    if (high > low) changelog_empty = false;
    ends[family] = high;
    absl::StatusOr<std::string> position =
        local_->Get(Family::kMeta, PositionKey(family, task));
    if (position.ok() && position->size() == 8) {
      from[family] = static_cast<int64_t>(DecodeFixedBigEndian(*position, 8));
      if (from[family] > high) local_ahead = true;
    } else if (position.ok() || absl::IsNotFound(position.status())) {
      positioned = false;
      from[family] = low;
    } else {
      return position.status();
    }
    remaining += std::max<int64_t>(0, high - std::max(from[family], low));
  }

  if (changelog_empty || local_ahead) {
    // The local copy is all there is (or newer than a changelog that was
    // recreated): it becomes the changelog's content.
    return Seed(task, ends);
  }
  if (!positioned) {
    // A local copy of unknown age would mix with the changelog's: replace it.
    WriteSet wipe;
    const std::string prefix = state::TaskPrefix(task);
    for (Family family : state::kTaskFamilies) {
      wipe.DeleteRange(family, prefix, state::PrefixSuccessor(prefix));
    }
    if (absl::Status s = local_->Write(wipe); !s.ok()) return s;
  }
  return Restore(task, std::move(from), remaining);
}

absl::Status ChangelogStore::Seed(TaskId task, std::map<Family, int64_t> ends) {
  KafkaProducer& producer = *impl_->producers.at(task);
  if (absl::Status s = producer.BeginTransaction(); !s.ok()) return s;
  uint64_t records = 0;
  std::string record;
  absl::Status status;
  for (Family family : state::kTaskFamilies) {
    const std::string& topic = Topic(family);
    status = local_->Scan(family, state::TaskPrefix(task),
                          [&](std::string_view key, std::string_view value) {
                            ++records;
                            record.assign(1, kPutMarker);
                            record.append(value);
                            return producer.Produce(topic, static_cast<int32_t>(task),
                                                    key, record);
                          });
    if (!status.ok()) break;
  }
  if (status.ok()) status = producer.CommitTransaction(options_.timeout_ms);
  if (!status.ok()) {
    (void)producer.AbortTransaction(options_.timeout_ms);
    return absl::Status(status.code(), absl::StrCat("seeding the changelog of task ",
                                                    task, ": ", status.message()));
  }
  records_written_.fetch_add(records, std::memory_order_relaxed);
  if (records > 0) {
    Log(LogLevel::kInfo, absl::StrCat("task ", task, ": wrote its ", records,
                                      " local entries to the changelog"));
  }
  // Every family gets a position, so that the next acquisition knows the
  // local copy for current.
  return WritePositions({task}, &ends);
}

absl::Status ChangelogStore::Restore(TaskId task, std::map<Family, int64_t> from,
                                     int64_t remaining) {
  rd_kafka_t* rk = impl_->restorer.get();
  const Steady::time_point started = Steady::now();
  std::map<std::string, Family> families;
  internal::PartitionListHandle list(
      rd_kafka_topic_partition_list_new(static_cast<int>(from.size())));
  for (const auto& [family, offset] : from) {
    const std::string& topic = Topic(family);
    families[topic] = family;
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(),
                                      static_cast<int32_t>(task))
        ->offset = offset;
  }
  if (absl::Status s = internal::KafkaError("changelog restore: assign",
                                            rd_kafka_assign(rk, list.get()));
      !s.ok()) {
    return s;
  }
  stats_.restore_remaining = remaining;
  stats_.restoring = true;
  std::set<Family> reading;
  for (const auto& [family, unused] : from) reading.insert(family);
  const std::string prefix = state::TaskPrefix(task);
  WriteSet batch;
  uint64_t restored = 0;
  // Writes the batch with the positions it reaches.
  const auto write_batch = [&]() {
    for (const auto& [family, offset] : from) {
      batch.Put(Family::kMeta, PositionKey(family, task), PositionValue(offset));
    }
    absl::Status s = local_->Write(batch);
    batch.Clear();
    return s;
  };
  Steady::time_point last_read = Steady::now();
  Steady::time_point last_report = last_read;
  absl::Status status;
  uint64_t polled = 0;
  while (!reading.empty() && status.ok()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m != nullptr && ++polled % kClockEvery != 0) {
      // Between clock readings: read, so not stalled.
    } else {
      const Steady::time_point now = Steady::now();
      if (now - last_report >= std::chrono::seconds(1)) {
        last_report = now;
        if (progress_) progress_();
      }
      if (m == nullptr) {
        if (now - last_read >= std::chrono::milliseconds(options_.timeout_ms)) {
          status = absl::DeadlineExceededError(absl::StrCat(
              "changelog restore of task ", task, ": nothing read for ",
              SecondsBetween(last_read, now), " s (", restored, " records restored)"));
        }
        continue;
      }
      last_read = now;
    }
    const auto family = families.find(rd_kafka_topic_name(m->rkt));
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && family != families.end()) {
      from[family->second] = m->offset;
      reading.erase(family->second);
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status =
          internal::KafkaError(absl::StrCat("changelog restore of task ", task), m->err);
    } else if (family == families.end() || m->partition != static_cast<int32_t>(task)) {
      status = absl::InternalError("changelog restore: a record of another partition");
    } else {
      const std::string_view key(static_cast<const char*>(m->key), m->key_len);
      const std::string_view value(static_cast<const char*>(m->payload), m->len);
      if (!key.starts_with(prefix)) {
        status = absl::DataLossError(
            absl::StrCat("changelog ", rd_kafka_topic_name(m->rkt), " partition ", task,
                         " offset ", m->offset, ": the key is not task ", task, "'s"));
      } else if (value.empty()) {
        batch.Delete(family->second, std::string(key));
      } else if (value[0] == kPutMarker) {
        batch.Put(family->second, std::string(key), std::string(value.substr(1)));
      } else {
        status = absl::DataLossError(absl::StrCat(
            "changelog ", rd_kafka_topic_name(m->rkt), " partition ", task, " offset ",
            m->offset, ": unknown record format ", static_cast<int>(value[0])));
      }
      from[family->second] = m->offset + 1;
      ++restored;
      ++stats_.records_restored;
      stats_.restore_remaining = std::max<int64_t>(0, stats_.restore_remaining - 1);
      if (status.ok() && batch.ops().size() >= kRestoreBatch) status = write_batch();
    }
    rd_kafka_message_destroy(m);
  }
  if (status.ok()) status = write_batch();
  (void)rd_kafka_assign(rk, nullptr);
  const double seconds = std::chrono::duration<double>(Steady::now() - started).count();
  stats_.restore_seconds += seconds;
  stats_.restore_remaining = 0;
  stats_.restoring = false;
  ++stats_.restores;
  if (!status.ok()) return status;
  // The entries the task holds now, which the records (a key may have
  // several until compaction) were read for: the cost's other measure.
  uint64_t entries = 0;
  for (Family family : state::kTaskFamilies) {
    (void)local_->Scan(family, prefix, [&](std::string_view, std::string_view) {
      ++entries;
      return absl::OkStatus();
    });
  }
  Log(LogLevel::kInfo,
      absl::StrFormat("task %u: restored %u changelog records in %.3f s; it holds %u "
                      "entries",
                      task, restored, seconds, entries));
  return absl::OkStatus();
}

void ChangelogStore::ReleaseTask(TaskId task) { impl_->producers.erase(task); }

}  // namespace prodops::ingest
