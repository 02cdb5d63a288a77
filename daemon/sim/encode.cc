#include "daemon/sim/encode.h"

#include <google/protobuf/util/json_util.h>

namespace prodops::sim {

using prodops::v1::Event;

namespace {

const google::protobuf::Message* Payload(const Event& event, decode::Content content) {
  switch (content) {
    case decode::Content::kEnvelope:
      return &event;
    case decode::Content::kUsage:
      return event.has_usage() ? &event.usage() : nullptr;
    case decode::Content::kTicket:
      return event.has_ticket() ? &event.ticket() : nullptr;
    case decode::Content::kRelease:
      return event.has_release() ? &event.release() : nullptr;
    case decode::Content::kExposure:
      return event.has_exposure() ? &event.exposure() : nullptr;
  }
  return nullptr;
}

}  // namespace

bool Carries(decode::Content content, const Event& event) {
  return Payload(event, content) != nullptr;
}

bool EncodeEvent(const Event& event, decode::Format format, decode::Content content,
                 std::string* out) {
  const google::protobuf::Message* payload = Payload(event, content);
  if (payload == nullptr) return false;
  out->clear();
  if (format == decode::Format::kProtobuf) return payload->SerializeToString(out);
  return google::protobuf::util::MessageToJsonString(*payload, out).ok();
}

const std::string& PartitionKey(const Event& event) {
  switch (event.payload_case()) {
    case Event::kUsage:
      return event.usage().account_id();
    case Event::kTicket:
      return event.ticket().ticket_id();
    case Event::kRelease:
      return event.release().release();
    case Event::kExposure:
      return event.exposure().account_id();
    case Event::PAYLOAD_NOT_SET:
      break;
  }
  static const std::string* empty = new std::string();
  return *empty;
}

}  // namespace prodops::sim
