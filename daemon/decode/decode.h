#pragma once

#include <string>
#include <string_view>

#include "prodops/v1/events.pb.h"

namespace prodops::decode {

// How the bytes of one message are laid out (a topic's format and content).
enum class Format { kProtobuf, kJson };
enum class Content { kEnvelope, kUsage, kTicket, kRelease, kExposure };

// Why a message was rejected. The names are the `reason` label of
// prodops_events_rejected_total and are part of the public interface.
enum class Reject {
  kNone = 0,
  kMalformed,          // "malformed": not parseable in the topic's format
  kEmptyEnvelope,      // "empty_envelope": an Event with no payload set
  kMissingEventId,     // "missing_event_id"
  kMissingOccurredAt,  // "missing_occurred_at"
  kMissingField,       // "missing_field": a kind-specific required field
  kUnknownEnum,        // "unknown_enum": an enum value the contract lacks
  kBadTimestamp,       // "bad_timestamp": occurred_at out of range
};
const char* RejectName(Reject reason);

// Result of decoding one message. On success `reason` is kNone and `event`
// holds the payload (bare messages are wrapped in the envelope); otherwise
// `detail` says what was wrong, for logs.
struct Decoded {
  Reject reason = Reject::kNone;
  std::string detail;
  bool ok() const { return reason == Reject::kNone; }
};

// Decodes `bytes` into `event` (cleared first; reusable across calls to
// avoid allocation) and validates it against the event contract:
//  - event_id non-empty and occurred_at set, on every kind;
//  - ticket_id on tickets, feature on usage, release on releases,
//    experiment and variant on exposures, user_id on usage and exposures;
//  - every enum value named in the contract, and the kind of a ticket or
//    release event not *_UNSPECIFIED;
//  - occurred_at within 0001-01-01..9999-12-31 (protobuf's Timestamp range).
// JSON follows protobuf's canonical mapping: snake_case or lowerCamelCase
// keys, enum values by name, RFC 3339 timestamps; unknown keys are rejected
// as malformed. Never throws, never crashes on any input.
Decoded DecodeEvent(std::string_view bytes, Format format, Content content,
                    prodops::v1::Event* event);

// The same checks on an event that is already parsed (e.g. produced by the
// simulator or read from NDJSON replay input).
Decoded ValidateEvent(const prodops::v1::Event& event);

// Occurred-at of any kind of event, in milliseconds since the epoch.
int64_t OccurredAtMillis(const prodops::v1::Event& event);
// event_id of any kind of event.
const std::string& EventId(const prodops::v1::Event& event);

}  // namespace prodops::decode
