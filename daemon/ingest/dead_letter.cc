#include "daemon/ingest/dead_letter.h"

#include "absl/strings/str_cat.h"

namespace prodops::ingest {

void OutboxDeadLetterSink::Send(const Message& message, std::string_view reason) {
  outbox_->Send(std::string(message.key), std::string(message.payload),
                {{std::string(kSourceTopicHeader), std::string(message.topic)},
                 {std::string(kSourcePartitionHeader), absl::StrCat(message.partition)},
                 {std::string(kSourceOffsetHeader), absl::StrCat(message.offset)},
                 {std::string(kRejectReasonHeader), std::string(reason)}});
}

}  // namespace prodops::ingest
