#pragma once

#include <string>

#include "daemon/decode/decode.h"
#include "prodops/v1/events.pb.h"

namespace prodops::sim {

// Writes `event` as a message of a topic with `format` and `content` (the
// inverse of decode::DecodeEvent). False, with `out` untouched, when a bare
// topic's content is not the event's kind.
bool EncodeEvent(const prodops::v1::Event& event, decode::Format format,
                 decode::Content content, std::string* out);

// Whether a topic with `content` carries events of `event`'s kind.
bool Carries(decode::Content content, const prodops::v1::Event& event);

// The Kafka message key for an event, per the keying rules: account_id for
// usage and exposures, ticket_id for tickets, release for releases.
const std::string& PartitionKey(const prodops::v1::Event& event);

}  // namespace prodops::sim
