#include "daemon/ingest/consumer.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"
#include "simdjson.h"

namespace prodops::ingest {

using internal::KafkaError;
using internal::KafkaHandle;
using internal::PartitionListHandle;

struct KafkaConsumer::Impl {
  RebalanceListener* listener = nullptr;
  // Every topic read; the group is subscribed to the first.
  std::vector<std::string> topics;
  KafkaHandle rk;
  absl::Status status;  // see KafkaConsumer::status()
  // Input topics that did not exist at the latest assignment.
  std::set<std::string> missing_topics;
  std::atomic<bool> brokers_up{false};
  bool closed = false;
  internal::ErrorLog errors;
};

namespace {

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  out.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

bool IsCooperative(rd_kafka_t* rk) {
  return std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
}

// Partition p of every topic, for each partition p of `group_partitions`
// (the first topic's, as the group assigned them).
PartitionListHandle WithFollowers(const rd_kafka_topic_partition_list_t* group_partitions,
                                  const std::vector<std::string>& topics) {
  PartitionListHandle all(
      rd_kafka_topic_partition_list_new(group_partitions->cnt * topics.size()));
  for (int i = 0; i < group_partitions->cnt; ++i) {
    for (const std::string& topic : topics) {
      rd_kafka_topic_partition_list_add(all.get(), topic.c_str(),
                                        group_partitions->elems[i].partition);
    }
  }
  return all;
}

// Every assigned partition whose number is one of `group_partitions`': what
// leaves with them.
PartitionListHandle AssignedWithNumbersOf(
    rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* group_partitions) {
  rd_kafka_topic_partition_list_t* assigned = nullptr;
  if (rd_kafka_assignment(rk, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return PartitionListHandle(rd_kafka_topic_partition_list_copy(group_partitions));
  }
  PartitionListHandle owned(assigned);
  PartitionListHandle leaving(rd_kafka_topic_partition_list_new(assigned->cnt));
  for (int i = 0; i < assigned->cnt; ++i) {
    for (int j = 0; j < group_partitions->cnt; ++j) {
      if (assigned->elems[i].partition == group_partitions->elems[j].partition) {
        rd_kafka_topic_partition_list_add(leaving.get(), assigned->elems[i].topic,
                                          assigned->elems[i].partition);
        break;
      }
    }
  }
  return leaving;
}

// An error if the topics that exist have different partition counts (they
// cannot be co-partitioned). A topic that does not exist yet is logged and
// put in `missing`: its partitions are assigned all the same, and read
// once it is created.
absl::Status CheckCoPartitioned(rd_kafka_t* rk, const std::vector<std::string>& topics,
                                std::set<std::string>* missing) {
  missing->clear();
  constexpr int kMetadataTimeoutMs = 10'000;
  std::vector<std::pair<std::string, int>> counts;
  for (const std::string& topic : topics) {
    absl::StatusOr<int> count = internal::PartitionCount(rk, topic, kMetadataTimeoutMs);
    if (count.ok()) {
      counts.emplace_back(topic, *count);
    } else if (absl::IsNotFound(count.status())) {
      missing->insert(topic);
      Log(LogLevel::kWarning,
          absl::StrCat("input ", count.status().message(),
                       "; its partitions are read once it is created"));
    } else {
      // Cannot check now; the group's assignment stands.
      Log(LogLevel::kWarning, absl::StrCat("cannot read the partition count of ", topic,
                                           ": ", count.status().message()));
    }
  }
  for (const auto& [topic, count] : counts) {
    if (count != counts.front().second) {
      std::string listed;
      for (const auto& [name, n] : counts) {
        absl::StrAppend(&listed, listed.empty() ? "" : ", ", name, " has ", n);
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "the input topics are not co-partitioned (", listed,
          " partitions): every input topic needs the same number of partitions "
          "(docs/scaling.md)"));
    }
  }
  return absl::OkStatus();
}

void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* impl = static_cast<KafkaConsumer::Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (impl->status.ok()) {
      impl->status = CheckCoPartitioned(rk, impl->topics, &impl->missing_topics);
      if (!impl->status.ok()) Log(LogLevel::kError, std::string(impl->status.message()));
    }
    // Refused: the group's partitions alone, paused, so that nothing is read.
    PartitionListHandle assigning =
        impl->status.ok() ? WithFollowers(partitions, impl->topics)
                          : PartitionListHandle(rd_kafka_topic_partition_list_copy(partitions));
    for (int i = 0; i < assigning->cnt; ++i) {
      auto& p = assigning->elems[i];
      const std::optional<int64_t> start = impl->listener->StartOffset({p.topic, p.partition});
      p.offset = start.has_value() ? *start : RD_KAFKA_OFFSET_BEGINNING;
      Log(LogLevel::kInfo, absl::StrCat("assigned ", p.topic, "[", p.partition, "] from ",
                                        start.has_value() ? absl::StrCat("offset ", *start)
                                                          : std::string("the beginning")));
    }
    rd_kafka_error_t* error = nullptr;
    if (IsCooperative(rk)) {
      error = rd_kafka_incremental_assign(rk, assigning.get());
    } else {
      rd_kafka_assign(rk, assigning.get());
    }
    if (error != nullptr) {
      Log(LogLevel::kError, absl::StrCat("assign failed: ", rd_kafka_error_string(error)));
      rd_kafka_error_destroy(error);
    }
    if (!impl->status.ok()) rd_kafka_pause_partitions(rk, assigning.get());
    return;
  }
  // Revoked or lost: either way the partitions leave this member, and the
  // other topics' partitions of the same numbers with them. Whatever was
  // processed from them is made durable first, so that their next owner
  // (maybe this process, after a restart) starts exactly after it.
  PartitionListHandle leaving = AssignedWithNumbersOf(rk, partitions);
  impl->listener->BeforeRevoke(ToVector(leaving.get()));
  for (int i = 0; i < leaving->cnt; ++i) {
    Log(LogLevel::kInfo, absl::StrCat("revoked ", leaving->elems[i].topic, "[",
                                      leaving->elems[i].partition, "]"));
  }
  if (IsCooperative(rk)) {
    rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, leaving.get());
    if (error != nullptr) {
      Log(LogLevel::kError, absl::StrCat("unassign failed: ", rd_kafka_error_string(error)));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_assign(rk, nullptr);
  }
}

