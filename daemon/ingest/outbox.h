#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
  // may then arrive twice, never zero times).
  [[nodiscard]] virtual absl::Status Drain() = 0;
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
// Thread-compatible.
class KafkaOutbox final : public Outbox {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaOutbox>> Create(
      OutboxOptions options);

  void Send(std::string key, std::string payload, MessageHeaders headers = {}) override;
  [[nodiscard]] absl::Status Drain() override;

  // Messages acknowledged since start.
  uint64_t delivered() const { return delivered_; }

 private:
  struct Entry {
    std::string key;
    std::string payload;
    MessageHeaders headers;
  };

  KafkaOutbox(OutboxOptions options, std::unique_ptr<KafkaProducer> producer);
  absl::Status Produce(const Entry& entry);

  OutboxOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  std::vector<Entry> unacknowledged_;
  // Set when a Drain failed: the next one produces every entry again.
  bool resend_ = false;
  uint64_t delivered_ = 0;
};

}  // namespace prodops::ingest
