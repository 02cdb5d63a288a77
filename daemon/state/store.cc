#include "daemon/state/store.h"

namespace prodops::state {

const char* FamilyName(Family family) {
  switch (family) {
    case Family::kMeta:
      return "meta";
    case Family::kOffsets:
      return "offsets";
    case Family::kCounters:
      return "counters";
    case Family::kBuckets:
      return "buckets";
    case Family::kTickets:
      return "tickets";
    case Family::kDedup:
      return "dedup";
  }
  return "unknown";
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string bound(prefix);
  while (!bound.empty() && static_cast<unsigned char>(bound.back()) == 0xff) {
    bound.pop_back();
  }
  if (!bound.empty()) bound.back() = static_cast<char>(bound.back() + 1);
  return bound;
}

}  // namespace prodops::state
