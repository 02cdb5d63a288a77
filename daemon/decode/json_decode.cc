// The fast JSON path: simdjson's DOM parser, walked along the event contract.
//
// It must never disagree with protobuf's JSON parser (3.21's converter), so
// it accepts only what it can read without doubt and gives up on the rest:
// giving up costs one protobuf parse, guessing wrong would change what the
// daemon counts. protobuf 3.21 is lenient in ways strict JSON parsers are
// not, and each of those is left to it: unquoted keys, single-quoted
// strings, trailing commas, escapes such as \v, null meaning "not set",
// a key given twice (the last wins, or repeated fields append), a bare
// string for a repeated field, enum numbers in strings or as 2.0, "true" in
// a string for a bool, timestamps with one-digit fields, more than nine
// fraction digits (truncated) or text after a \u0000 (ignored).
#include "daemon/decode/json_decode.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/timestamp.pb.h"
#include "simdjson.h"

namespace prodops::decode::internal {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::Timestamp;
using ::prodops::v1::Event;
using ::prodops::v1::ExposureEvent;
using ::prodops::v1::ReleaseEvent;
using ::prodops::v1::TicketEvent;
using ::prodops::v1::UsageEvent;
using Element = ::simdjson::dom::element;
using ElementType = ::simdjson::dom::element_type;

// Larger JSON goes to protobuf. Events are a few hundred bytes; the bound
// keeps the buffers a simdjson parser holds on to (about 15 bytes per byte
// of the largest document: tape, string copies, structural indexes and a
// padded copy of the input) under 1 MiB per thread.
constexpr size_t kMaxFastJsonBytes = 64 * 1024;

// google.protobuf.Timestamp's range, as in decode.cc: a time outside it is
// left to protobuf, which decides between malformed and bad_timestamp.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// The keys JSON may use for the fields of one message: the proto name and
// the lowerCamelCase JSON name. Built from the descriptor, so a field added
// to the schema is found here too; the parsers below then give up on it
// (their switch has no case for it) until it is handled.
class FieldKeys {
 public:
  explicit FieldKeys(const Descriptor* type) {
    for (int i = 0; i < type->field_count(); ++i) {
      const auto* field = type->field(i);
      // Descriptor strings live as long as the generated pool: forever.
      keys_.push_back({field->name(), field->number()});
      if (field->json_name() != field->name()) {
        keys_.push_back({field->json_name(), field->number()});
      }
    }
  }

  // The number of the field `key` names, or 0 (never a field number).
  int Find(std::string_view key) const {
    for (const Key& candidate : keys_) {
      if (candidate.name == key) return candidate.number;
    }
    return 0;
  }

 private:
  struct Key {
    std::string_view name;
    int number;
  };
  std::vector<Key> keys_;
};

// The value names of one enum, exact and case-sensitive as protobuf matches
// them first. Avoids the std::string a generated _Parse function needs.
class EnumNames {
 public:
  explicit EnumNames(const EnumDescriptor* type) {
    for (int i = 0; i < type->value_count(); ++i) {
      names_.push_back({type->value(i)->name(), type->value(i)->number()});
    }
  }

  bool Find(std::string_view name, int* number) const {
    for (const Name& candidate : names_) {
      if (candidate.name == name) {
        *number = candidate.number;
        return true;
      }
    }
    return false;
  }

 private:
  struct Name {
    std::string_view name;
    int number;
  };
  std::vector<Name> names_;
};

// Field numbers already set in one object. protobuf 3.21 merges a repeated
// key into what the first one set, with rules that differ by type; a
// producer never means that, so the fast path leaves it to protobuf.
class SeenFields {
 public:
  // False for 0 (an unknown key), for a number too large to track, and for a
  // field seen before (under either of its names).
  bool Add(int number) {
    if (number <= 0 || number >= 64) return false;
    const uint64_t bit = uint64_t{1} << number;
    if ((seen_ & bit) != 0) return false;
    seen_ |= bit;
    return true;
  }

