#pragma once

// Private to the ingest module: RAII over librdkafka handles, and the one
// place where librdkafka errors become absl::Status.

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"

namespace prodops::ingest::internal {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, KafkaDeleter>;

// `what`: the operation, for the message.
absl::Status KafkaError(absl::string_view what, rd_kafka_resp_err_t err);
// A transactional API error (taken over and destroyed); null is OK. The
// code says what to do: kAborted, abort the transaction and start again;
// kUnavailable, retry the call; kFailedPrecondition, fatal (the producer
// was fenced or is unusable).
absl::Status TransactionError(absl::string_view what, rd_kafka_error_t* error);

// A configuration with every property set. The error names the property
// but never its value (values may be secrets).
absl::StatusOr<ConfHandle> MakeConf(const KafkaProperties& properties);

// Creates a client of `type` from `conf` (taken over even on error).
absl::StatusOr<KafkaHandle> MakeClient(rd_kafka_type_t type, ConfHandle conf);

// The number of partitions of `topic`, from a metadata request; NotFound if
// the topic does not exist, Unavailable if the cluster did not answer.
absl::StatusOr<int> PartitionCount(rd_kafka_t* rk, const std::string& topic,
                                   int timeout_ms);

// A partition list holding each partition's next offset (for commits).
PartitionListHandle OffsetList(
    const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets);

// The partition's high watermark as the client's fetcher last saw it (no
// request is made); nullopt if unknown.
std::optional<int64_t> CachedHighWatermark(rd_kafka_t* rk, const TopicPartition& tp);

// The view of a consumed message (valid while `m` is).
Message MessageOf(const rd_kafka_message_t* m);

// Logs a client's errors, each kind at most every 10 s: a broker outage
// repeats the same error many times a second.
class ErrorLog {
 public:
  void Warn(int err, absl::string_view reason);

 private:
  std::map<int, int64_t> last_logged_ms_;  // by error code
};

}  // namespace prodops::ingest::internal

namespace prodops::ingest {

// A consumer's group metadata (group, member, generation), for the offsets
// a transactional producer commits.
struct ConsumerGroupMetadata {
  explicit ConsumerGroupMetadata(rd_kafka_consumer_group_metadata_t* handle) : handle(handle) {}
  ~ConsumerGroupMetadata() { rd_kafka_consumer_group_metadata_destroy(handle); }
  ConsumerGroupMetadata(const ConsumerGroupMetadata&) = delete;
  ConsumerGroupMetadata& operator=(const ConsumerGroupMetadata&) = delete;
  rd_kafka_consumer_group_metadata_t* const handle;
};

}  // namespace prodops::ingest
