#include "daemon/decode/decode.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/decode/json_paths.h"

namespace prodops::decode {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::prodops::v1::Event;
using ::prodops::v1::TicketEvent;
using ::prodops::v1::UsageEvent;

Event EventFromText(const std::string& text) {
  Event event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &event)) << text;
  return event;
}

// DecodeEvent, checked on every input of these tests against protobuf's JSON
// parser alone: the fast JSON path must change nothing but speed.
Decoded Decode(const std::string& bytes, Format format, Content content, Event* event) {
  testing::Outcome fast;
  EXPECT_EQ(testing::CompareJsonPaths(bytes, format, content, *event, &fast), "")
      << "input: " << bytes;
  const Decoded decoded = DecodeEvent(bytes, format, content, event);
  EXPECT_EQ(decoded.reason, fast.decoded.reason);
  return decoded;
}

Decoded Decode(const std::string& bytes, Format format, Content content) {
  Event event;
  return Decode(bytes, format, content, &event);
}

// One valid event of each kind, as the envelope, as bare JSON (mixing
// snake_case and lowerCamelCase keys, offsets and fractional seconds) and
// with the envelope's key and content of its bare topic.
struct KindCase {
  const char* name;
  Content content;
  const char* envelope_key;
  const char* json;
  const char* expected;  // text format of the Event
  int64_t occurred_at_millis;
};

const KindCase kKinds[] = {
    {"usage", Content::kUsage, "usage",
     R"({"eventId":"u-1","occurredAt":"2024-05-01T12:00:00Z","account_id":"acme",
         "userId":"user-7","feature":"checkout","action":"submit","release":"r42",
         "properties":{"browser":"firefox"}})",
     R"pb(usage {
            event_id: "u-1"
            occurred_at { seconds: 1714564800 }
            account_id: "acme"
            user_id: "user-7"
            feature: "checkout"
            action: "submit"
            release: "r42"
            properties { key: "browser" value: "firefox" }
          })pb",
     1714564800000},
    {"ticket", Content::kTicket, "ticket",
     R"({"event_id":"t-1","occurred_at":"2024-05-01T14:00:00.250+02:00","ticketId":"T-9",
         "accountId":"acme","kind":"STATUS_CHANGED","status":"SOLVED","type":"BUG",
         "priority":"URGENT","team":"payments","assignee":"ann","actor":"AGENT",
         "public":true,"features":["checkout","cart"],"release":"r42"})",
     R"pb(ticket {
            event_id: "t-1"
            occurred_at { seconds: 1714564800 nanos: 250000000 }
            ticket_id: "T-9"
            account_id: "acme"
            kind: STATUS_CHANGED
            status: SOLVED
            type: BUG
            priority: URGENT
            team: "payments"
            assignee: "ann"
            actor: AGENT
            public: true
            features: [ "checkout", "cart" ]
            release: "r42"
          })pb",
     1714564800250},
    {"release", Content::kRelease, "release",
     R"({"eventId":"r-1","occurredAt":"2024-05-01T06:30:00.123456789-05:30",
         "release":"r42","kind":"ROLLBACK","team":"payments","features":["checkout"]})",
     R"pb(release {
            event_id: "r-1"
            occurred_at { seconds: 1714564800 nanos: 123456789 }
            release: "r42"
            kind: ROLLBACK
            team: "payments"
            features: "checkout"
          })pb",
     1714564800123},
    {"exposure", Content::kExposure, "exposure",
     R"({"event_id":"e-1","occurredAt":"2024-05-01T12:00:00Z","accountId":"acme",
         "user_id":"user-7","experiment":"new-cart","variant":"B"})",
     R"pb(exposure {
            event_id: "e-1"
            occurred_at { seconds: 1714564800 }
            account_id: "acme"
            user_id: "user-7"
            experiment: "new-cart"
            variant: "B"
          })pb",
     1714564800000},
};

// The serialized payload alone, as a bare topic carries it.
std::string BareBinary(const Event& event) {
  switch (event.payload_case()) {
    case Event::kUsage:
      return event.usage().SerializeAsString();
    case Event::kTicket:
      return event.ticket().SerializeAsString();
    case Event::kRelease:
      return event.release().SerializeAsString();
    case Event::kExposure:
      return event.exposure().SerializeAsString();
    case Event::PAYLOAD_NOT_SET:
      break;
  }
  return "";
}

