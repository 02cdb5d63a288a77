#include "tests/testing/memory_store.h"

#include <utility>

#include "daemon/common/big_endian.h"

namespace prodops::testing {

absl::Status MemoryStore::Write(const state::WriteSet& changes) {
  Families next = families_;
  for (const state::WriteSet::Op& op : changes.ops()) {
    std::map<std::string, std::string>& keys = next[static_cast<size_t>(op.family)];
    switch (op.kind) {
      case state::WriteSet::OpKind::kPut:
        keys[op.key] = op.value;
        break;
      case state::WriteSet::OpKind::kDelete:
        keys.erase(op.key);
        break;
      case state::WriteSet::OpKind::kDeleteRange:
        // An inverted range is always a caller bug (RocksDB rejects or
        // ignores it); failing makes it visible in unit tests.
        if (op.value < op.key) {
          return absl::InvalidArgumentError("DeleteRange: end before begin");
        }
        keys.erase(keys.lower_bound(op.key), keys.lower_bound(op.value));
        break;
    }
  }
  families_ = std::move(next);
  return absl::OkStatus();
}

absl::Status MemoryStore::ScanRange(state::Family family, std::string_view begin,
                                    std::string_view end, const Visitor& visit) const {
  const std::map<std::string, std::string>& keys = Contents(family);
  for (auto it = keys.lower_bound(std::string(begin));
       it != keys.end() && (end.empty() || std::string_view(it->first) < end); ++it) {
    if (absl::Status status = visit(it->first, it->second); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStore::Get(state::Family family,
                                             std::string_view key) const {
  const std::map<std::string, std::string>& keys = Contents(family);
  const auto it = keys.find(std::string(key));
  if (it == keys.end()) return absl::NotFoundError("key not found");
  return it->second;
}

void MemoryStore::SetDedupCutoff(int64_t cutoff) {
  if (!expire_dedup_eagerly) return;
  std::map<std::string, std::string>& keys = families_[static_cast<size_t>(state::Family::kDedup)];
  std::erase_if(keys, [cutoff](const auto& entry) {
    const std::string& value = entry.second;
    return value.size() >= 8 && static_cast<int64_t>(DecodeFixedBigEndian(value, 8)) < cutoff;
  });
}

}  // namespace prodops::testing