 private:
  uint64_t seen_ = 0;
};

// True when every backslash escape in `json` is one that protobuf and
// simdjson decode alike: the eight one-letter escapes JSON defines, \u of a
// code point outside the surrogates, and a high-low surrogate pair.
// protobuf rejects lone and mismatched surrogates, and so does the simdjson
// of Debian 12, but this check keeps the fast path from depending on how a
// given simdjson release treats them. Escapes occur only inside strings in
// valid JSON, so a scan from the left meets them as a tokenizer would; most
// messages have no backslash, and the scan is one memchr.
bool EscapesAgree(std::string_view json) {
  const auto hex4 = [&](size_t at, uint32_t* unit) {
    if (at + 4 > json.size()) return false;
    uint32_t value = 0;
    for (size_t i = at; i < at + 4; ++i) {
      const char c = json[i];
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        digit = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        digit = c - 'A' + 10;
      } else {
        return false;
      }
      value = value << 4 | digit;
    }
    *unit = value;
    return true;
  };
  size_t at = 0;
  while (true) {
    const void* found = std::memchr(json.data() + at, '\\', json.size() - at);
    if (found == nullptr) return true;
    at = static_cast<const char*>(found) - json.data();
    if (at + 1 >= json.size()) return false;
    switch (json[at + 1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        at += 2;
        break;
      case 'u': {
        uint32_t unit;
        if (!hex4(at + 2, &unit)) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // A lone low surrogate.
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          uint32_t low;
          if (at + 12 > json.size() || json[at + 6] != '\\' || json[at + 7] != 'u' ||
              !hex4(at + 8, &low) || low < 0xDC00 || low > 0xDFFF) {
            return false;
          }
          at += 12;
        } else {
          at += 6;
        }
        break;
      }
      default:
        return false;
    }
  }
}

// `count` decimal digits at `text[at]`, all of them digits.
bool ReadDigits(std::string_view text, size_t at, size_t count, int* value) {
  if (at + count > text.size()) return false;
  int result = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    result = result * 10 + (text[i] - '0');
  }
  *value = result;
  return true;
}

bool IsLeapYear(int year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
// (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int year, int month, int day) {
  const int64_t y = year - (month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// The RFC 3339 form protobuf writes and every producer sends:
// YYYY-MM-DDTHH:MM:SS, then 1 to 9 fraction digits, then Z or +HH:MM/-HH:MM,
// with every field at full width and in range, and the result inside
// Timestamp's range. protobuf reads a looser form (fewer digits, longer
// fractions, text after a NUL) and range-checks later; those go to it.
bool ParseRfc3339(std::string_view text, int64_t* seconds, int32_t* nanos) {
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, 0, 4, &year) || text.size() < 20 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' ||
      !ReadDigits(text, 8, 2, &day) || text[10] != 'T' ||
      !ReadDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, &second)) {
    return false;
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  size_t at = 19;
  int32_t fraction = 0;
  if (text[at] == '.') {
    ++at;
    int digits = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (++digits > 9) return false;
      fraction = fraction * 10 + (text[at] - '0');
      ++at;
    }
    if (digits == 0) return false;
    for (; digits < 9; ++digits) fraction *= 10;
  }
  int64_t offset = 0;
  if (at < text.size() && text[at] == 'Z') {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int offset_hours, offset_minutes;
    if (!ReadDigits(text, at + 1, 2, &offset_hours) || at + 3 >= text.size() ||
        text[at + 3] != ':' || !ReadDigits(text, at + 4, 2, &offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return false;
    }
    // Local time minus its offset is UTC.
    offset =
        (text[at] == '+' ? -1 : 1) * int64_t{(offset_hours * 60 + offset_minutes) * 60};
    at += 6;
  } else {
    return false;
  }
  if (at != text.size()) return false;
  const int64_t result = DaysFromCivil(year, month, day) * 86400 + hour * 3600 +
                         minute * 60 + second + offset;
  if (result < kMinTimestampSeconds || result > kMaxTimestampSeconds) return false;
  *seconds = result;
  *nanos = fraction;
  return true;
}

// Each reader returns false, leaving the decision to protobuf, when the
// value is not exactly of the expected JSON type (null included).

bool ReadString(Element value, std::string* out) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return false;
  out->assign(text.data(), text.size());
  return true;
}

