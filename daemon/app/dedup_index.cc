#include "daemon/app/dedup_index.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/common/big_endian.h"
#include "daemon/common/log.h"
#include "daemon/window/hll.h"

namespace prodops::app {
namespace {

std::string TimeValue(int64_t ms) {
  std::string value;
  PutFixedBigEndian(static_cast<uint64_t>(ms), 8, &value);
  return value;
}

// The leading big-endian int64 of a stored value; nullopt if it is shorter.
std::optional<int64_t> ParseTime(std::string_view value) {
  if (value.size() < 8) return std::nullopt;
  return static_cast<int64_t>(DecodeFixedBigEndian(value, 8));
}

// Rough heap cost of one pending id (key bytes, value, table slot).
size_t EntryBytes(std::string_view id) { return id.size() + 48; }

}  // namespace

// Four slices per horizon: the filter holds at most 5/4 of the ids within
// the horizon, and a lookup consults about five filters.
DedupIndex::DedupIndex(int64_t horizon_ms, state::StateStore* store, size_t filter_bytes)
    : horizon_ms_(horizon_ms), store_(store), filter_(horizon_ms / 4, filter_bytes) {}

absl::Status DedupIndex::Load() {
  Open();
  absl::StatusOr<std::vector<state::TaskId>> tasks =
      state::StoredTasks(*store_, state::Family::kDedup);
  if (!tasks.ok()) return tasks.status();
  for (state::TaskId task : *tasks) {
    if (absl::Status s = LoadTask(task); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void DedupIndex::Open() {
  // Holding no task, the filter knows every id held.
  filter_complete_ = true;
}

absl::Status DedupIndex::LoadTask(state::TaskId task) {
  size_t ids = 0;
  absl::Status s =
      store_->Scan(state::Family::kDedup, state::TaskPrefix(task),
                   [&](std::string_view key, std::string_view value) {
                     // A malformed time reads as absent in SeenBefore too.
                     if (const std::optional<int64_t> occurred_ms = ParseTime(value)) {
                       filter_.Add(window::HashItem(state::OwnKeyOf(key)), *occurred_ms);
                       ++ids;
                     }
                     return absl::OkStatus();
                   });
  if (!s.ok()) return s;
  HoldTask(task);
  if (ids > 0) {  // say what the scan cost in memory
    Log(LogLevel::kInfo,
        absl::StrCat("dedup index: ", ids, " stored ids of task ", task,
                     "; the filter has ", filter_.MemoryBytes() >> 10, " KiB"));
  }
  return absl::OkStatus();
}

void DedupIndex::HoldTask(state::TaskId task) {
  const auto at = std::lower_bound(tasks_.begin(), tasks_.end(), task);
  if (at == tasks_.end() || *at != task) tasks_.insert(at, task);
}

void DedupIndex::DropTask(state::TaskId task) {
  // The filter keeps the task's ids: a false positive costs a read.
  tasks_.erase(std::remove(tasks_.begin(), tasks_.end(), task), tasks_.end());
  for (auto [ids, bytes] : {std::pair{&pending_, &pending_bytes_},
                            std::pair{&collected_, &collected_bytes_}}) {
    for (auto it = ids->begin(); it != ids->end();) {
      if (it->second.task == task) {
        *bytes -= std::min(*bytes, EntryBytes(it->first));
        ids->erase(it++);
      } else {
        ++it;
      }
    }
  }
}

int64_t DedupIndex::Cutoff(int64_t watermark_ms) const {
  return watermark_ms < std::numeric_limits<int64_t>::min() + horizon_ms_
             ? std::numeric_limits<int64_t>::min()
             : watermark_ms - horizon_ms_;
}

DedupIndex::IdTimes::value_type* DedupIndex::FindInMemory(std::string_view id) {
  // Debian's abseil has its own string_view type for heterogeneous lookup.
  const absl::string_view key(id.data(), id.size());
  if (auto it = pending_.find(key); it != pending_.end()) return &*it;
  if (auto it = collected_.find(key); it != collected_.end()) return &*it;
  return nullptr;
}

bool DedupIndex::StoredSince(std::string_view id, int64_t cutoff) {
  ++store_reads_;
  for (state::TaskId task : tasks_) {
    absl::StatusOr<std::string> stored =
        store_->Get(state::Family::kDedup, state::TaskKey(task, id));
    if (stored.ok()) {
      const std::optional<int64_t> first = ParseTime(*stored);
      if (first.has_value() && *first >= cutoff) return true;
    } else if (!absl::IsNotFound(stored.status())) {
      // Applying the event risks counting it twice; dropping it risks
      // losing it. A store that cannot be read fails the next write too, so
      // the daemon reports not-ready; meanwhile, keep the event.
      if (read_errors_++ % 1000 == 0) {
        Log(LogLevel::kError,
            absl::StrCat("cannot read the dedup index: ", stored.status().message()));
      }
    }
  }
  return false;
}

bool DedupIndex::SeenBefore(state::TaskId task, std::string_view event_id,
                            int64_t occurred_ms, int64_t watermark_ms) {
  const int64_t cutoff = Cutoff(watermark_ms);
  const uint64_t hash = window::HashItem(event_id);
  if (const IdTimes::value_type* entry = FindInMemory(event_id); entry != nullptr) {
    if (entry->second.occurred_ms >= cutoff) return true;
    // The earlier one is forgotten: this one counts, and replaces it.
  } else if (!filter_complete_ || filter_.MayContain(hash, cutoff)) {
    if (StoredSince(event_id, cutoff)) return true;
  }
  auto [it, inserted] =
      pending_.insert_or_assign(std::string(event_id), Accepted{occurred_ms, task});
  if (inserted) pending_bytes_ += EntryBytes(event_id);
  filter_.Add(hash, occurred_ms);
  return false;
}

void DedupIndex::CollectChanges(int64_t watermark_ms, state::WriteSet* changes) {
  // One key per id: the writer thread puts them in key order (WriteSet::
  // SortUnordered).
  const size_t first = changes->size();
  for (const auto& [id, accepted] : pending_) {
    changes->Put(state::Family::kDedup, state::TaskKey(accepted.task, id),
                 TimeValue(accepted.occurred_ms));
    // Later lookups must look in this task's ids too.
    HoldTask(accepted.task);
  }
  changes->MarkUnordered(first);
  if (collected_.empty()) {
    // The usual case (the previous write succeeded): hand the table over
    // rather than copying every id.
    std::swap(collected_, pending_);
  } else {
    for (auto& [id, accepted] : pending_) collected_.insert_or_assign(id, accepted);
  }
  pending_.clear();
  collected_bytes_ += std::exchange(pending_bytes_, 0);
  const int64_t cutoff = Cutoff(watermark_ms);
  store_->SetDedupCutoff(cutoff);
  filter_.DropBefore(cutoff);
}

void DedupIndex::Written() {
  collected_.clear();
  collected_bytes_ = 0;
}

}  // namespace prodops::app