TEST(RejectNameTest, NamesAreTheReasonLabelValues) {
  EXPECT_STREQ(RejectName(Reject::kNone), "none");
  EXPECT_STREQ(RejectName(Reject::kMalformed), "malformed");
  EXPECT_STREQ(RejectName(Reject::kEmptyEnvelope), "empty_envelope");
  EXPECT_STREQ(RejectName(Reject::kMissingEventId), "missing_event_id");
  EXPECT_STREQ(RejectName(Reject::kMissingOccurredAt), "missing_occurred_at");
  EXPECT_STREQ(RejectName(Reject::kMissingField), "missing_field");
  EXPECT_STREQ(RejectName(Reject::kUnknownEnum), "unknown_enum");
  EXPECT_STREQ(RejectName(Reject::kBadTimestamp), "bad_timestamp");
  EXPECT_STREQ(RejectName(static_cast<Reject>(99)), "unknown");
}

TEST(DecodeEventTest, EveryKindInBothFormatsBareAndInTheEnvelope) {
  for (const KindCase& kind : kKinds) {
    const Event expected = EventFromText(kind.expected);
    struct Input {
      const char* what;
      std::string bytes;
      Format format;
      Content content;
    };
    const Input inputs[] = {
        {"protobuf bare", BareBinary(expected), Format::kProtobuf, kind.content},
        {"protobuf envelope", expected.SerializeAsString(), Format::kProtobuf,
         Content::kEnvelope},
        {"json bare", kind.json, Format::kJson, kind.content},
        {"json envelope",
         std::string("{\"") + kind.envelope_key + "\":" + kind.json + "}", Format::kJson,
         Content::kEnvelope},
    };
    for (const Input& input : inputs) {
      SCOPED_TRACE(std::string(kind.name) + " " + input.what);
      Event event;
      const Decoded decoded = Decode(input.bytes, input.format, input.content, &event);
      EXPECT_EQ(decoded.reason, Reject::kNone);
      EXPECT_EQ(decoded.detail, "");
      EXPECT_TRUE(decoded.ok());
      EXPECT_TRUE(MessageDifferencer::Equals(event, expected)) << event.DebugString();
      EXPECT_EQ(OccurredAtMillis(event), kind.occurred_at_millis);
      if (input.format == Format::kJson) {
        // The common shape: read by the fast path, not handed to protobuf.
        Event scratch;
        EXPECT_TRUE(internal::ParseJsonFast(input.bytes, input.content, &scratch));
      }
    }
  }
}

TEST(DecodeEventTest, SnakeCaseAndLowerCamelCaseKeysAreTheSame) {
  const std::string snake =
      R"({"event_id":"t-1","occurred_at":"2024-05-01T12:00:00Z","ticket_id":"T-9",
          "account_id":"acme","kind":"CREATED"})";
  const std::string camel =
      R"({"eventId":"t-1","occurredAt":"2024-05-01T12:00:00Z","ticketId":"T-9",
          "accountId":"acme","kind":"CREATED"})";
  const Event expected = EventFromText(R"pb(ticket {
                                              event_id: "t-1"
                                              occurred_at { seconds: 1714564800 }
                                              ticket_id: "T-9"
                                              account_id: "acme"
                                              kind: CREATED
                                            })pb");
  for (const std::string& json : {snake, camel}) {
    Event event;
    EXPECT_TRUE(Decode(json, Format::kJson, Content::kTicket, &event).ok()) << json;
    EXPECT_TRUE(MessageDifferencer::Equals(event, expected)) << json;
  }
}

