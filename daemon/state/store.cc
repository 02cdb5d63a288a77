#include "daemon/state/store.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "daemon/common/big_endian.h"

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
    case Family::kSignals:
      return "signals";
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

std::string TaskPrefix(TaskId task) {
  std::string prefix;
  PutFixedBigEndian(task, kTaskPrefixBytes, &prefix);
  return prefix;
}

bool ParseTaskPrefix(std::string_view key, TaskId* task) {
  if (key.size() < kTaskPrefixBytes) return false;
  *task = static_cast<TaskId>(DecodeFixedBigEndian(key, kTaskPrefixBytes));
  return true;
}

std::string TaskKey(TaskId task, std::string_view key) {
  std::string task_key = TaskPrefix(task);
  task_key.append(key);
  return task_key;
}

TaskId TaskOfKey(std::string_view task_key) {
  TaskId task = 0;
  ParseTaskPrefix(task_key, &task);
  return task;
}

std::string_view OwnKeyOf(std::string_view task_key) {
  return task_key.substr(std::min(task_key.size(), kTaskPrefixBytes));
}

std::string StoreKeyOf(std::string_view task_key, std::string_view kind) {
  std::string key(task_key.substr(0, std::min(task_key.size(), kTaskPrefixBytes)));
  key.append(kind);
  key.append(OwnKeyOf(task_key));
  return key;
}

void WriteSet::MarkUnordered(size_t begin) {
  if (begin < ops_.size()) unordered_.emplace_back(begin, ops_.size());
}

void WriteSet::SortUnordered() {
  for (const auto& [first, last] : unordered_) {
    std::sort(ops_.begin() + static_cast<std::ptrdiff_t>(first),
              ops_.begin() + static_cast<std::ptrdiff_t>(last),
              [](const Op& a, const Op& b) {
                return std::tie(a.family, a.key) < std::tie(b.family, b.key);
              });
  }
  unordered_.clear();
}

void WriteSet::RemoveTask(TaskId task) {
  // The runs' bounds would move: they stay unsorted, which is only slower.
  unordered_.clear();
  const std::string prefix = TaskPrefix(task);
  std::erase_if(ops_, [&](const Op& op) {
    if (!HoldsTasks(op.family) || !op.key.starts_with(prefix)) return false;
    bytes_ -= op.key.size() + op.value.size();
    return true;
  });
}

absl::StatusOr<std::vector<TaskId>> StoredTasks(const StateStore& store, Family family) {
  std::vector<TaskId> tasks;
  std::string from;  // the first key not yet looked at
  while (true) {
    // Reads the first key at or after `from`, then skips past its task.
    std::optional<TaskId> found;
    absl::Status status =
        store.ScanRange(family, from, "", [&](std::string_view key, std::string_view) {
          TaskId task = 0;
          if (!ParseTaskPrefix(key, &task)) {
            return absl::DataLossError(absl::StrCat("key of ", key.size(),
                                                    " bytes in the ", FamilyName(family),
                                                    " column family has no task prefix"));
          }
          found = task;
          return absl::CancelledError();  // one key is all this needs
        });
    if (!found.has_value()) {
      if (!status.ok()) return status;
      return tasks;
    }
    tasks.push_back(*found);
    from = PrefixSuccessor(TaskPrefix(*found));
    if (from.empty()) return tasks;  // the last possible task
  }
}

absl::StatusOr<std::vector<TaskId>> AllStoredTasks(const StateStore& store) {
  std::set<TaskId> tasks;
  for (Family family : kTaskFamilies) {
    absl::StatusOr<std::vector<TaskId>> stored = StoredTasks(store, family);
    if (!stored.ok()) return stored.status();
    tasks.insert(stored->begin(), stored->end());
  }
  return std::vector<TaskId>(tasks.begin(), tasks.end());
}

}  // namespace prodops::state
