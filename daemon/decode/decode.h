#pragma once

#include <cstdint>
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
  // Set by the pipeline, not by DecodeEvent:
  kTooLarge,           // "too_large": over the configured maximum message size
  kOutOfTolerance,     // "out_of_tolerance": occurred_at too far from now
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
// avoid allocation) and validates it against the event contract. The checks
// run in this order and the first failure is reported:
//  - a payload in the envelope (kEmptyEnvelope);
//  - event_id non-empty (kMissingEventId) and occurred_at set
//    (kMissingOccurredAt), on every kind;
//  - occurred_at within 0001-01-01..9999-12-31, nanos within 0..999999999
//    (protobuf's Timestamp range; kBadTimestamp);
//  - every enum value named in the contract (kUnknownEnum);
//  - the kind of a ticket or release event not KIND_UNSPECIFIED
//    (kMissingField: proto3 never sends a zero, so an unspecified kind means
//    the producer left the field out, not that it sent an unknown value);
//  - ticket_id on tickets, feature and user_id on usage, release on
//    releases, experiment, variant and user_id on exposures (kMissingField).
// Binary protobuf that does not parse, including invalid UTF-8 in a string
// field (proto3 requires UTF-8), is kMalformed.
// JSON follows protobuf's canonical mapping: snake_case or lowerCamelCase
// keys, enum values by name (or number), RFC 3339 timestamps. A string that
// names no value of an enum field is kUnknownEnum; any other parse error,
// including unknown keys and timestamps the RFC 3339 parser refuses (years
// outside 0001..9999), is kMalformed.
// JSON in the shapes producers send is read by a simdjson fast path, and
// anything else by protobuf's parser; the outcome is always the one
// protobuf's parser gives (reason, detail and event).
// On a rejection `event` holds whatever was parsed, possibly nothing.
// Never throws, never crashes on any input. Thread-compatible: concurrent
// calls need distinct `event`s. Each calling thread keeps a simdjson parser
// of at most about 1 MiB (JSON over 64 KiB is left to protobuf's parser).
Decoded DecodeEvent(std::string_view bytes, Format format, Content content,
                    prodops::v1::Event* event);

// The same checks on an event that is already parsed (e.g. produced by the
// simulator or read from NDJSON replay input).
Decoded ValidateEvent(const prodops::v1::Event& event);

// Occurred-at of any kind of event, in milliseconds since the epoch (rounded
// down); 0 for an empty envelope. Meant for validated events: values outside
// the Timestamp range saturate instead of overflowing.
int64_t OccurredAtMillis(const prodops::v1::Event& event);
// event_id of any kind of event; empty for an empty envelope.
const std::string& EventId(const prodops::v1::Event& event);

}  // namespace prodops::decode
