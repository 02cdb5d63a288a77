#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"

namespace prodops::ingest {

struct ProducerOptions {
  // Required.
  std::string bootstrap_servers;
  // Passed to librdkafka after prodopsd's own settings.
  KafkaProperties extra_properties;
  // client.id. Default: "prodopsd".
  std::string client_id = "prodopsd";
  // transactional.id: when set, the producer is transactional (Create
  // initializes it, fencing an earlier producer with the same id).
  // Default: empty.
  std::string transactional_id;
};

struct ConsumerGroupMetadata;  // daemon/ingest/kafka_handles.h

// An idempotent producer (acks=all, no duplicates from retries, order kept
// per partition). Thread-compatible: one thread at a time.
class KafkaProducer {
 public:
  static constexpr int32_t kAnyPartition = -1;  // partition by key hash

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaProducer>> Create(
      const ProducerOptions& options);
  ~KafkaProducer();

  // Queues one message (copied, headers included). While the local queue
  // is full it waits, serving delivery reports, so a fast caller is slowed,
  // not failed.
  [[nodiscard]] absl::Status Produce(std::string_view topic, int32_t partition,
                                     std::string_view key, std::string_view payload,
                                     const MessageHeaders& headers = {});
  // Queues a message with a null value: in a compacted topic, the key's
  // deletion.
  [[nodiscard]] absl::Status ProduceTombstone(std::string_view topic, int32_t partition,
                                              std::string_view key);

  // The offset after the newest message delivered to the partition since
  // start, as delivery reports have told so far (served by Poll, Flush and
  // CommitTransaction); nullopt if none was.
  std::optional<int64_t> DeliveredEnd(std::string_view topic, int32_t partition) const;

  // Waits up to `timeout_ms` until everything queued is delivered. An error
  // if the time ran out or any message failed since the previous Flush.
  [[nodiscard]] absl::Status Flush(int timeout_ms);

  // Serves delivery reports without waiting.
  void Poll();

  // Transactions (transactional_id set). Errors: kAborted, abort and start
  // again; kUnavailable, retry the call; kFailedPrecondition, fatal.
  [[nodiscard]] absl::Status BeginTransaction();
  // Adds the consumer group's next offsets to the open transaction.
  [[nodiscard]] absl::Status SendOffsetsToTransaction(
      const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets,
      const ConsumerGroupMetadata& group, int timeout_ms);
  // Delivers everything produced in the transaction and commits it.
  [[nodiscard]] absl::Status CommitTransaction(int timeout_ms);
  [[nodiscard]] absl::Status AbortTransaction(int timeout_ms);

  struct Impl;  // opaque; public only so that librdkafka callbacks can see it

 private:
  explicit KafkaProducer(std::unique_ptr<Impl> impl);
  // `payload` null: a tombstone.
  absl::Status ProduceValue(std::string_view topic, int32_t partition,
                            std::string_view key, const std::string_view* payload,
                            const MessageHeaders& headers);
  std::unique_ptr<Impl> impl_;
};

}  // namespace prodops::ingest
