#include "daemon/ingest/topic_reader.h"

#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"

namespace prodops::ingest {
namespace {

using Steady = std::chrono::steady_clock;

// Metadata waits: at start, and when looking again from Poll, which must
// not hold the daemon's loop up long while the cluster is unreachable.
constexpr int kStartMetadataTimeoutMs = 10'000;
constexpr int kRecheckMetadataTimeoutMs = 1'000;
// How often topics that did not exist are looked for again.
constexpr auto kMissingTopicRecheck = std::chrono::seconds(5);

}  // namespace

struct TopicReader::Impl {
  TopicReaderOptions options;
  StartOffset start;
  internal::KafkaHandle rk;
  std::set<std::string> missing_topics;  // not assigned yet: they did not exist
  Steady::time_point next_recheck;
  internal::ErrorLog errors;
  std::vector<TopicPartition> partitions;  // assigned
  // CatchUp: partitions whose end has not been reached yet.
  std::set<TopicPartition> catching_up;

  // Takes `m` (one from rd_kafka_consumer_poll, not null): hands a message
  // to `on_message`, notes a partition's end, logs an error. True if it
  // handed a message on.
  bool Dispatch(rd_kafka_message_t* m, const OnMessage& on_message) {
    const bool message = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (message) {
      on_message(internal::MessageOf(m));
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      catching_up.erase({rd_kafka_topic_name(m->rkt), m->partition});
    } else {
      errors.Warn(m->err, rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
    return message;
  }
};

absl::StatusOr<std::unique_ptr<TopicReader>> TopicReader::Create(
    const TopicReaderOptions& options, StartOffset start) {
  if (options.topics.empty()) return absl::InvalidArgumentError("no topics to read");
  KafkaProperties properties = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"group.id", options.group_id},
      {"client.id", options.client_id},
      // Positions come from the caller's state, never from Kafka.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      // CatchUp needs to know when a partition's end is reached.
      {"enable.partition.eof", "true"},
      // Looking for a missing topic must not create it (with the broker's
      // defaults) on a broker that allows that.
      {"allow.auto.create.topics", "false"},
  };
  for (const auto& [name, value] : options.extra_properties) properties[name] = value;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->start = std::move(start);
  impl->missing_topics.insert(options.topics.begin(), options.topics.end());
  absl::StatusOr<internal::ConfHandle> conf = internal::MakeConf(properties);
  if (!conf.ok()) return conf.status();
  absl::StatusOr<internal::KafkaHandle> rk =
      internal::MakeClient(RD_KAFKA_CONSUMER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  impl->rk = *std::move(rk);
  rd_kafka_poll_set_consumer(impl->rk.get());
  auto reader = std::unique_ptr<TopicReader>(new TopicReader(std::move(impl)));
  reader->AssignNewTopics(kStartMetadataTimeoutMs);
  return reader;
}

TopicReader::TopicReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TopicReader::~TopicReader() {
  if (impl_->rk != nullptr) (void)rd_kafka_consumer_close(impl_->rk.get());
}

void TopicReader::AssignNewTopics(int metadata_timeout_ms) {
  impl_->next_recheck = Steady::now() + kMissingTopicRecheck;
  internal::PartitionListHandle added(rd_kafka_topic_partition_list_new(0));
  for (auto it = impl_->missing_topics.begin(); it != impl_->missing_topics.end();) {
    const absl::StatusOr<int> partitions =
        internal::PartitionCount(impl_->rk.get(), *it, metadata_timeout_ms);
    if (!partitions.ok()) {
      // Not there yet (or the cluster did not answer): looked for again.
      if (!absl::IsNotFound(partitions.status())) {
        impl_->errors.Warn(RD_KAFKA_RESP_ERR__TRANSPORT, partitions.status().message());
      }
      ++it;
      continue;
    }
    for (int32_t p = 0; p < *partitions; ++p) {
      const std::optional<int64_t> offset = impl_->start({*it, p});
      rd_kafka_topic_partition_list_add(added.get(), it->c_str(), p)->offset =
          offset.value_or(RD_KAFKA_OFFSET_BEGINNING);
      impl_->catching_up.insert({*it, p});
      impl_->partitions.push_back({*it, p});
    }
    Log(LogLevel::kInfo, absl::StrCat("reading all ", *partitions,
                                      " partitions of topic ", *it, " in every process"));
    it = impl_->missing_topics.erase(it);
  }
  if (added->cnt == 0) return;
  if (rd_kafka_error_t* error = rd_kafka_incremental_assign(impl_->rk.get(), added.get());
      error != nullptr) {
    Log(LogLevel::kError,
        absl::StrCat("cannot assign the partitions of ", impl_->options.topics.front(),
                     "...: ", rd_kafka_error_string(error)));
    rd_kafka_error_destroy(error);
  }
}

absl::Status TopicReader::CatchUp(const OnMessage& on_message) {
  Steady::time_point last_read = Steady::now();
  while (!impl_->catching_up.empty()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), 100);
    if (m == nullptr) {
      if (Steady::now() - last_read >=
          std::chrono::milliseconds(impl_->options.timeout_ms)) {
        return absl::DeadlineExceededError(absl::StrCat(
            "reading topic ", impl_->catching_up.begin()->topic, " partition ",
            impl_->catching_up.begin()->partition, " to its end: nothing read for ",
            impl_->options.timeout_ms, " ms"));
      }
      continue;
    }
    last_read = Steady::now();
    impl_->Dispatch(m, on_message);
  }
  return absl::OkStatus();
}

const std::vector<TopicPartition>& TopicReader::Partitions() const {
  return impl_->partitions;
}

std::optional<int64_t> TopicReader::HighWatermark(const TopicPartition& tp) const {
  return internal::CachedHighWatermark(impl_->rk.get(), tp);
}

size_t TopicReader::Poll(size_t max_messages, const OnMessage& on_message) {
  if (!impl_->missing_topics.empty() && Steady::now() >= impl_->next_recheck) {
    AssignNewTopics(kRecheckMetadataTimeoutMs);
  }
  size_t delivered = 0;
  while (delivered < max_messages) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(impl_->rk.get(), 0);
    if (m == nullptr) break;
    if (impl_->Dispatch(m, on_message)) ++delivered;
  }
  return delivered;
}

}  // namespace prodops::ingest
