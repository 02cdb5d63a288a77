#pragma once

#include <array>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "daemon/state/store.h"

namespace prodops::testing {

// An in-memory StateStore for tests: one ordered map per Family, so Scan
// visits keys in the byte order RocksDB uses. Write applies a WriteSet
// atomically (on a copy, swapped in at the end). Nothing is durable.
// Not thread-safe.
class MemoryStore final : public state::StateStore {
 public:
  absl::Status Write(const state::WriteSet& changes) override;
  absl::Status ScanRange(state::Family family, std::string_view begin,
                         std::string_view end, const Visitor& visit) const override;
  absl::StatusOr<std::string> Get(state::Family family,
                                  std::string_view key) const override;

  // With expire_dedup_eagerly, drops the expired kDedup entries at once:
  // the most eager garbage collection the contract allows.
  void SetDedupCutoff(int64_t cutoff) override;
  bool expire_dedup_eagerly = false;

  // Every key and value of one family, for assertions.
  const std::map<std::string, std::string>& Contents(state::Family family) const {
    return families_[static_cast<size_t>(family)];
  }

 private:
  using Families = std::array<std::map<std::string, std::string>, state::kFamilyCount>;
  Families families_;
};

}  // namespace prodops::testing
