#include "daemon/ingest/outbox.h"

#include "absl/strings/str_cat.h"

namespace prodops::ingest {

absl::StatusOr<std::unique_ptr<KafkaOutbox>> KafkaOutbox::Create(OutboxOptions options) {
  if (options.topic.empty()) return absl::InvalidArgumentError("output topic is empty");
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer =
      KafkaProducer::Create(options.producer);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<KafkaOutbox>(
      new KafkaOutbox(std::move(options), *std::move(producer)));
}

KafkaOutbox::KafkaOutbox(OutboxOptions options, std::unique_ptr<KafkaProducer> producer)
    : options_(std::move(options)), producer_(std::move(producer)) {}

absl::Status KafkaOutbox::Produce(const Entry& entry) {
  return producer_->Produce(options_.topic, KafkaProducer::kAnyPartition, entry.key,
                            entry.payload, entry.headers);
}

void KafkaOutbox::Send(std::string key, std::string payload, MessageHeaders headers) {
  Entry entry{std::move(key), std::move(payload), std::move(headers)};
  // An entry that cannot even be queued is sent again by the next Drain.
  if (!resend_ && !Produce(entry).ok()) resend_ = true;
  unacknowledged_.push_back(std::move(entry));
}

absl::Status KafkaOutbox::Drain() {
  if (unacknowledged_.empty()) return absl::OkStatus();
  if (resend_) {
    resend_ = false;
    for (const Entry& entry : unacknowledged_) {
      if (absl::Status s = Produce(entry); !s.ok()) {
        resend_ = true;
        return s;
      }
    }
  }
  if (absl::Status s = producer_->Flush(options_.drain_timeout_ms); !s.ok()) {
    resend_ = true;
    return absl::UnavailableError(
        absl::StrCat("topic ", options_.topic, ": ", s.message()));
  }
  delivered_ += unacknowledged_.size();
  unacknowledged_.clear();
  return absl::OkStatus();
}

}  // namespace prodops::ingest
