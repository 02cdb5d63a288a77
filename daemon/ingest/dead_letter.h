#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/ingest/outbox.h"

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

// Dead letters as messages of an Outbox (a Kafka topic): the key and
// payload unchanged, the source and the reason in headers (partition and
// offset in decimal).
class OutboxDeadLetterSink final : public DeadLetterSink {
 public:
  explicit OutboxDeadLetterSink(std::unique_ptr<Outbox> outbox)
      : outbox_(std::move(outbox)) {}

  void Send(const Message& message, std::string_view reason) override;
  [[nodiscard]] absl::Status Drain() override { return outbox_->Drain({}); }

 private:
  std::unique_ptr<Outbox> outbox_;
};

}  // namespace prodops::ingest
