// Every decoder on arbitrary bytes: the first byte picks the format and the
// topic content, the rest is the message. Any crash, leak or sanitizer
// report is a bug: bad input must only ever be a counted rejection.
//
// JSON is also decoded a second time with protobuf's JSON parser alone, and
// the target aborts when the two outcomes differ in reject reason, detail or
// the event left behind: the fast path must change nothing but speed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/decode/decode.h"
#include "google/protobuf/stubs/logging.h"
#include "tests/decode/json_paths.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs every invalid-UTF-8 string it meets; the daemon demotes
  // those lines to debug output, and here they would only hide the stats.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using prodops::decode::Content;
  using prodops::decode::Format;
  static constexpr Content kContents[] = {Content::kEnvelope, Content::kUsage,
                                          Content::kTicket, Content::kRelease,
                                          Content::kExposure};
  const Format format = (data[0] & 1) ? Format::kJson : Format::kProtobuf;
  const Content content = kContents[(data[0] >> 1) % 5];
  const std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  static prodops::v1::Event event;  // reused, as the pipeline does
  if (format == Format::kJson) {
    // Both paths start from what the previous input left in `event`.
    const std::string difference =
        prodops::decode::testing::CompareJsonPaths(message, format, content, event);
    if (!difference.empty()) {
      std::fprintf(stderr, "fast JSON path differs from protobuf's parser: %s\n",
                   difference.c_str());
      std::abort();
    }
  }
  const prodops::decode::Decoded decoded =
      prodops::decode::DecodeEvent(message, format, content, &event);
  if (decoded.ok()) {
    // What the pipeline does next with an accepted event must not crash either.
    (void)prodops::decode::OccurredAtMillis(event);
    (void)prodops::decode::EventId(event);
  } else {
    (void)prodops::decode::RejectName(decoded.reason);
  }
  return 0;
}
