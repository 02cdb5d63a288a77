#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/consumer.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/ingest/producer.h"

namespace prodops::ingest {

// Messages that must reach one destination at least once before the input
// offsets that produced them are stored (dead letters, the signal feed).
class Outbox {
 public:
  virtual ~Outbox() = default;
  // Queues one message.
  virtual void Send(std::string key, std::string payload,
                    MessageHeaders headers = {}) = 0;
  // Waits until everything sent is durable at the destination. An error
  // means some of it is not yet; the next Drain sends it again (a message
  // may then arrive twice, never zero times). `next_offsets`: the input
  // offsets the messages account for; a transactional outbox commits them
  // to the consumer group in the same transaction.
  [[nodiscard]] virtual absl::Status Drain(
      const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) = 0;
};

struct OutboxOptions {
  // Required.
  std::string topic;
  // Passed to the producer (bootstrap, security properties).
  ProducerOptions producer;
  // How long Drain waits for acknowledgements. Default: 5000.
  int drain_timeout_ms = 5000;
};

// An Outbox on a Kafka topic, written with the idempotent producer,
// partitioned by key. Keeps each message until it is acknowledged.
//
// With producer.transactional_id set, the messages between two Drains form
// one transaction, committed by Drain together with the offsets it is given
// (in the group of the consumer set by SetConsumer), so that read_committed
// readers see a flush's messages all or none, and a second instance with
// the same transactional id fences the first. A transaction that fails is
// aborted and its messages go out again in the next one.
// Thread-compatible.
class KafkaOutbox final : public Outbox {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaOutbox>> Create(
      OutboxOptions options);

  void Send(std::string key, std::string payload, MessageHeaders headers = {}) override;
  [[nodiscard]] absl::Status Drain(
      const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) override;

  // The consumer whose group the offsets of a transactional outbox belong
  // to; must outlive this. Without it, no offsets are committed here.
  void SetConsumer(const KafkaConsumer* consumer) { consumer_ = consumer; }

  // Messages acknowledged since start.
  uint64_t delivered() const { return delivered_; }

 private:
  struct Entry {
    std::string key;
    std::string payload;
    MessageHeaders headers;
  };

  KafkaOutbox(OutboxOptions options, std::unique_ptr<KafkaProducer> producer);
  bool transactional() const { return !options_.producer.transactional_id.empty(); }
  absl::Status Produce(const Entry& entry);
  // Opens a transaction if none is (transactional only).
  absl::Status Begin();
  absl::Status CommitTransaction(
      const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets);

  OutboxOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  std::vector<Entry> unacknowledged_;
  // Set when a Drain failed: the next one produces every entry again (in a
  // new transaction).
  bool resend_ = false;
  bool in_transaction_ = false;
  const KafkaConsumer* consumer_ = nullptr;
  uint64_t delivered_ = 0;
};

}  // namespace prodops::ingest