// Broker connectivity from librdkafka's statistics: up when at least one
// real broker (nodeid >= 0, not a bootstrap placeholder) is in state "UP".
int OnStatistics(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
  auto* impl = static_cast<KafkaConsumer::Impl*>(opaque);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json, json_len).get(doc) != simdjson::SUCCESS) return 0;
  simdjson::dom::object brokers;
  if (doc["brokers"].get(brokers) != simdjson::SUCCESS) return 0;
  bool up = false;
  for (auto [name, broker] : brokers) {
    int64_t node_id = -1;
    std::string_view state;
    if (broker["nodeid"].get(node_id) == simdjson::SUCCESS && node_id >= 0 &&
        broker["state"].get(state) == simdjson::SUCCESS && state == "UP") {
      up = true;
    }
  }
  impl->brokers_up.store(up, std::memory_order_relaxed);
  return 0;  // librdkafka frees `json`
}

void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* impl = static_cast<KafkaConsumer::Impl*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    impl->brokers_up.store(false, std::memory_order_relaxed);
  }
  impl->errors.Warn(err, reason);
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(
    const ConsumerOptions& options, RebalanceListener* listener) {
  if (options.topics.empty()) return absl::InvalidArgumentError("no topics to read");
  KafkaProperties properties = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group_id},
      {"client.id", options.client_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      // Positions come from the state store; Kafka's committed offsets are
      // written by Commit() only for lag tools and never read back.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"statistics.interval.ms", "1000"},
      {"enable.partition.eof", "false"},
  };
  if (!options.group_instance_id.empty()) {
    properties["group.instance.id"] = options.group_instance_id;
  }
  for (const auto& [name, value] : options.extra_properties) properties[name] = value;

  auto impl = std::make_unique<Impl>();
  impl->listener = listener;
  impl->topics = options.topics;
  absl::StatusOr<internal::ConfHandle> conf = internal::MakeConf(properties);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_opaque(conf->get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf->get(), OnRebalance);
  rd_kafka_conf_set_stats_cb(conf->get(), OnStatistics);
  rd_kafka_conf_set_error_cb(conf->get(), OnError);
  absl::StatusOr<KafkaHandle> rk = internal::MakeClient(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  impl->rk = *std::move(rk);
  // Serve statistics, errors and rebalances from Poll(), on our thread.
  rd_kafka_poll_set_consumer(impl->rk.get());

  // The other topics follow the first's assignment (see KafkaConsumer).
  PartitionListHandle subscription(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(subscription.get(), options.topics.front().c_str(),
                                    RD_KAFKA_PARTITION_UA);
  if (absl::Status s =
          KafkaError("subscribe", rd_kafka_subscribe(impl->rk.get(), subscription.get()));
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<KafkaConsumer>(new KafkaConsumer(std::move(impl)));
}

KafkaConsumer::KafkaConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaConsumer::~KafkaConsumer() { Close(); }

bool KafkaConsumer::BrokersUp() const {
  return impl_->brokers_up.load(std::memory_order_relaxed);
}

size_t KafkaConsumer::Poll(int timeout_ms, size_t max_messages,
                           const std::function<void(const Message&)>& on_message) {
  size_t delivered = 0;
  int wait_ms = timeout_ms;
  while (delivered < max_messages) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), wait_ms);
    if (m == nullptr) break;
    wait_ms = 0;  // after the first message, take only what is already here
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      OnError(impl_->rk.get(), m->err, rd_kafka_message_errstr(m), impl_.get());
      rd_kafka_message_destroy(m);
      continue;
    }
    on_message(internal::MessageOf(m));
    rd_kafka_message_destroy(m);
    ++delivered;
  }
  return delivered;
}

