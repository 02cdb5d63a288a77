#include "daemon/decode/decode.h"

#include <climits>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "daemon/decode/json_decode.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/wire_format_lite.h"

namespace prodops::decode {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::Timestamp;
using ::prodops::v1::Event;
using ::prodops::v1::ExposureEvent;
using ::prodops::v1::ReleaseEvent;
using ::prodops::v1::TicketEvent;
using ::prodops::v1::UsageEvent;

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int32_t kMaxTimestampNanos = 999999999;

// Nested messages go no deeper than this in the failure explainers below;
// the contract's messages are two levels deep, and a bound keeps hostile
// input from exhausting the stack.
constexpr int kMaxExplainDepth = 16;

Decoded Rejected(Reject reason, std::string detail) {
  return Decoded{reason, std::move(detail)};
}

// The kind of event a payload is, as it appears in `detail` messages.
const char* KindName(const UsageEvent&) { return "usage"; }
const char* KindName(const TicketEvent&) { return "ticket"; }
const char* KindName(const ReleaseEvent&) { return "release"; }
const char* KindName(const ExposureEvent&) { return "exposure"; }

// Calls `visit` with the payload of `event`, or returns `if_empty` when the
// envelope has none. Keeps the per-kind switch in one place.
template <typename R, typename F>
R VisitPayload(const Event& event, R if_empty, F&& visit) {
  switch (event.payload_case()) {
    case Event::kUsage:
      return visit(event.usage());
    case Event::kTicket:
      return visit(event.ticket());
    case Event::kRelease:
      return visit(event.release());
    case Event::kExposure:
      return visit(event.exposure());
    case Event::PAYLOAD_NOT_SET:
      break;
  }
  return if_empty;
}

// The checks every kind shares: event_id and occurred_at, in that order.
template <typename T>
Decoded CheckCommon(const T& payload) {
  if (payload.event_id().empty()) {
    return Rejected(Reject::kMissingEventId,
                    absl::StrCat(KindName(payload), " event without event_id"));
  }
  if (!payload.has_occurred_at()) {
    return Rejected(Reject::kMissingOccurredAt,
                    absl::StrCat(KindName(payload), " event without occurred_at"));
  }
  const Timestamp& at = payload.occurred_at();
  if (at.seconds() < kMinTimestampSeconds || at.seconds() > kMaxTimestampSeconds ||
      at.nanos() < 0 || at.nanos() > kMaxTimestampNanos) {
    return Rejected(Reject::kBadTimestamp,
                    absl::StrCat("occurred_at out of range: seconds ", at.seconds(),
                                 ", nanos ", at.nanos()));
  }
  return {};
}

Decoded RequireString(const std::string& value, const char* kind, const char* field) {
  if (!value.empty()) return {};
  return Rejected(Reject::kMissingField, absl::StrCat(kind, " event without ", field));
}

Decoded RequireKnownEnum(bool is_valid, int value, const char* kind, const char* field) {
  if (is_valid) return {};
  return Rejected(Reject::kUnknownEnum,
                  absl::StrCat(kind, " event with unknown ", field, " ", value));
}

// An unset kind is what proto3 sends when the producer forgot the field (zero
// is never on the wire), so it is a missing field rather than an unknown value.
Decoded RequireKind(bool is_unspecified, const char* kind) {
  if (!is_unspecified) return {};
  return Rejected(Reject::kMissingField, absl::StrCat(kind, " event without kind"));
}

// Runs checks in order and stops at the first rejection.
template <typename... Checks>
Decoded FirstRejection(Checks&&... checks) {
  Decoded result;
  ((result = checks(), result.ok()) && ...);
  return result;
}

Decoded CheckKind(const UsageEvent& e) {
  return FirstRejection([&] { return RequireString(e.feature(), "usage", "feature"); },
                        [&] { return RequireString(e.user_id(), "usage", "user_id"); });
}

Decoded CheckKind(const TicketEvent& e) {
  return FirstRejection(
      [&] {
        return RequireKnownEnum(TicketEvent::Kind_IsValid(e.kind()), e.kind(), "ticket",
                                "kind");
      },
      [&] {
        return RequireKnownEnum(TicketEvent::Status_IsValid(e.status()), e.status(),
                                "ticket", "status");
      },
      [&] {
        return RequireKnownEnum(TicketEvent::Type_IsValid(e.type()), e.type(), "ticket",
                                "type");
      },
      [&] {
        return RequireKnownEnum(TicketEvent::Priority_IsValid(e.priority()), e.priority(),
                                "ticket", "priority");
      },
      [&] {
        return RequireKnownEnum(TicketEvent::Actor_IsValid(e.actor()), e.actor(),
                                "ticket", "actor");
      },
      [&] { return RequireKind(e.kind() == TicketEvent::KIND_UNSPECIFIED, "ticket"); },
      [&] { return RequireString(e.ticket_id(), "ticket", "ticket_id"); });
}

Decoded CheckKind(const ReleaseEvent& e) {
  return FirstRejection(
      [&] {
        return RequireKnownEnum(ReleaseEvent::Kind_IsValid(e.kind()), e.kind(), "release",
                                "kind");
      },
      [&] { return RequireKind(e.kind() == ReleaseEvent::KIND_UNSPECIFIED, "release"); },
      [&] { return RequireString(e.release(), "release", "release"); });
}

Decoded CheckKind(const ExposureEvent& e) {
  return FirstRejection(
      [&] { return RequireString(e.experiment(), "exposure", "experiment"); },
      [&] { return RequireString(e.variant(), "exposure", "variant"); },
      [&] { return RequireString(e.user_id(), "exposure", "user_id"); });
}

// Returns the first line of a protobuf error message: the JSON parser appends
// an excerpt of the input, which may be long or not even UTF-8.
std::string FirstLine(std::string_view message) {
  return std::string(message.substr(0, message.find('\n')));
}

// Explains a JSON parse failure that protobuf reports as an unknown enum name.
// Protobuf's error text is not a stable interface (it differs between the
// 3.x converter and the 22+ parser), so the JSON, already known to be
// invalid, is re-read generically and walked along the schema instead.
// Returns a detail when some enum-typed key holds a string that names no
// value, or nullopt.
std::optional<std::string> FindUnknownEnumName(const google::protobuf::Value& value,
                                               const FieldDescriptor* field, int depth);

std::optional<std::string> FindUnknownEnumName(const google::protobuf::Struct& object,
                                               const Descriptor* type, int depth) {
  if (depth > kMaxExplainDepth) return std::nullopt;
  // Fields in schema order, not in the order of the Struct's map, which is
  // unspecified and differs from one parse to the next: with two unknown
  // names, the detail must name the same one every time.
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->is_map()) continue;
    for (const std::string* key : {&field->name(), &field->json_name()}) {
      const auto it = object.fields().find(*key);
      if (it == object.fields().end()) continue;
      const google::protobuf::Value& value = it->second;
      if (value.has_list_value() && field->is_repeated()) {
        for (const auto& element : value.list_value().values()) {
          if (auto found = FindUnknownEnumName(element, field, depth)) return found;
        }
      } else if (auto found = FindUnknownEnumName(value, field, depth)) {
        return found;
      }
      if (field->json_name() == field->name()) break;
    }
  }
  return std::nullopt;
}