TEST(DecodeEventTest, Rfc3339TimestampsWithOffsetsAndFractions) {
  struct Case {
    const char* timestamp;
    int64_t seconds;
    int32_t nanos;
    int64_t millis;
  };
  const Case cases[] = {
      {"2024-05-01T12:00:00Z", 1714564800, 0, 1714564800000},
      {"2024-05-01T12:00:00.5Z", 1714564800, 500000000, 1714564800500},
      {"2024-05-01T12:00:00.000000001Z", 1714564800, 1, 1714564800000},
      {"2024-05-01T14:00:00+02:00", 1714564800, 0, 1714564800000},
      {"2024-05-01T06:30:00.999-05:30", 1714564800, 999000000, 1714564800999},
      {"1969-12-31T23:59:59.500Z", -1, 500000000, -500},
      {"0001-01-01T00:00:00Z", -62135596800, 0, -62135596800000},
      {"9999-12-31T23:59:59.999999999Z", 253402300799, 999999999, 253402300799999},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.timestamp);
    Event event;
    const std::string json =
        std::string(R"({"eventId":"u-1","userId":"v","feature":"f",)") +
        R"("occurredAt":")" + c.timestamp + "\"}";
    ASSERT_TRUE(Decode(json, Format::kJson, Content::kUsage, &event).ok());
    EXPECT_EQ(event.usage().occurred_at().seconds(), c.seconds);
    EXPECT_EQ(event.usage().occurred_at().nanos(), c.nanos);
    EXPECT_EQ(OccurredAtMillis(event), c.millis);
  }
}

TEST(DecodeEventTest, JsonEnumsByNameOrNumber) {
  Event event;
  ASSERT_TRUE(Decode(R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z",
                         "release":"r42","kind":"HOTFIX"})",
                     Format::kJson, Content::kRelease, &event)
                  .ok());
  EXPECT_EQ(event.release().kind(), v1::ReleaseEvent::HOTFIX);
  ASSERT_TRUE(Decode(R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z",
                         "release":"r42","kind":2})",
                     Format::kJson, Content::kRelease, &event)
                  .ok());
  EXPECT_EQ(event.release().kind(), v1::ReleaseEvent::ROLLBACK);
}

// A valid bare ticket in binary, changed by `edit`.
template <typename F>
std::string TicketBinary(F edit) {
  Event event = EventFromText(kKinds[1].expected);
  edit(event.mutable_ticket());
  return event.ticket().SerializeAsString();
}

struct RejectCase {
  const char* name;
  std::string bytes;
  Format format;
  Content content;
  Reject reason;
  const char* detail;
};

