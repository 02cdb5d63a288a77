// Holds DecodeEvent's fast JSON path against protobuf's JSON parser: shared
// by the decode tests and the decode fuzz target (so no GoogleTest here).
#pragma once

#include <string>
#include <string_view>

#include "daemon/decode/decode.h"
#include "daemon/decode/json_decode.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "prodops/v1/events.pb.h"

namespace prodops::decode::testing {

// The event's bytes with map entries in key order, so that equal events give
// equal bytes (protobuf's maps iterate in an unspecified order).
inline std::string DeterministicBytes(const prodops::v1::Event& event) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    event.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// What decoding one message gave: the result and the event it left.
struct Outcome {
  Decoded decoded;
  prodops::v1::Event event;
};

// Decodes `bytes` with both JSON parsers, each into a copy of `start` (a
// reused event, as the pipeline keeps one), and returns the first
// difference between the two outcomes, or "" when reason, detail and the
// event left behind are identical. `fast`, when given, receives the outcome
// of the fast path, which is what DecodeEvent returns.
inline std::string CompareJsonPaths(std::string_view bytes, Format format,
                                    Content content, const prodops::v1::Event& start,
                                    Outcome* fast = nullptr) {
  using internal::DecodeEventWith;
  using internal::JsonParser;
  Outcome with_fast{{}, start};
  Outcome with_protobuf{{}, start};
  with_fast.decoded =
      DecodeEventWith(JsonParser::kFast, bytes, format, content, &with_fast.event);
  with_protobuf.decoded = DecodeEventWith(JsonParser::kProtobuf, bytes, format, content,
                                          &with_protobuf.event);
  std::string difference;
  if (with_fast.decoded.reason != with_protobuf.decoded.reason) {
    difference = std::string("reason ") + RejectName(with_fast.decoded.reason) +
                 " (fast) vs " + RejectName(with_protobuf.decoded.reason) + " (protobuf)";
  } else if (with_fast.decoded.detail != with_protobuf.decoded.detail) {
    difference = "detail \"" + with_fast.decoded.detail + "\" (fast) vs \"" +
                 with_protobuf.decoded.detail + "\" (protobuf)";
  } else if (DeterministicBytes(with_fast.event) !=
             DeterministicBytes(with_protobuf.event)) {
    difference = "event {" + with_fast.event.ShortDebugString() + "} (fast) vs {" +
                 with_protobuf.event.ShortDebugString() + "} (protobuf)";
  }
  if (fast != nullptr) *fast = std::move(with_fast);
  return difference;
}

}  // namespace prodops::decode::testing
