#include "daemon/ingest/outbox.h"

#include "absl/strings/str_cat.h"
#include "daemon/ingest/kafka_handles.h"

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

absl::Status KafkaOutbox::Begin() {
  if (!transactional() || in_transaction_) return absl::OkStatus();
  if (absl::Status s = producer_->BeginTransaction(); !s.ok()) return s;
  in_transaction_ = true;
  return absl::OkStatus();
}

void KafkaOutbox::Send(std::string key, std::string payload, MessageHeaders headers) {
  Entry entry{std::move(key), std::move(payload), std::move(headers)};
  // An entry that cannot even be queued is sent again by the next Drain.
  if (!resend_ && !(Begin().ok() && Produce(entry).ok())) resend_ = true;
  unacknowledged_.push_back(std::move(entry));
}

absl::Status KafkaOutbox::CommitTransaction(
    const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) {
  if (consumer_ != nullptr && !next_offsets.empty()) {
    // Null before the group is joined: the offsets then go with the next
    // transaction (they only ever grow).
    if (const std::unique_ptr<ConsumerGroupMetadata> group = consumer_->GroupMetadata()) {
      if (absl::Status s = producer_->SendOffsetsToTransaction(next_offsets, *group,
                                                               options_.drain_timeout_ms);
          !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s = producer_->CommitTransaction(options_.drain_timeout_ms); !s.ok()) {
    return s;
  }
  in_transaction_ = false;
  return absl::OkStatus();
}

absl::Status KafkaOutbox::Drain(
    const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets) {
  if (unacknowledged_.empty()) return absl::OkStatus();
  if (resend_) {
    if (in_transaction_) {
      // Whatever the failed transaction holds is thrown away with it.
      if (absl::Status s = producer_->AbortTransaction(options_.drain_timeout_ms); !s.ok()) {
        return s;
      }
      in_transaction_ = false;
    }
    resend_ = false;
    for (const Entry& entry : unacknowledged_) {
      if (absl::Status s = Begin(); !s.ok()) {
        resend_ = true;
        return s;
      }
      if (absl::Status s = Produce(entry); !s.ok()) {
        resend_ = true;
        return s;
      }
    }
  }
  absl::Status s = transactional() ? CommitTransaction(next_offsets)
                                   : producer_->Flush(options_.drain_timeout_ms);
  if (!s.ok()) {
    // A commit that only timed out (kUnavailable) may be retried as is;
    // anything else starts again from the messages.
    if (!transactional() || !absl::IsUnavailable(s)) resend_ = true;
    return absl::Status(s.code(), absl::StrCat("topic ", options_.topic, ": ", s.message()));
  }
  delivered_ += unacknowledged_.size();
  unacknowledged_.clear();
  return absl::OkStatus();
}

}  // namespace prodops::ingest