std::optional<std::string> FindUnknownEnumName(const google::protobuf::Value& value,
                                               const FieldDescriptor* field, int depth) {
  if (field->type() == FieldDescriptor::TYPE_ENUM && value.has_string_value() &&
      field->enum_type()->FindValueByName(value.string_value()) == nullptr) {
    // The generic parse succeeded, so the name is valid UTF-8 and safe to log.
    return absl::StrCat("unknown ", field->enum_type()->full_name(), " name \"",
                        value.string_value(), "\"");
  }
  if (field->type() == FieldDescriptor::TYPE_MESSAGE && value.has_struct_value()) {
    return FindUnknownEnumName(value.struct_value(), field->message_type(), depth + 1);
  }
  return std::nullopt;
}

// Explains a binary parse failure of structurally sound wire data: proto3
// string fields must hold UTF-8, and protobuf's parser fails on them without
// saying which (it only logs). Returns the offending field, or nullptr when
// the wire data itself is broken.
const FieldDescriptor* FindInvalidUtf8(google::protobuf::io::CodedInputStream* input,
                                       const Descriptor* type, int depth) {
  using ::google::protobuf::internal::WireFormatLite;
  if (depth > kMaxExplainDepth) return nullptr;
  while (uint32_t tag = input->ReadTag()) {
    const FieldDescriptor* field =
        type->FindFieldByNumber(WireFormatLite::GetTagFieldNumber(tag));
    const bool length_delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (field != nullptr && length_delimited &&
        field->type() == FieldDescriptor::TYPE_STRING) {
      std::string value;
      if (!WireFormatLite::ReadString(input, &value)) return nullptr;
      if (!google::protobuf::internal::IsStructurallyValidUTF8(value)) return field;
    } else if (field != nullptr && length_delimited &&
               field->type() == FieldDescriptor::TYPE_MESSAGE) {
      uint32_t length;
      if (!input->ReadVarint32(&length)) return nullptr;
      const auto limit = input->PushLimit(static_cast<int>(length));
      if (const FieldDescriptor* found =
              FindInvalidUtf8(input, field->message_type(), depth + 1)) {
        return found;
      }
      input->PopLimit(limit);
    } else if (!WireFormatLite::SkipField(input, tag)) {
      return nullptr;
    }
  }
  return nullptr;
}

Decoded ParseProtobuf(std::string_view bytes, Message* message) {
  // ParseFromArray takes an int size; Kafka messages never get this large.
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Rejected(Reject::kMalformed, "message larger than 2 GiB");
  }
  const int size = static_cast<int>(bytes.size());
  if (message->ParseFromArray(bytes.data(), size)) return {};
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(bytes.data()), size);
  if (const FieldDescriptor* field =
          FindInvalidUtf8(&input, message->GetDescriptor(), /*depth=*/0)) {
    return Rejected(Reject::kMalformed,
                    absl::StrCat("invalid UTF-8 in string field ", field->full_name()));
  }
  return Rejected(Reject::kMalformed,
                  absl::StrCat("not a valid ", message->GetDescriptor()->full_name(),
                               " in protobuf binary"));
}

