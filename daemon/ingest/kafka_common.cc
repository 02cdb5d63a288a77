#include <chrono>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"

namespace prodops::ingest::internal {
namespace {

// librdkafka's own log lines (syslog levels), in the daemon's log format.
// Called on librdkafka's threads; Log is thread-safe.
void LogFromKafka(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  const LogLevel ours = level <= 3   ? LogLevel::kError
                        : level == 4 ? LogLevel::kWarning
                        : level <= 6 ? LogLevel::kInfo
                                     : LogLevel::kDebug;
  Log(ours, absl::StrCat("kafka ", rd_kafka_name(rk), " ", facility, ": ", message));
}

}  // namespace

absl::Status KafkaError(absl::string_view what, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, ": ", rd_kafka_err2str(err)));
}

absl::Status TransactionError(absl::string_view what, rd_kafka_error_t* error) {
  if (error == nullptr) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", rd_kafka_error_string(error));
  absl::Status status;
  if (rd_kafka_error_is_fatal(error)) {
    status = absl::FailedPreconditionError(message);
  } else if (rd_kafka_error_txn_requires_abort(error)) {
    status = absl::AbortedError(message);
  } else {
    status = absl::UnavailableError(message);
  }
  rd_kafka_error_destroy(error);
  return status;
}

absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic,
                                   int timeout_ms) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, /*all_topics=*/0, handle, &metadata, timeout_ms);
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(absl::StrCat("cannot read the metadata of topic ", topic), err);
  }
  absl::StatusOr<int> count;
  if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = metadata->topics[0].partition_cnt;
  } else {
    count = absl::NotFoundError(
        absl::StrCat("topic ", topic, " does not exist: ",
                     rd_kafka_err2str(metadata->topic_cnt == 1
                                          ? metadata->topics[0].err
                                          : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)));
  }
  rd_kafka_metadata_destroy(metadata);
  return count;
}

PartitionListHandle OffsetList(
    const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) {
  PartitionListHandle list(
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [tp, offset] : next_offsets) {
    rd_kafka_topic_partition_t* entry =
        rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    entry->offset = offset;
  }
  return list;
}

std::optional<int64_t> CachedHighWatermark(rd_kafka_t* rk, const TopicPartition& tp) {
  int64_t low = -1;
  int64_t high = -1;
  if (rd_kafka_get_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return std::nullopt;
  }
  return high;
}

Message MessageOf(const rd_kafka_message_t* m) {
  Message message;
  message.topic = rd_kafka_topic_name(m->rkt);
  message.partition = m->partition;
  message.offset = m->offset;
  message.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
  message.payload = std::string_view(static_cast<const char*>(m->payload), m->len);
  return message;
}

void ErrorLog::Warn(int err, absl::string_view reason) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  int64_t& last = last_logged_ms_[err];
  if (last != 0 && now_ms - last < 10'000) return;
  last = now_ms;
  Log(LogLevel::kWarning, absl::StrCat("kafka: ", reason));
}

absl::StatusOr<ConfHandle> MakeConf(const KafkaProperties& properties) {
  ConfHandle conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), LogFromKafka);
  char error[512];
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      // librdkafka's message may quote the value; name the property only.
      return absl::InvalidArgumentError(
          absl::StrCat("Kafka property \"", name, "\" was refused by librdkafka"));
    }
  }
  return conf;
}

absl::StatusOr<KafkaHandle> MakeClient(rd_kafka_type_t type, ConfHandle conf) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), error, sizeof(error));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create Kafka client: ", error));
  }
  conf.release();  // rd_kafka_new took ownership
  return KafkaHandle(rk);
}

}  // namespace prodops::ingest::internal