void KafkaConsumer::Commit(const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) {
  if (next_offsets.empty() || impl_->closed) return;
  const PartitionListHandle list = internal::OffsetList(next_offsets);
  const rd_kafka_resp_err_t err = rd_kafka_commit(impl_->rk.get(), list.get(), /*async=*/1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    OnError(impl_->rk.get(), err, "offset commit failed", impl_.get());
  }
}

std::vector<TopicPartition> KafkaConsumer::Assignment() const {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(impl_->rk.get(), &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  PartitionListHandle owned(list);
  return ToVector(list);
}

void KafkaConsumer::SetPaused(bool paused) {
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(impl_->rk.get(), &list) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionListHandle owned(list);
  // Partitions assigned later start unpaused; callers re-apply the pause
  // while it lasts.
  const rd_kafka_resp_err_t err = paused ? rd_kafka_pause_partitions(impl_->rk.get(), list)
                                         : rd_kafka_resume_partitions(impl_->rk.get(), list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    OnError(impl_->rk.get(), err, paused ? "pause failed" : "resume failed", impl_.get());
  }
}

std::unique_ptr<ConsumerGroupMetadata> KafkaConsumer::GroupMetadata() const {
  rd_kafka_consumer_group_metadata_t* handle = rd_kafka_consumer_group_metadata(impl_->rk.get());
  if (handle == nullptr) return nullptr;
  return std::make_unique<ConsumerGroupMetadata>(handle);
}

std::optional<int64_t> KafkaConsumer::HighWatermark(const TopicPartition& tp) const {
  const std::optional<int64_t> high = internal::CachedHighWatermark(impl_->rk.get(), tp);
  // A topic that does not exist holds no message.
  if (!high.has_value() && impl_->missing_topics.contains(tp.topic)) return 0;
  return high;
}

absl::Status KafkaConsumer::status() const { return impl_->status; }

void KafkaConsumer::Close() {
  if (impl_ == nullptr || impl_->closed) return;
  impl_->closed = true;
  // Revokes the assignment through OnRebalance, then leaves the group.
  if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(impl_->rk.get()); err) {
    Log(LogLevel::kWarning, absl::StrCat("consumer close: ", rd_kafka_err2str(err)));
  }
}

}  // namespace prodops::ingest
