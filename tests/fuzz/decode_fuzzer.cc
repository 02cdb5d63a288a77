// Every decoder on arbitrary bytes: the first byte picks the format and the
// topic content, the rest is the message. Any crash, leak or sanitizer
// report is a bug: bad input must only ever be a counted rejection.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/decode/decode.h"
#include "google/protobuf/stubs/logging.h"

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
  static constexpr Content kContents[] = {Content::kEnvelope, Content::kUsage, Content::kTicket,
                                          Content::kRelease, Content::kExposure};
  const Format format = (data[0] & 1) ? Format::kJson : Format::kProtobuf;
  const Content content = kContents[(data[0] >> 1) % 5];
  const std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  static prodops::v1::Event event;  // reused, as the pipeline does
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