TEST(DecodeEventTest, RejectsWithReasonAndDetail) {
  const std::string ticket = TicketBinary([](TicketEvent*) {});
  const RejectCase cases[] = {
      // Parse failures.
      {"malformed json", R"({"eventId":)", Format::kJson, Content::kUsage,
       Reject::kMalformed, "Unexpected end of string. Expected a value."},
      {"json unknown key", R"({"eventId":"u","color":"red"})", Format::kJson,
       Content::kUsage, Reject::kMalformed, "color: Cannot find field."},
      {"json wrong type", R"({"eventId":7})", Format::kJson, Content::kUsage,
       Reject::kMalformed, "(event_id): invalid value 7 for type TYPE_STRING"},
      {"json array", "[]", Format::kJson, Content::kEnvelope, Reject::kMalformed,
       ": Root element must be a message."},
      {"json garbage timestamp", R"({"eventId":"u","occurredAt":"yesterday"})",
       Format::kJson, Content::kUsage, Reject::kMalformed,
       "(occurred_at): invalid value Field 'occurredAt', Invalid time format: yesterday "
       "for type type.googleapis.com/google.protobuf.Timestamp"},
      {"json year 10000", R"({"eventId":"u","occurredAt":"10000-01-01T00:00:00Z"})",
       Format::kJson, Content::kUsage, Reject::kMalformed,
       "(occurred_at): invalid value Field 'occurredAt', Invalid time format: "
       "10000-01-01T00:00:00Z for type type.googleapis.com/google.protobuf.Timestamp"},
      {"json not utf-8", "{\"eventId\":\"\xff\xfe\"}", Format::kJson, Content::kUsage,
       Reject::kMalformed, "Encountered non UTF-8 code points."},
      {"empty json", "", Format::kJson, Content::kUsage, Reject::kMalformed,
       "Unexpected end of string. Expected a value."},
      {"empty json envelope", "", Format::kJson, Content::kEnvelope, Reject::kMalformed,
       "Unexpected end of string. Expected a value."},
      {"truncated protobuf", ticket.substr(0, ticket.size() - 1), Format::kProtobuf,
       Content::kTicket, Reject::kMalformed,
       "not a valid prodops.v1.TicketEvent in protobuf binary"},
      {"protobuf garbage", "\xff\xff\xff", Format::kProtobuf, Content::kEnvelope,
       Reject::kMalformed, "not a valid prodops.v1.Event in protobuf binary"},
      // Unknown enum values.
      {"json unknown enum name", R"({"eventId":"t","kind":"REOPENED"})", Format::kJson,
       Content::kTicket, Reject::kUnknownEnum,
       "unknown prodops.v1.TicketEvent.Kind name \"REOPENED\""},
      {"json lower-case enum name", R"({"eventId":"t","status":"solved"})", Format::kJson,
       Content::kTicket, Reject::kUnknownEnum,
       "unknown prodops.v1.TicketEvent.Status name \"solved\""},
      {"json unknown enum name in envelope",
       R"({"release":{"eventId":"r","kind":"UNDEPLOY"}})", Format::kJson,
       Content::kEnvelope, Reject::kUnknownEnum,
       "unknown prodops.v1.ReleaseEvent.Kind name \"UNDEPLOY\""},
      {"json unknown enum number", R"({"eventId":"t","occurredAt":"2024-05-01T12:00:00Z",
          "ticketId":"T","kind":"CREATED","priority":9})",
       Format::kJson, Content::kTicket, Reject::kUnknownEnum,
       "ticket event with unknown priority 9"},
      {"protobuf unknown enum number", TicketBinary([](TicketEvent* t) {
         t->set_status(static_cast<TicketEvent::Status>(7));
       }),
       Format::kProtobuf, Content::kTicket, Reject::kUnknownEnum,
       "ticket event with unknown status 7"},
      {"protobuf unknown kind number", TicketBinary([](TicketEvent* t) {
         t->set_kind(static_cast<TicketEvent::Kind>(-1));
       }),
       Format::kProtobuf, Content::kTicket, Reject::kUnknownEnum,
       "ticket event with unknown kind -1"},
      // Envelope and common fields.
      {"empty protobuf envelope", "", Format::kProtobuf, Content::kEnvelope,
       Reject::kEmptyEnvelope, "event envelope without payload"},
      {"empty json envelope object", "{}", Format::kJson, Content::kEnvelope,
       Reject::kEmptyEnvelope, "event envelope without payload"},
      {"empty protobuf bare", "", Format::kProtobuf, Content::kUsage,
       Reject::kMissingEventId, "usage event without event_id"},
      {"missing event_id", TicketBinary([](TicketEvent* t) { t->clear_event_id(); }),
       Format::kProtobuf, Content::kTicket, Reject::kMissingEventId,
       "ticket event without event_id"},
      {"missing occurred_at",
       TicketBinary([](TicketEvent* t) { t->clear_occurred_at(); }), Format::kProtobuf,
       Content::kTicket, Reject::kMissingOccurredAt, "ticket event without occurred_at"},
      {"timestamp after 9999", TicketBinary([](TicketEvent* t) {
         t->mutable_occurred_at()->set_seconds(253402300800);
       }),
       Format::kProtobuf, Content::kTicket, Reject::kBadTimestamp,
       "occurred_at out of range: seconds 253402300800, nanos 250000000"},
      {"timestamp before 0001", TicketBinary([](TicketEvent* t) {
         t->mutable_occurred_at()->set_seconds(-62135596801);
       }),
       Format::kProtobuf, Content::kTicket, Reject::kBadTimestamp,
       "occurred_at out of range: seconds -62135596801, nanos 250000000"},
      {"negative nanos",
       TicketBinary([](TicketEvent* t) { t->mutable_occurred_at()->set_nanos(-1); }),
       Format::kProtobuf, Content::kTicket, Reject::kBadTimestamp,
       "occurred_at out of range: seconds 1714564800, nanos -1"},
      {"nanos of a whole second", TicketBinary([](TicketEvent* t) {
         t->mutable_occurred_at()->set_nanos(1000000000);
       }),
       Format::kProtobuf, Content::kTicket, Reject::kBadTimestamp,
       "occurred_at out of range: seconds 1714564800, nanos 1000000000"},
      // Kind-specific fields.
      {"missing ticket_id", TicketBinary([](TicketEvent* t) { t->clear_ticket_id(); }),
       Format::kProtobuf, Content::kTicket, Reject::kMissingField,
       "ticket event without ticket_id"},
      {"ticket kind unspecified", TicketBinary([](TicketEvent* t) { t->clear_kind(); }),
       Format::kProtobuf, Content::kTicket, Reject::kMissingField,
       "ticket event without kind"},
      {"release kind unspecified by name",
       R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z","release":"r42",
           "kind":"KIND_UNSPECIFIED"})",
       Format::kJson, Content::kRelease, Reject::kMissingField,
       "release event without kind"},
      {"missing release",
       R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z","kind":"DEPLOY"})",
       Format::kJson, Content::kRelease, Reject::kMissingField,
       "release event without release"},
      {"missing feature",
       R"({"eventId":"u","occurredAt":"2024-05-01T12:00:00Z","userId":"v"})",
       Format::kJson, Content::kUsage, Reject::kMissingField,
       "usage event without feature"},
      {"usage without user_id",
       R"({"eventId":"u","occurredAt":"2024-05-01T12:00:00Z","feature":"f"})",
       Format::kJson, Content::kUsage, Reject::kMissingField,
       "usage event without user_id"},
      {"missing experiment",
       R"({"eventId":"e","occurredAt":"2024-05-01T12:00:00Z","userId":"v","variant":"B"})",
       Format::kJson, Content::kExposure, Reject::kMissingField,
       "exposure event without experiment"},
      {"missing variant",
       R"({"eventId":"e","occurredAt":"2024-05-01T12:00:00Z","userId":"v","experiment":"x"})",
       Format::kJson, Content::kExposure, Reject::kMissingField,
       "exposure event without variant"},
      {"exposure without user_id",
       R"({"eventId":"e","occurredAt":"2024-05-01T12:00:00Z","experiment":"x",
           "variant":"B"})",
       Format::kJson, Content::kExposure, Reject::kMissingField,
       "exposure event without user_id"},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Decoded decoded = Decode(c.bytes, c.format, c.content);
    EXPECT_FALSE(decoded.ok());
    EXPECT_STREQ(RejectName(decoded.reason), RejectName(c.reason));
    EXPECT_EQ(decoded.detail, c.detail);
  }
}

