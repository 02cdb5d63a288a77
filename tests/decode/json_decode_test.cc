// The fast JSON path against protobuf's JSON parser: on every input both give
// the same reject reason, the same detail and the same event. Each case also
// says whether the fast path reads the input itself, so that the common
// shapes are known to be fast and the doubtful ones known to be left to
// protobuf.
#include "daemon/decode/json_decode.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/decode/decode.h"
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "tests/decode/json_paths.h"

namespace prodops::decode {
namespace {

using ::prodops::v1::Event;
using testing::CompareJsonPaths;
using testing::Outcome;

constexpr Content kAllContents[] = {Content::kEnvelope, Content::kUsage, Content::kTicket,
                                    Content::kRelease, Content::kExposure};

// Whether the fast path reads an input itself or hands it to protobuf.
enum class Path { kFast, kProtobuf };

struct Case {
  const char* name;
  Content content;
  std::string json;
  Path path;
  Reject reason;
};

// A valid bare usage event with `extra` spliced in before its last field.
std::string Usage(const std::string& extra) {
  return R"({"eventId":"u-1","occurredAt":"2024-05-01T12:00:00Z","userId":"v",)" + extra +
         R"("feature":"f"})";
}

// A valid bare ticket event with `extra` spliced in before its last field.
std::string Ticket(const std::string& extra) {
  return R"({"eventId":"t-1","occurredAt":"2024-05-01T12:00:00Z","ticketId":"T",)" +
         extra + R"("kind":"CREATED"})";
}

// A valid bare usage event whose occurred_at is `timestamp`.
std::string UsageAt(const std::string& timestamp) {
  return R"({"eventId":"u-1","userId":"v","feature":"f","occurredAt":")" + timestamp +
         "\"}";
}

std::vector<Case> Cases() {
  const Path kFast = Path::kFast;
  const Path kProtobuf = Path::kProtobuf;
  const Reject kNone = Reject::kNone;
  const Reject kMalformed = Reject::kMalformed;
  return {
      // The shapes producers send: read by the fast path.
      {"usage envelope", Content::kEnvelope, "{\"usage\":" + Usage("") + "}", kFast,
       kNone},
      {"usage with everything", Content::kUsage,
       Usage(R"("accountId":"acme","action":"view","release":"r1",
                "properties":{"browser":"firefox","os":"linux"},)"),
       kFast, kNone},
      {"snake_case keys", Content::kTicket,
       R"({"event_id":"t","occurred_at":"2024-05-01T12:00:00Z","ticket_id":"T",
           "account_id":"a","kind":"ASSIGNED","assignee":"ann"})",
       kFast, kNone},
      {"ticket with every field", Content::kEnvelope,
       R"({"ticket":{"eventId":"t","occurredAt":"2024-05-01T12:00:00.5+02:00",
           "ticketId":"T","accountId":"a","kind":"PRIORITY_CHANGED","status":"ON_HOLD",
           "type":"FEATURE_REQUEST","priority":"URGENT","team":"payments",
           "assignee":"ann","actor":"END_USER","public":false,
           "features":["checkout","cart"],"release":"r1"}})",
       kFast, kNone},
      {"release", Content::kRelease,
       R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z","release":"r1",
           "kind":"HOTFIX","team":"t","features":[]})",
       kFast, kNone},
      {"exposure envelope", Content::kEnvelope,
       R"({"exposure":{"event_id":"e","occurred_at":"2024-05-01T12:00:00Z",
           "userId":"v","experiment":"x","variant":"B"}})",
       kFast, kNone},
      {"enums by number", Content::kTicket,
       Ticket(R"("status":5,"type":0,"priority":4,"actor":2,)"), kFast, kNone},
      {"enum number the contract lacks", Content::kTicket, Ticket(R"("priority":9,)"),
       kFast, Reject::kUnknownEnum},
      {"negative enum number", Content::kTicket, Ticket(R"("status":-1,)"), kFast,
       Reject::kUnknownEnum},
      {"largest int32 enum number", Content::kTicket, Ticket(R"("actor":2147483647,)"),
       kFast, Reject::kUnknownEnum},
      {"smallest int32 enum number", Content::kTicket, Ticket(R"("actor":-2147483648,)"),
       kFast, Reject::kUnknownEnum},
      {"minus zero enum number", Content::kTicket, Ticket(R"("actor":-0,)"), kFast,
       kNone},
      {"KIND_UNSPECIFIED by name", Content::kRelease,
       R"({"eventId":"r","occurredAt":"2024-05-01T12:00:00Z","release":"r",
           "kind":"KIND_UNSPECIFIED"})",
       kFast, Reject::kMissingField},
      {"escapes", Content::kUsage,
       Usage(R"("action":"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\u20AC\u0000",)"), kFast, kNone},
      {"surrogate pair", Content::kUsage,
       Usage(R"("action":"\ud83d\ude00\uD83D\uDE00",)"), kFast, kNone},
      {"raw multi-byte UTF-8", Content::kUsage,
       Usage("\"action\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\","), kFast,
       kNone},
      {"escaped key in properties", Content::kUsage,
       Usage(R"("properties":{"a\"b":"1","\u00e9":"2","":"3"},)"), kFast, kNone},
      {"whitespace everywhere", Content::kEnvelope,
       " \t\r\n{ \"usage\" :\n{ \"eventId\" : \"u\" "
       ",\r\n\t\"occurredAt\":\"2024-05-01T12:00:00Z\""
       " , \"userId\" : \"v\" , \"feature\" : \"f\" } } \n\t ",
       kFast, kNone},
      {"empty envelope", Content::kEnvelope, "{}", kFast, Reject::kEmptyEnvelope},
      {"empty payload", Content::kEnvelope, R"({"usage":{}})", kFast,
       Reject::kMissingEventId},
      {"empty bare event", Content::kExposure, "{}", kFast, Reject::kMissingEventId},
      {"empty event_id", Content::kUsage,
       R"({"eventId":"","occurredAt":"2024-05-01T12:00:00Z"})", kFast,
       Reject::kMissingEventId},
      {"missing occurred_at", Content::kUsage, R"({"eventId":"u"})", kFast,
       Reject::kMissingOccurredAt},
      {"epoch is set", Content::kUsage, UsageAt("1970-01-01T00:00:00Z"), kFast, kNone},
      {"leap day", Content::kUsage, UsageAt("2024-02-29T23:59:59Z"), kFast, kNone},
      {"leap day of a 400th year", Content::kUsage, UsageAt("2000-02-29T00:00:00Z"),
       kFast, kNone},
      {"one fraction digit", Content::kUsage, UsageAt("2024-05-01T12:00:00.1Z"), kFast,
       kNone},
      {"nine fraction digits", Content::kUsage, UsageAt("2024-05-01T12:00:00.987654321Z"),
       kFast, kNone},
      {"offset crossing the year", Content::kUsage, UsageAt("2024-12-31T23:30:00-23:59"),
       kFast, kNone},
      {"before 1970 with offset", Content::kUsage, UsageAt("1969-12-31T23:59:59.5+00:01"),
       kFast, kNone},
      {"first second of year 1", Content::kUsage, UsageAt("0001-01-01T00:00:00Z"), kFast,
       kNone},
      {"last nanosecond of 9999", Content::kUsage,
       UsageAt("9999-12-31T23:59:59.999999999Z"), kFast, kNone},
      {"64 KiB", Content::kUsage,
       Usage("\"action\":\"" +
             std::string(64 * 1024 - Usage("\"action\":\"\",").size(), 'a') + "\","),
       kFast, kNone},
      {"one byte over 64 KiB", Content::kUsage,
       Usage("\"action\":\"" +
             std::string(64 * 1024 + 1 - Usage("\"action\":\"\",").size(), 'a') + "\","),
       kProtobuf, kNone},
      {"year 1 minus an offset", Content::kUsage, UsageAt("0001-01-01T01:00:00+01:00"),
       kFast, kNone},

      // Left to protobuf, which the fast path must then match exactly.
      {"duplicate key", Content::kUsage, Usage(R"("userId":"w",)"), kProtobuf, kNone},
      {"same field under both names", Content::kUsage, Usage(R"("user_id":"w",)"),
       kProtobuf, kNone},
      {"duplicate timestamp", Content::kUsage,
       Usage(R"("occurred_at":"2024-05-01T12:00:00.5Z",)"), kProtobuf, kNone},
      {"duplicate repeated field", Content::kTicket,
       Ticket(R"("features":["a"],"features":["b"],)"), kProtobuf, kNone},
      {"duplicate map key", Content::kUsage, Usage(R"("properties":{"a":"1","a":"2"},)"),
       kProtobuf, kMalformed},
      {"duplicate payload", Content::kEnvelope,
       "{\"usage\":" + Usage("") + ",\"usage\":" + Usage("") + "}", kProtobuf,
       kMalformed},
      {"two payloads", Content::kEnvelope, R"({"usage":{},"ticket":{}})", kProtobuf,
       kMalformed},
      {"null string", Content::kUsage, Usage(R"("action":null,)"), kProtobuf, kNone},
      {"null timestamp", Content::kUsage,
       R"({"eventId":"u","userId":"v","feature":"f","occurredAt":null})", kProtobuf,
       Reject::kMissingOccurredAt},
      {"null payload", Content::kEnvelope, R"({"usage":null})", kProtobuf,
       Reject::kEmptyEnvelope},
      {"null enum", Content::kTicket, Ticket(R"("status":null,)"), kProtobuf, kNone},
      {"null in repeated field", Content::kTicket, Ticket(R"("features":["a",null],)"),
       kProtobuf, kNone},
      {"null map value", Content::kUsage, Usage(R"("properties":{"a":null},)"), kProtobuf,
       kNone},
      {"unknown key", Content::kUsage, Usage(R"("colour":"red",)"), kProtobuf,
       kMalformed},
      {"key in another case", Content::kUsage, Usage(R"("EventId":"x",)"), kProtobuf,
       kMalformed},
      {"nested unknown object", Content::kUsage, Usage(R"("extra":{"a":{"b":[1,{}]}},)"),
       kProtobuf, kMalformed},
      {"unknown envelope key", Content::kEnvelope, R"({"signal":{}})", kProtobuf,
       kMalformed},
      {"escaped field key", Content::kUsage, Usage(R"("action\u0000":"x",)"), kProtobuf,
       kMalformed},
      {"escaped known key", Content::kUsage, Usage(R"("act\u0069on":"x",)"), kFast,
       kNone},
      {"unknown enum name", Content::kTicket, Ticket(R"("status":"REOPENED",)"),
       kProtobuf, Reject::kUnknownEnum},
      {"enum name in lower case", Content::kTicket, Ticket(R"("status":"open",)"),
       kProtobuf, Reject::kUnknownEnum},
      {"enum number in a string", Content::kTicket, Ticket(R"("status":"2",)"), kProtobuf,
       kNone},
      {"enum number with a fraction", Content::kTicket, Ticket(R"("status":2.0,)"),
       kProtobuf, kNone},
      {"enum number with an exponent", Content::kTicket, Ticket(R"("status":1e0,)"),
       kProtobuf, kNone},
      {"enum number above int32", Content::kTicket, Ticket(R"("status":2147483648,)"),
       kProtobuf, kMalformed},
      {"enum number below int32", Content::kTicket, Ticket(R"("status":-2147483649,)"),
       kProtobuf, kMalformed},
      {"enum number above uint64", Content::kTicket,
       Ticket(R"("status":123456789012345678901234567890,)"), kProtobuf, kMalformed},
      {"number beyond double", Content::kTicket, Ticket(R"("status":1e400,)"), kProtobuf,
       kMalformed},
      {"number for a string", Content::kUsage, Usage(R"("action":12345678901234567890,)"),
       kProtobuf, kMalformed},
      {"bool in a string", Content::kTicket, Ticket(R"("public":"true",)"), kProtobuf,
       kNone},
      {"bool as a number", Content::kTicket, Ticket(R"("public":1,)"), kProtobuf,
       kMalformed},
      {"string for a repeated field", Content::kTicket, Ticket(R"("features":"a",)"),
       kProtobuf, kNone},
      {"array for a string", Content::kUsage, Usage(R"("action":["a"],)"), kProtobuf,
       kMalformed},
      {"object for a timestamp", Content::kUsage,
       R"({"eventId":"u","userId":"v","feature":"f","occurredAt":{"seconds":5}})",
       kProtobuf, kNone},
      {"lone high surrogate", Content::kUsage, Usage(R"("action":"\ud800",)"), kProtobuf,
       kMalformed},
      {"lone low surrogate", Content::kUsage, Usage(R"("action":"\udc00x",)"), kProtobuf,
       kMalformed},
      {"high surrogate and a letter", Content::kUsage,
       Usage(R"("action":"\ud800\u0041",)"), kProtobuf, kMalformed},
      {"two high surrogates", Content::kUsage, Usage(R"("action":"\ud800\ud800",)"),
       kProtobuf, kMalformed},
      {"escape protobuf alone knows", Content::kUsage, Usage(R"("action":"\v\a",)"),
       kProtobuf, kNone},
      {"short unicode escape", Content::kUsage, Usage(R"("action":"\u12",)"), kProtobuf,
       kMalformed},
      {"invalid UTF-8", Content::kUsage, Usage("\"action\":\"\xff\xfe\","), kProtobuf,
       kMalformed},
      {"overlong UTF-8", Content::kUsage, Usage("\"action\":\"\xc0\xaf\","), kProtobuf,
       kMalformed},
      {"UTF-8 encoded surrogate", Content::kUsage, Usage("\"action\":\"\xed\xa0\x80\","),
       kProtobuf, kMalformed},
      {"truncated UTF-8", Content::kUsage, Usage("\"action\":\"\xe2\x82\","), kProtobuf,
       kMalformed},
      {"raw control character", Content::kUsage, Usage("\"action\":\"a\tb\","), kProtobuf,
       kNone},
      {"raw NUL", Content::kUsage, Usage(std::string("\"action\":\"a\0b\",", 15)),
       kProtobuf, kNone},
      {"timestamp with one-digit fields", Content::kUsage, UsageAt("2024-5-1T1:2:3Z"),
       kProtobuf, kNone},
      {"timestamp with ten fraction digits", Content::kUsage,
       UsageAt("2024-05-01T12:00:00.1234567891Z"), kProtobuf, kNone},
      {"timestamp with an empty fraction", Content::kUsage,
       UsageAt("2024-05-01T12:00:00.Z"), kProtobuf, kMalformed},
      {"timestamp in lower case", Content::kUsage, UsageAt("2024-05-01t12:00:00z"),
       kProtobuf, kMalformed},
      {"timestamp without zone", Content::kUsage, UsageAt("2024-05-01T12:00:00"),
       kProtobuf, kMalformed},
      {"timestamp with a space", Content::kUsage, UsageAt("2024-05-01 12:00:00Z"),
       kProtobuf, kMalformed},
      {"leap second", Content::kUsage, UsageAt("2016-12-31T23:59:60Z"), kProtobuf,
       kMalformed},
      {"February 29 of a common year", Content::kUsage, UsageAt("2023-02-29T00:00:00Z"),
       kProtobuf, kMalformed},
      {"February 29 of 1900", Content::kUsage, UsageAt("1900-02-29T00:00:00Z"), kProtobuf,
       kMalformed},
      {"April 31", Content::kUsage, UsageAt("2024-04-31T00:00:00Z"), kProtobuf,
       kMalformed},
      {"hour 24", Content::kUsage, UsageAt("2024-05-01T24:00:00Z"), kProtobuf,
       kMalformed},
      {"year 0", Content::kUsage, UsageAt("0000-12-31T00:00:00Z"), kProtobuf, kMalformed},
      {"offset of 24 hours", Content::kUsage, UsageAt("2024-05-01T12:00:00+24:00"),
       kProtobuf, kMalformed},
      {"offset of 60 minutes", Content::kUsage, UsageAt("2024-05-01T12:00:00+01:60"),
       kProtobuf, kMalformed},
      {"offset without colon", Content::kUsage, UsageAt("2024-05-01T12:00:00+0100"),
       kProtobuf, kMalformed},
      {"before year 1 after the offset", Content::kUsage,
       UsageAt("0001-01-01T00:00:00+01:00"), kProtobuf, Reject::kBadTimestamp},
      {"after 9999 after the offset", Content::kUsage,
       UsageAt("9999-12-31T23:59:59-01:00"), kProtobuf, Reject::kBadTimestamp},
      {"text after NUL in a timestamp", Content::kUsage,
       UsageAt(R"(2024-05-01T12:00:00Z\u0000junk)"), kProtobuf, kNone},
      {"trailing garbage", Content::kUsage, Usage("") + "x", kProtobuf, kMalformed},
      {"two documents", Content::kUsage, Usage("") + Usage(""), kProtobuf, kMalformed},
      {"trailing comma", Content::kUsage, Usage("").insert(Usage("").size() - 1, ","),
       kProtobuf, kNone},
      {"unquoted key", Content::kUsage, Usage("action:\"x\","), kProtobuf, kNone},
      {"single quotes", Content::kUsage, Usage("\"action\":'x',"), kProtobuf, kNone},
      {"vertical tab as whitespace", Content::kUsage, "\v" + Usage(""), kProtobuf, kNone},
      {"byte order mark", Content::kUsage, "\xef\xbb\xbf" + Usage(""), kProtobuf,
       kMalformed},
      {"top-level array", Content::kEnvelope, "[]", kProtobuf, kMalformed},
      {"top-level string", Content::kUsage, "\"u\"", kProtobuf, kMalformed},
      {"top-level null", Content::kEnvelope, "null", kProtobuf, kMalformed},
      {"empty input", Content::kUsage, "", kProtobuf, kMalformed},
      {"only whitespace", Content::kEnvelope, " \n", kProtobuf, kMalformed},
      {"unterminated object", Content::kUsage, R"({"eventId":"u")", kProtobuf,
       kMalformed},
      {"deep nesting", Content::kEnvelope,
       std::string(5000, '[') + std::string(5000, ']'), kProtobuf, kMalformed},
  };
}

