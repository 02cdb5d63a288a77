#include "daemon/ingest/dead_letter.h"

#include "absl/strings/str_cat.h"

namespace prodops::ingest {

absl::StatusOr<std::unique_ptr<KafkaDeadLetterSink>> KafkaDeadLetterSink::Create(
    DeadLetterOptions options) {
  if (options.topic.empty())
    return absl::InvalidArgumentError("dead-letter topic is empty");
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer =
      KafkaProducer::Create(options.producer);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<KafkaDeadLetterSink>(
      new KafkaDeadLetterSink(std::move(options), *std::move(producer)));
}

KafkaDeadLetterSink::KafkaDeadLetterSink(DeadLetterOptions options,
                                         std::unique_ptr<KafkaProducer> producer)
    : options_(std::move(options)), producer_(std::move(producer)) {}

absl::Status KafkaDeadLetterSink::Produce(const Letter& letter) {
  return producer_->Produce(options_.topic, KafkaProducer::kAnyPartition, letter.key,
                            letter.payload, letter.headers);
}

void KafkaDeadLetterSink::Send(const Message& message, std::string_view reason) {
  Letter letter{std::string(message.key),
                std::string(message.payload),
                {{std::string(kSourceTopicHeader), std::string(message.topic)},
                 {std::string(kSourcePartitionHeader), absl::StrCat(message.partition)},
                 {std::string(kSourceOffsetHeader), absl::StrCat(message.offset)},
                 {std::string(kRejectReasonHeader), std::string(reason)}}};
  // A letter that cannot even be queued is sent again by the next Drain.
  if (!resend_ && !Produce(letter).ok()) resend_ = true;
  unacknowledged_.push_back(std::move(letter));
}

absl::Status KafkaDeadLetterSink::Drain() {
  if (unacknowledged_.empty()) return absl::OkStatus();
  if (resend_) {
    resend_ = false;
    for (const Letter& letter : unacknowledged_) {
      if (absl::Status s = Produce(letter); !s.ok()) {
        resend_ = true;
        return s;
      }
    }
  }
  if (absl::Status s = producer_->Flush(options_.drain_timeout_ms); !s.ok()) {
    resend_ = true;
    return absl::UnavailableError(
        absl::StrCat("dead-letter topic ", options_.topic, ": ", s.message()));
  }
  delivered_ += unacknowledged_.size();
  unacknowledged_.clear();
  return absl::OkStatus();
}

}  // namespace prodops::ingest