// Proto3 requires UTF-8 in string fields and protobuf's parser fails on
// anything else; the reject says which field.
TEST(DecodeEventTest, InvalidUtf8InProtobufStringIsMalformed) {
  UsageEvent usage = EventFromText(kKinds[0].expected).usage();
  usage.set_feature("@@");
  (*usage.mutable_properties())["browser"] = "##";
  const std::string valid = usage.SerializeAsString();

  std::string bad_feature = valid;
  bad_feature.replace(bad_feature.find("@@"), 2, "\xc3\x28");  // Broken 2-byte sequence.
  std::string bad_property = valid;
  bad_property.replace(bad_property.find("##"), 2, "\xff\xfe");
  v1::Event envelope;
  *envelope.mutable_usage() = usage;
  std::string bad_envelope = envelope.SerializeAsString();
  bad_envelope.replace(bad_envelope.find("@@"), 2, "\xed\xa0");  // Surrogate start.

  Decoded decoded = Decode(bad_feature, Format::kProtobuf, Content::kUsage);
  EXPECT_EQ(decoded.reason, Reject::kMalformed);
  EXPECT_EQ(decoded.detail,
            "invalid UTF-8 in string field prodops.v1.UsageEvent.feature");

  decoded = Decode(bad_property, Format::kProtobuf, Content::kUsage);
  EXPECT_EQ(decoded.reason, Reject::kMalformed);
  EXPECT_EQ(decoded.detail,
            "invalid UTF-8 in string field prodops.v1.UsageEvent.PropertiesEntry.value");

  decoded = Decode(bad_envelope, Format::kProtobuf, Content::kEnvelope);
  EXPECT_EQ(decoded.reason, Reject::kMalformed);
  EXPECT_EQ(decoded.detail,
            "invalid UTF-8 in string field prodops.v1.UsageEvent.feature");

  // The same bytes with valid UTF-8 are accepted.
  EXPECT_TRUE(Decode(valid, Format::kProtobuf, Content::kUsage).ok());
}

