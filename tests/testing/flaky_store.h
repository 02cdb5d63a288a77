#pragma once

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "tests/testing/memory_store.h"

namespace prodops::testing {

// A MemoryStore whose writes fail on demand, as a full or read-only disk
// makes them fail: the next `failures` writes fail, and every write fails
// while `fail` is set. Counts the writes that succeeded and remembers which
// families the last one touched.
class FlakyStore final : public state::StateStore {
 public:
  absl::Status Write(const state::WriteSet& changes) override {
    if (fail || failures > 0) {
      if (failures > 0) --failures;  // one thread writes at a time
      return absl::ResourceExhaustedError("disk full");
    }
    ++writes;
    last_write_families.clear();
    for (const auto& op : changes.ops()) last_write_families.insert(op.family);
    return inner.Write(changes);
  }
  absl::Status ScanRange(state::Family family, std::string_view begin,
                         std::string_view end, const Visitor& visit) const override {
    return inner.ScanRange(family, begin, end, visit);
  }
  absl::StatusOr<std::string> Get(state::Family family,
                                  std::string_view key) const override {
    return inner.Get(family, key);
  }
  void SetDedupCutoff(int64_t cutoff) override { inner.SetDedupCutoff(cutoff); }

  MemoryStore inner;
  // Atomic: a test may set them while the pipeline's writer thread writes.
  std::atomic<int> failures = 0;
  std::atomic<bool> fail = false;
  std::atomic<int> writes = 0;
  // Read it only when no write is in flight.
  std::set<state::Family> last_write_families;
};

}  // namespace prodops::testing
