#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "daemon/state/store.h"

namespace prodops::testing {

// An in-memory StateStore for tests: one ordered map per Family, so Scan
// visits keys in the byte order RocksDB uses. Write applies a WriteSet
// atomically (on a copy, swapped in at the end). Nothing is durable.
// Like RocksDB, it serves reads on one thread while another writes (as the
// pipeline's writer thread does): a read sees the contents of one moment,
// before or after a write.
class MemoryStore final : public state::StateStore {
 public:
  MemoryStore() = default;
  // A copy of the contents, which then change separately.
  MemoryStore(const MemoryStore& other) : current_(other.Current()) {}
  MemoryStore& operator=(const MemoryStore& other) {
    std::shared_ptr<const Families> contents = other.Current();
    std::lock_guard lock(mutex_);
    current_ = std::move(contents);
    return *this;
  }

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
  std::map<std::string, std::string> Contents(state::Family family) const {
    return (*Current())[static_cast<size_t>(family)];
  }

 private:
  using Families = std::array<std::map<std::string, std::string>, state::kFamilyCount>;
  std::shared_ptr<const Families> Current() const;
  // Replaces the contents with `change` applied to a copy of them, unless
  // it fails.
  absl::Status Update(const std::function<absl::Status(Families&)>& change);

  mutable std::mutex mutex_;  // guards current_, not what it points to
  std::shared_ptr<const Families> current_ = std::make_shared<const Families>();
  std::mutex update_mutex_;  // one Update at a time
};

}  // namespace prodops::testing