bool ReadBool(Element value, bool* out) {
  return value.get_bool().get(*out) == simdjson::SUCCESS;
}

bool ReadTimestamp(Element value, Timestamp* out) {
  std::string_view text;
  int64_t seconds;
  int32_t nanos;
  if (value.get_string().get(text) != simdjson::SUCCESS ||
      !ParseRfc3339(text, &seconds, &nanos)) {
    return false;
  }
  out->set_seconds(seconds);
  out->set_nanos(nanos);
  return true;
}

// An enum by exact value name, or by a JSON integer within int32 (proto3
// enums are open: an unknown number is kept, and the contract check rejects
// it). Numbers with a fraction or exponent, names in other cases and
// numbers in strings are left to protobuf.
bool ReadEnum(Element value, const EnumNames& names, int* out) {
  switch (value.type()) {
    case ElementType::STRING: {
      std::string_view name;
      return value.get_string().get(name) == simdjson::SUCCESS && names.Find(name, out);
    }
    case ElementType::INT64: {
      int64_t number;
      if (value.get_int64().get(number) != simdjson::SUCCESS || number < INT32_MIN ||
          number > INT32_MAX) {
        return false;
      }
      *out = static_cast<int>(number);
      return true;
    }
    default:
      return false;
  }
}

bool ReadStrings(Element value, google::protobuf::RepeatedPtrField<std::string>* out) {
  simdjson::dom::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) return false;
  for (Element item : array) {
    if (!ReadString(item, out->Add())) return false;
  }
  return true;
}

bool ReadStringMap(Element value, google::protobuf::Map<std::string, std::string>* out) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return false;
  for (simdjson::dom::key_value_pair entry : object) {
    std::string key(entry.key);
    // A key given twice: left to protobuf, like repeated fields.
    if (out->count(key) != 0) return false;
    if (!ReadString(entry.value, &(*out)[std::move(key)])) return false;
  }
  return true;
}

// Sets an enum field from `value`, through the generated setter's type.
template <typename EnumType, typename Setter>
bool ReadEnumInto(Element value, const EnumNames& names, Setter set) {
  int number;
  if (!ReadEnum(value, names, &number)) return false;
  set(static_cast<EnumType>(number));
  return true;
}

// Walks the keys of `object`: each must name a field of `keys` once, and
// `read(number, value)` must accept its value.
template <typename ReadField>
bool ReadFields(simdjson::dom::object object, const FieldKeys& keys, ReadField read) {
  SeenFields seen;
  for (simdjson::dom::key_value_pair field : object) {
    const int number = keys.Find(field.key);
    if (!seen.Add(number) || !read(number, field.value)) return false;
  }
  return true;
}

bool ReadPayload(simdjson::dom::object object, UsageEvent* usage) {
  static const FieldKeys* const kKeys = new FieldKeys(UsageEvent::descriptor());
  return ReadFields(object, *kKeys, [usage](int number, Element value) {
    switch (number) {
      case UsageEvent::kEventIdFieldNumber:
        return ReadString(value, usage->mutable_event_id());
      case UsageEvent::kOccurredAtFieldNumber:
        return ReadTimestamp(value, usage->mutable_occurred_at());
      case UsageEvent::kAccountIdFieldNumber:
        return ReadString(value, usage->mutable_account_id());
      case UsageEvent::kUserIdFieldNumber:
        return ReadString(value, usage->mutable_user_id());
      case UsageEvent::kFeatureFieldNumber:
        return ReadString(value, usage->mutable_feature());
      case UsageEvent::kActionFieldNumber:
        return ReadString(value, usage->mutable_action());
      case UsageEvent::kReleaseFieldNumber:
        return ReadString(value, usage->mutable_release());
      case UsageEvent::kPropertiesFieldNumber:
        return ReadStringMap(value, usage->mutable_properties());
    }
    return false;
  });
}

