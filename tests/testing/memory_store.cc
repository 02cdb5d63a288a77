#include "tests/testing/memory_store.h"

#include <utility>

#include "daemon/common/big_endian.h"

namespace prodops::testing {

std::shared_ptr<const MemoryStore::Families> MemoryStore::Current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

absl::Status MemoryStore::Update(const std::function<absl::Status(Families&)>& change) {
  std::lock_guard update(update_mutex_);
  auto next = std::make_shared<Families>(*Current());
  if (absl::Status s = change(*next); !s.ok()) return s;
  std::lock_guard lock(mutex_);
  current_ = std::move(next);
  return absl::OkStatus();
}

absl::Status MemoryStore::Write(const state::WriteSet& changes) {
  return Update([&changes](Families& next) {
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
    return absl::OkStatus();
  });
}

absl::Status MemoryStore::ScanRange(state::Family family, std::string_view begin,
                                    std::string_view end, const Visitor& visit) const {
  const std::shared_ptr<const Families> families = Current();
  const std::map<std::string, std::string>& keys =
      (*families)[static_cast<size_t>(family)];
  for (auto it = keys.lower_bound(std::string(begin));
       it != keys.end() && (end.empty() || std::string_view(it->first) < end); ++it) {
    if (absl::Status status = visit(it->first, it->second); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MemoryStore::Get(state::Family family,
                                             std::string_view key) const {
  const std::shared_ptr<const Families> families = Current();
  const std::map<std::string, std::string>& keys =
      (*families)[static_cast<size_t>(family)];
  const auto it = keys.find(std::string(key));
  if (it == keys.end()) return absl::NotFoundError("key not found");
  return it->second;
}

void MemoryStore::SetDedupCutoff(int64_t cutoff) {
  if (!expire_dedup_eagerly) return;
  Update([cutoff](Families& next) {
    std::erase_if(next[static_cast<size_t>(state::Family::kDedup)],
                  [cutoff](const auto& entry) {
                    const std::string& value = entry.second;
                    return value.size() >= 8 &&
                           static_cast<int64_t>(DecodeFixedBigEndian(value, 8)) < cutoff;
                  });
    return absl::OkStatus();
  }).IgnoreError();
}

}  // namespace prodops::testing
