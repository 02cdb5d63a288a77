#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/ingest/producer.h"

namespace prodops::ingest {

// Where rejected messages go, besides the rejected counter.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Queues a copy of `message` with the reason it was rejected.
  virtual void Send(const Message& message, std::string_view reason) = 0;
  // Waits until everything sent is durable at the destination. An error
  // means some of it is not yet; the next Drain sends it again (a dead
  // letter may then arrive twice, never zero times).
  [[nodiscard]] virtual absl::Status Drain() = 0;
};

// The header names on every dead letter.
inline constexpr std::string_view kSourceTopicHeader = "prodops.source.topic";
inline constexpr std::string_view kSourcePartitionHeader = "prodops.source.partition";
inline constexpr std::string_view kSourceOffsetHeader = "prodops.source.offset";
inline constexpr std::string_view kRejectReasonHeader = "prodops.reject.reason";

struct DeadLetterOptions {
  // Required.
  std::string topic;
  // Passed to the producer (bootstrap, security properties).
  ProducerOptions producer;
  // How long Drain waits for acknowledgements. Default: 5000.
  int drain_timeout_ms = 5000;
};

// Produces dead letters to a Kafka topic with the idempotent producer: the
// key and payload unchanged, the source and the reason in headers (partition
// and offset in decimal). Keeps each message until it is acknowledged.
// Thread-compatible.
class KafkaDeadLetterSink final : public DeadLetterSink {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaDeadLetterSink>> Create(
      DeadLetterOptions options);

  void Send(const Message& message, std::string_view reason) override;
  [[nodiscard]] absl::Status Drain() override;

  // Dead letters acknowledged since start.
  uint64_t delivered() const { return delivered_; }

 private:
  struct Letter {
    std::string key;
    std::string payload;
    MessageHeaders headers;
  };

  KafkaDeadLetterSink(DeadLetterOptions options, std::unique_ptr<KafkaProducer> producer);
  absl::Status Produce(const Letter& letter);

  DeadLetterOptions options_;
  std::unique_ptr<KafkaProducer> producer_;
  std::vector<Letter> unacknowledged_;
  // Set when a Drain failed: the next one produces every letter again.
  bool resend_ = false;
  uint64_t delivered_ = 0;
};

}  // namespace prodops::ingest