bool ReadPayload(simdjson::dom::object object, TicketEvent* ticket) {
  static const FieldKeys* const kKeys = new FieldKeys(TicketEvent::descriptor());
  static const EnumNames* const kKinds = new EnumNames(TicketEvent::Kind_descriptor());
  static const EnumNames* const kStatuses =
      new EnumNames(TicketEvent::Status_descriptor());
  static const EnumNames* const kTypes = new EnumNames(TicketEvent::Type_descriptor());
  static const EnumNames* const kPriorities =
      new EnumNames(TicketEvent::Priority_descriptor());
  static const EnumNames* const kActors = new EnumNames(TicketEvent::Actor_descriptor());
  return ReadFields(object, *kKeys, [ticket](int number, Element value) {
    switch (number) {
      case TicketEvent::kEventIdFieldNumber:
        return ReadString(value, ticket->mutable_event_id());
      case TicketEvent::kOccurredAtFieldNumber:
        return ReadTimestamp(value, ticket->mutable_occurred_at());
      case TicketEvent::kTicketIdFieldNumber:
        return ReadString(value, ticket->mutable_ticket_id());
      case TicketEvent::kAccountIdFieldNumber:
        return ReadString(value, ticket->mutable_account_id());
      case TicketEvent::kKindFieldNumber:
        return ReadEnumInto<TicketEvent::Kind>(value, *kKinds,
                                               [ticket](auto v) { ticket->set_kind(v); });
      case TicketEvent::kStatusFieldNumber:
        return ReadEnumInto<TicketEvent::Status>(
            value, *kStatuses, [ticket](auto v) { ticket->set_status(v); });
      case TicketEvent::kTypeFieldNumber:
        return ReadEnumInto<TicketEvent::Type>(value, *kTypes,
                                               [ticket](auto v) { ticket->set_type(v); });
      case TicketEvent::kPriorityFieldNumber:
        return ReadEnumInto<TicketEvent::Priority>(
            value, *kPriorities, [ticket](auto v) { ticket->set_priority(v); });
      case TicketEvent::kTeamFieldNumber:
        return ReadString(value, ticket->mutable_team());
      case TicketEvent::kAssigneeFieldNumber:
        return ReadString(value, ticket->mutable_assignee());
      case TicketEvent::kActorFieldNumber:
        return ReadEnumInto<TicketEvent::Actor>(
            value, *kActors, [ticket](auto v) { ticket->set_actor(v); });
      case TicketEvent::kPublicFieldNumber: {
        bool is_public;
        if (!ReadBool(value, &is_public)) return false;
        ticket->set_public_(is_public);
        return true;
      }
      case TicketEvent::kFeaturesFieldNumber:
        return ReadStrings(value, ticket->mutable_features());
      case TicketEvent::kReleaseFieldNumber:
        return ReadString(value, ticket->mutable_release());
    }
    return false;
  });
}

bool ReadPayload(simdjson::dom::object object, ReleaseEvent* release) {
  static const FieldKeys* const kKeys = new FieldKeys(ReleaseEvent::descriptor());
  static const EnumNames* const kKinds = new EnumNames(ReleaseEvent::Kind_descriptor());
  return ReadFields(object, *kKeys, [release](int number, Element value) {
    switch (number) {
      case ReleaseEvent::kEventIdFieldNumber:
        return ReadString(value, release->mutable_event_id());
      case ReleaseEvent::kOccurredAtFieldNumber:
        return ReadTimestamp(value, release->mutable_occurred_at());
      case ReleaseEvent::kReleaseFieldNumber:
        return ReadString(value, release->mutable_release());
      case ReleaseEvent::kKindFieldNumber:
        return ReadEnumInto<ReleaseEvent::Kind>(
            value, *kKinds, [release](auto v) { release->set_kind(v); });
      case ReleaseEvent::kTeamFieldNumber:
        return ReadString(value, release->mutable_team());
      case ReleaseEvent::kFeaturesFieldNumber:
        return ReadStrings(value, release->mutable_features());
    }
    return false;
  });
}

