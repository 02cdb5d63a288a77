// Internal to daemon/decode: the two JSON parsers behind DecodeEvent, exposed
// so that tests and the fuzz target can hold one against the other. Nothing
// outside daemon/decode and its tests includes this header.
#pragma once

#include <string_view>

#include "daemon/decode/decode.h"
#include "prodops/v1/events.pb.h"

namespace prodops::decode::internal {

// Which JSON parser DecodeEventWith uses.
enum class JsonParser {
  // simdjson for the shapes of the event contract it knows, protobuf's parser
  // for everything else. What DecodeEvent uses.
  kFast,
  // protobuf's JSON parser alone: the reference that kFast must match.
  kProtobuf,
};

// DecodeEvent with a choice of JSON parser. Both choices give the same reason,
// detail and event on every input; binary protobuf does not depend on it.
Decoded DecodeEventWith(JsonParser parser, std::string_view bytes, Format format,
                        Content content, prodops::v1::Event* event);

// The fast path alone. Returns true when `bytes` is JSON it fully understood,
// with `event` (reused as DecodeEvent does: the payload is cleared first) set
// to exactly what protobuf's JSON parser would produce; the event contract is
// not checked. Returns false, with `event` in an unspecified state, whenever
// protobuf's parser must decide instead: not JSON, an unknown key, a key given
// twice, null, an enum name the contract lacks, a timestamp outside the usual
// RFC 3339 form or out of range, a surrogate escape that is not a pair, more
// than 64 KiB, and any other shape it does not handle. Never throws. Thread-compatible:
// each thread keeps its own simdjson parser.
bool ParseJsonFast(std::string_view bytes, Content content, prodops::v1::Event* event);

}  // namespace prodops::decode::internal