Decoded ParseJson(std::string_view bytes, Message* message) {
  // protobuf's JSON parser leaves the message untouched when it fails; a
  // reused message would keep the previous event's fields.
  message->Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // A misspelt key must not pass silently.
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(bytes.data(), bytes.size()), message, options);
  if (status.ok()) return {};
  google::protobuf::Struct generic;
  if (google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(bytes.data(), bytes.size()), &generic)
          .ok()) {
    if (auto detail =
            FindUnknownEnumName(generic, message->GetDescriptor(), /*depth=*/0)) {
      return Rejected(Reject::kUnknownEnum, *std::move(detail));
    }
  }
  return Rejected(Reject::kMalformed, FirstLine(std::string(status.message().data(),
                                                            status.message().size())));
}

// Where a bare message goes in the envelope. Event::Clear() frees the oneof's
// message, so when the previous call left the same kind (the rule on a bare
// topic) it is kept and cleared by the parse instead.
Message* BarePayload(Content content, Event* event) {
  Event::PayloadCase wanted = Event::PAYLOAD_NOT_SET;
  switch (content) {
    case Content::kUsage:
      wanted = Event::kUsage;
      break;
    case Content::kTicket:
      wanted = Event::kTicket;
      break;
    case Content::kRelease:
      wanted = Event::kRelease;
      break;
    case Content::kExposure:
      wanted = Event::kExposure;
      break;
    case Content::kEnvelope:
      break;
  }
  if (event->payload_case() != wanted ||
      !event->GetReflection()->GetUnknownFields(*event).empty())
    event->Clear();
  switch (wanted) {
    case Event::kUsage:
      return event->mutable_usage();
    case Event::kTicket:
      return event->mutable_ticket();
    case Event::kRelease:
      return event->mutable_release();
    case Event::kExposure:
      return event->mutable_exposure();
    case Event::PAYLOAD_NOT_SET:
      break;
  }
  return event;
}

// The names are the `reason` label values; indexed by Reject.
constexpr const char* kRejectNames[] = {
    "none",
    "malformed",
    "empty_envelope",
    "missing_event_id",
    "missing_occurred_at",
    "missing_field",
    "unknown_enum",
    "bad_timestamp",
    "too_large",
    "out_of_tolerance",
};
static_assert(std::size(kRejectNames) == static_cast<size_t>(Reject::kOutOfTolerance) + 1,
              "one name per Reject value");

}  // namespace

const char* RejectName(Reject reason) {
  const auto index = static_cast<size_t>(reason);
  return index < std::size(kRejectNames) ? kRejectNames[index] : "unknown";
}

Decoded DecodeEvent(std::string_view bytes, Format format, Content content,
                    Event* event) {
  return internal::DecodeEventWith(internal::JsonParser::kFast, bytes, format, content,
                                   event);
}

namespace internal {

Decoded DecodeEventWith(JsonParser parser, std::string_view bytes, Format format,
                        Content content, Event* event) {
  Decoded parsed;
  if (format == Format::kProtobuf) {
    parsed = ParseProtobuf(bytes, BarePayload(content, event));
  } else if (parser == JsonParser::kProtobuf || !ParseJsonFast(bytes, content, event)) {
    // The fast path gave up (or was not asked): protobuf's parser decides,
    // from a cleared message, whatever the fast path had filled in.
    parsed = ParseJson(bytes, BarePayload(content, event));
  }
  if (!parsed.ok()) return parsed;
  return ValidateEvent(*event);
}

}  // namespace internal

Decoded ValidateEvent(const Event& event) {
  // Tested before the visit so that the accepted path builds no detail string.
  if (event.payload_case() == Event::PAYLOAD_NOT_SET) {
    return Rejected(Reject::kEmptyEnvelope, "event envelope without payload");
  }
  return VisitPayload(event, Decoded{}, [](const auto& payload) {
    Decoded common = CheckCommon(payload);
    return common.ok() ? CheckKind(payload) : common;
  });
}

int64_t OccurredAtMillis(const Event& event) {
  return VisitPayload(event, int64_t{0}, [](const auto& payload) {
    // absl::Time saturates, so an unvalidated out-of-range value cannot
    // overflow.
    const absl::Time at = absl::FromUnixSeconds(payload.occurred_at().seconds()) +
                          absl::Nanoseconds(payload.occurred_at().nanos());
    return absl::ToUnixMillis(at);
  });
}

const std::string& EventId(const Event& event) {
  static const std::string* const kNoEventId = new std::string();
  return VisitPayload<const std::string&>(
      event, *kNoEventId,
      [](const auto& payload) -> const std::string& { return payload.event_id(); });
}

}  // namespace prodops::decode