bool ReadPayload(simdjson::dom::object object, ExposureEvent* exposure) {
  static const FieldKeys* const kKeys = new FieldKeys(ExposureEvent::descriptor());
  return ReadFields(object, *kKeys, [exposure](int number, Element value) {
    switch (number) {
      case ExposureEvent::kEventIdFieldNumber:
        return ReadString(value, exposure->mutable_event_id());
      case ExposureEvent::kOccurredAtFieldNumber:
        return ReadTimestamp(value, exposure->mutable_occurred_at());
      case ExposureEvent::kAccountIdFieldNumber:
        return ReadString(value, exposure->mutable_account_id());
      case ExposureEvent::kUserIdFieldNumber:
        return ReadString(value, exposure->mutable_user_id());
      case ExposureEvent::kExperimentFieldNumber:
        return ReadString(value, exposure->mutable_experiment());
      case ExposureEvent::kVariantFieldNumber:
        return ReadString(value, exposure->mutable_variant());
    }
    return false;
  });
}

// Prepares `event` for a payload of `wanted` kind and returns it cleared.
// Keeping the payload message when the kind repeats (the rule on a bare
// topic) keeps its strings' buffers for the next event.
template <typename Payload>
Payload* ClearedPayload(Event::PayloadCase wanted, Payload* (Event::*mutable_payload)(),
                        Event* event) {
  if (event->payload_case() != wanted ||
      !event->GetReflection()->GetUnknownFields(*event).empty()) {
    event->Clear();
  }
  Payload* payload = (event->*mutable_payload)();
  payload->Clear();
  return payload;
}

template <typename Payload>
bool ReadPayloadInto(simdjson::dom::object object, Event::PayloadCase wanted,
                     Payload* (Event::*mutable_payload)(), Event* event) {
  return ReadPayload(object, ClearedPayload(wanted, mutable_payload, event));
}

// An envelope: at most one key, naming a payload whose value is an object.
// Two payload keys (protobuf reports the oneof set twice) go to protobuf.
bool ReadEnvelope(simdjson::dom::object object, Event* event) {
  static const FieldKeys* const kKeys = new FieldKeys(Event::descriptor());
  auto field = object.begin();
  if (field == object.end()) {
    event->Clear();
    return true;
  }
  const simdjson::dom::key_value_pair only = *field;
  if (++field != object.end()) return false;
  simdjson::dom::object payload;
  if (only.value.get_object().get(payload) != simdjson::SUCCESS) return false;
  switch (kKeys->Find(only.key)) {
    case Event::kUsageFieldNumber:
      return ReadPayloadInto(payload, Event::kUsage, &Event::mutable_usage, event);
    case Event::kTicketFieldNumber:
      return ReadPayloadInto(payload, Event::kTicket, &Event::mutable_ticket, event);
    case Event::kReleaseFieldNumber:
      return ReadPayloadInto(payload, Event::kRelease, &Event::mutable_release, event);
    case Event::kExposureFieldNumber:
      return ReadPayloadInto(payload, Event::kExposure, &Event::mutable_exposure, event);
  }
  return false;
}

// The first byte that is not JSON whitespace. Anything but '{' (a byte
// order mark, a scalar, protobuf's extra whitespace such as \v) is rare and
// goes to protobuf.
bool StartsWithObject(std::string_view json) {
  for (char c : json) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

bool ParseJsonFast(std::string_view bytes, Content content, Event* event) {
  if (bytes.size() > kMaxFastJsonBytes || !StartsWithObject(bytes) ||
      !EscapesAgree(bytes)) {
    return false;
  }
  // One parser per thread keeps its buffers from message to message; the
  // document it returns lives until the next parse on this thread.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(bytes.data(), bytes.size()).get_object().get(root) !=
      simdjson::SUCCESS) {
    return false;
  }
  switch (content) {
    case Content::kEnvelope:
      return ReadEnvelope(root, event);
    case Content::kUsage:
      return ReadPayloadInto(root, Event::kUsage, &Event::mutable_usage, event);
    case Content::kTicket:
      return ReadPayloadInto(root, Event::kTicket, &Event::mutable_ticket, event);
    case Content::kRelease:
      return ReadPayloadInto(root, Event::kRelease, &Event::mutable_release, event);
    case Content::kExposure:
      return ReadPayloadInto(root, Event::kExposure, &Event::mutable_exposure, event);
  }
  return false;
}

}  // namespace prodops::decode::internal
