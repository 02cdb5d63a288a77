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

}  // namespace prodops::state