TEST(JsonDecodeTest, FastPathReadsWhatItKnowsAndMatchesProtobufOnEveryCase) {
  // protobuf logs some of the invalid inputs.
  google::protobuf::LogSilencer quiet;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Outcome fast;
    EXPECT_EQ(CompareJsonPaths(c.json, Format::kJson, c.content, Event(), &fast), "")
        << c.json;
    EXPECT_STREQ(RejectName(fast.decoded.reason), RejectName(c.reason))
        << fast.decoded.detail;
    Event scratch;
    EXPECT_EQ(internal::ParseJsonFast(c.json, c.content, &scratch), c.path == Path::kFast)
        << c.json;
  }
}

// Every case on every kind of topic, one after another into the same reused
// events (after binary events that leave unknown fields behind): what one
// message leaves must not show through the next.
TEST(JsonDecodeTest, PathsAgreeOnEveryTopicWithReusedEvents) {
  google::protobuf::LogSilencer quiet;
  Event binary;
  binary.mutable_ticket()->set_event_id("t-0");
  std::string with_unknown = binary.SerializeAsString() + std::string("\x7a\x01x", 3);
  std::string payload_with_unknown =
      binary.ticket().SerializeAsString() + std::string("\x7a\x01x", 3);
  Event fast_event;
  Event protobuf_event;
  int compared = 0;
  for (const Case& c : Cases()) {
    for (Content content : kAllContents) {
      for (const auto& [bytes, format] :
           {std::pair{with_unknown, Format::kProtobuf},
            std::pair{payload_with_unknown, Format::kProtobuf},
            std::pair{c.json, Format::kJson}}) {
        SCOPED_TRACE(
            absl::StrCat(c.name, " on topic content ", static_cast<int>(content)));
        EXPECT_EQ(CompareJsonPaths(bytes, format, content, fast_event), "");
        const Decoded by_fast = internal::DecodeEventWith(
            internal::JsonParser::kFast, bytes, format, content, &fast_event);
        const Decoded by_protobuf = internal::DecodeEventWith(
            internal::JsonParser::kProtobuf, bytes, format, content, &protobuf_event);
        EXPECT_EQ(by_fast.reason, by_protobuf.reason);
        EXPECT_EQ(testing::DeterministicBytes(fast_event),
                  testing::DeterministicBytes(protobuf_event));
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 1000);
}

// The seeds of the decode fuzz target, which include every sample event the
// demo and the tests produce.
TEST(JsonDecodeTest, PathsAgreeOnTheFuzzSeeds) {
  int json_seeds = 0;
  int read_fast = 0;
  const std::filesystem::path seeds = "tests/fuzz/seeds/decode";
  // ctest runs the tests from the source directory.
  ASSERT_TRUE(std::filesystem::is_directory(seeds)) << std::filesystem::current_path();
  for (const auto& entry : std::filesystem::directory_iterator(seeds)) {
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string seed((std::istreambuf_iterator<char>(file)),
                           std::istreambuf_iterator<char>());
    // The first byte picks format and content as in tests/fuzz/decode_fuzzer.cc.
    if (seed.empty() || (seed[0] & 1) == 0) continue;
    const Content content = kAllContents[(static_cast<uint8_t>(seed[0]) >> 1) % 5];
    const std::string json = seed.substr(1);
    SCOPED_TRACE(entry.path().filename().string());
    EXPECT_EQ(CompareJsonPaths(json, Format::kJson, content, Event()), "");
    Event scratch;
    if (internal::ParseJsonFast(json, content, &scratch)) ++read_fast;
    ++json_seeds;
  }
  EXPECT_GE(json_seeds, 40);
  // Most seeds are ordinary events.
  EXPECT_GE(read_fast, json_seeds / 2);
}

// Timestamps over the whole range, with and without fractions and offsets:
// the fast path's calendar arithmetic against protobuf's.
TEST(JsonDecodeTest, TimestampsAgreeAcrossTheRange) {
  std::mt19937_64 random(7);
  int read_fast = 0;
  for (int i = 0; i < 20000; ++i) {
    const int year = 1 + random() % 9999;
    const int month = 1 + random() % 12;
    const int day = 1 + random() % 31;  // Some days do not exist: both must reject them.
    std::string timestamp =
        absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d", year, month, day,
                        static_cast<int>(random() % 24), static_cast<int>(random() % 60),
                        static_cast<int>(random() % 60));
    if (random() % 2 == 0) {
      const int digits = 1 + random() % 9;
      timestamp += ".";
      for (int d = 0; d < digits; ++d)
        timestamp += static_cast<char>('0' + random() % 10);
    }
    switch (random() % 3) {
      case 0:
        timestamp += "Z";
        break;
      default:
        timestamp += absl::StrFormat("%c%02d:%02d", random() % 2 ? '+' : '-',
                                     static_cast<int>(random() % 24),
                                     static_cast<int>(random() % 60));
    }
    const std::string json = UsageAt(timestamp);
    SCOPED_TRACE(timestamp);
    ASSERT_EQ(CompareJsonPaths(json, Format::kJson, Content::kUsage, Event()), "");
    Event scratch;
    if (internal::ParseJsonFast(json, Content::kUsage, &scratch)) ++read_fast;
  }
  // Days past a month's end and the few offsets that leave the range go to
  // protobuf; everything else is read by the fast path.
  EXPECT_GT(read_fast, 15000);
}

// Small random edits of valid events: characters JSON gives meaning to,
// inserted, deleted or replaced. A quick, deterministic relative of the fuzz
// target that runs in every build.
TEST(JsonDecodeTest, PathsAgreeOnRandomEditsOfValidEvents) {
  google::protobuf::LogSilencer quiet;
  static constexpr char kAlphabet[] =
      "{}[]\":,\\ ntrufalse0123456789.-+eEZT:u\xc3\xa9\x80\xff";
  std::vector<std::pair<std::string, Content>> valid;
  for (const Case& c : Cases()) {
    if (c.path == Path::kFast) valid.emplace_back(c.json, c.content);
  }
  std::mt19937 random(11);
  int accepted = 0;
  for (int i = 0; i < 10000; ++i) {
    auto [json, content] = valid[random() % valid.size()];
    const int edits = 1 + random() % 3;
    for (int e = 0; e < edits && !json.empty(); ++e) {
      const size_t at = random() % json.size();
      const char c = kAlphabet[random() % (sizeof(kAlphabet) - 1)];
      switch (random() % 3) {
        case 0:
          json.insert(at, 1, c);
          break;
        case 1:
          json.erase(at, 1);
          break;
        default:
          json[at] = c;
      }
    }
    Outcome fast;
    ASSERT_EQ(CompareJsonPaths(json, Format::kJson, content, Event(), &fast), "") << json;
    if (fast.decoded.ok()) ++accepted;
  }
  // Many edits land inside strings and leave the event valid.
  EXPECT_GT(accepted, 300);
}

}  // namespace
}  // namespace prodops::decode