TEST(DecodeEventTest, ReusedEventHoldsOnlyTheLatestMessage) {
  Event event;
  // An envelope with a field this build does not know (number 15).
  std::string with_unknown = EventFromText(kKinds[1].expected).SerializeAsString();
  with_unknown += std::string("\x7a\x01x", 3);
  ASSERT_TRUE(Decode(with_unknown, Format::kProtobuf, Content::kEnvelope, &event).ok());
  EXPECT_FALSE(event.GetReflection()->GetUnknownFields(event).empty());

  const Event usage = EventFromText(kKinds[0].expected);
  ASSERT_TRUE(Decode(BareBinary(usage), Format::kProtobuf, Content::kUsage, &event).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(event, usage)) << event.DebugString();
  EXPECT_TRUE(event.GetReflection()->GetUnknownFields(event).empty());

  // Same kind again: fields of the previous usage event do not linger.
  ASSERT_TRUE(Decode(R"({"eventId":"u-2","occurredAt":"2024-05-01T12:00:00Z",
                         "userId":"v","feature":"f"})",
                     Format::kJson, Content::kUsage, &event)
                  .ok());
  EXPECT_TRUE(MessageDifferencer::Equals(
      event, EventFromText(R"pb(usage {
                                  event_id: "u-2"
                                  occurred_at { seconds: 1714564800 }
                                  user_id: "v"
                                  feature: "f"
                                })pb")))
      << event.DebugString();
}

TEST(ValidateEventTest, ChecksAnAlreadyParsedEvent) {
  EXPECT_TRUE(ValidateEvent(EventFromText(kKinds[3].expected)).ok());
  const Decoded decoded = ValidateEvent(Event());
  EXPECT_EQ(decoded.reason, Reject::kEmptyEnvelope);
  EXPECT_EQ(decoded.detail, "event envelope without payload");
}

TEST(AccessorsTest, EventIdAndOccurredAtOfEveryKind) {
  const char* ids[] = {"u-1", "t-1", "r-1", "e-1"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(EventId(EventFromText(kKinds[i].expected)), ids[i]);
  }
  EXPECT_EQ(EventId(Event()), "");
  EXPECT_EQ(OccurredAtMillis(Event()), 0);
  EXPECT_EQ(OccurredAtMillis(EventFromText(kKinds[2].expected)), 1714564800123);
  // Unvalidated, out of range: saturates rather than overflowing.
  EXPECT_EQ(OccurredAtMillis(
                EventFromText("usage { occurred_at { seconds: 9223372036854775807 } }")),
            INT64_MAX);
}

// A smoke test of "never crashes"; the fuzz target goes further.
TEST(DecodeEventTest, SurvivesTruncationAndRandomBytes) {
  std::vector<std::string> inputs;
  for (const KindCase& kind : kKinds) {
    const std::string binary = EventFromText(kind.expected).SerializeAsString();
    const std::string json = kind.json;
    for (size_t n = 0; n <= binary.size(); ++n) inputs.push_back(binary.substr(0, n));
    for (size_t n = 0; n <= json.size(); ++n) inputs.push_back(json.substr(0, n));
  }
  std::mt19937 random(1);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(random() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    inputs.push_back(bytes);
  }
  // Protobuf logs every string field that is not UTF-8.
  google::protobuf::LogSilencer quiet;
  Event event;
  for (const std::string& bytes : inputs) {
    for (Format format : {Format::kProtobuf, Format::kJson}) {
      for (Content content : {Content::kEnvelope, Content::kUsage, Content::kTicket,
                              Content::kRelease, Content::kExposure}) {
        const Decoded decoded = Decode(bytes, format, content, &event);
        EXPECT_EQ(decoded.ok(), decoded.detail.empty());
      }
    }
  }
}

}  // namespace
}  // namespace prodops::decode
