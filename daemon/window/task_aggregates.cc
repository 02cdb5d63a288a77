#include "daemon/window/task_aggregates.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/window/encoding.h"
#include "daemon/window/series_maps.h"

namespace prodops::window {
namespace {

using state::Family;

constexpr char kCounterPrefix = 'c';
constexpr char kMaxPrefix = 'm';
constexpr char kCountKind = 'n';
constexpr char kDistinctKind = 'd';
constexpr int kWidthBytes = 4;
constexpr int kStartBytes = 8;
constexpr size_t kBucketKeyHeaderBytes = kWidthBytes + kStartBytes + 1;  // + kind
constexpr size_t kValueBytes = 8;  // counters, maxima and windowed counts
constexpr uint64_t kSignBit = uint64_t{1} << 63;

// For error messages; keys are binary.
std::string Escaped(std::string_view key) {
  return absl::CEscape(absl::string_view(key.data(), key.size()));
}

std::string WidthPrefix(int64_t bucket_ms) {
  std::string key;
  internal::PutFixedBigEndian(static_cast<uint64_t>(bucket_ms), kWidthBytes, &key);
  return key;
}

// Flipping the sign bit makes unsigned byte order equal signed numeric order.
void AppendBucketStart(int64_t start_ms, std::string* key) {
  internal::PutFixedBigEndian(static_cast<uint64_t>(start_ms) ^ kSignBit, kStartBytes,
                              key);
}

std::string BucketPrefix(int64_t bucket_ms, int64_t start_ms) {
  std::string key = WidthPrefix(bucket_ms);
  AppendBucketStart(start_ms, &key);
  return key;
}

std::string BucketKey(int64_t bucket_ms, int64_t start_ms, char kind,
                      const SeriesKey& series) {
  std::string key = BucketPrefix(bucket_ms, start_ms);
  key.push_back(kind);
  key.append(series);
  return key;
}

// Where a bucket key points.
struct BucketAddress {
  int64_t width;
  int64_t start_ms;
};

absl::Status CheckBucketKey(std::string_view key) {
  if (key.size() >= kBucketKeyHeaderBytes) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("window state: bucket key too short: '", Escaped(key), "'"));
}

absl::StatusOr<BucketAddress> ParseBucketAddress(std::string_view key) {
  if (absl::Status s = CheckBucketKey(key); !s.ok()) return s;
  return BucketAddress{
      static_cast<int64_t>(internal::DecodeFixedBigEndian(key, kWidthBytes)),
      static_cast<int64_t>(
          internal::DecodeFixedBigEndian(key.substr(kWidthBytes), kStartBytes) ^
          kSignBit)};
}

std::string ValueBytes(uint64_t value) {
  std::string bytes;
  internal::PutFixedBigEndian(value, kValueBytes, &bytes);
  return bytes;
}

absl::StatusOr<uint64_t> ParseValue(std::string_view key, std::string_view value) {
  if (value.size() != kValueBytes) {
    return absl::DataLossError(absl::StrCat("window state: value of key '", Escaped(key),
                                            "' has ", value.size(), " bytes, want ",
                                            kValueBytes));
  }
  return internal::DecodeFixedBigEndian(value, kValueBytes);
}

// Marks `series` dirty; true if it was not dirty yet.
bool MarkDirty(const SeriesKey& series, absl::flat_hash_map<SeriesKey, bool>* dirty) {
  return dirty->try_emplace(series, true).second;
}

}  // namespace

TaskAggregates::TaskAggregates(Options options, state::TaskId task, WindowTotals* totals)
    : options_(std::move(options)),
      layout_(options_.windows, options_.allowed_lateness_ms),
      task_(task),
      key_prefix_(state::TaskPrefix(task)),
      totals_(totals) {
  Reset();
}

void TaskAggregates::Reset() {
  buckets_.clear();
  for (const BucketLayout::Width& width : layout_.widths()) buckets_[width.bucket_ms];
  counters_.clear();
  maxima_.clear();
  dirty_counters_.clear();
  dirty_maxima_.clear();
  expire_before_.clear();
  expired_as_of_ms_.reset();
  stale_widths_.clear();
  pending_bytes_ = 0;
  resident_bytes_ = 0;
}

absl::Status TaskAggregates::Load(const state::StateStore& store) {
  Reset();
  store_ = &store;
  // Keys are parsed without the task prefix, which the scans fix.
  const size_t skip = key_prefix_.size();
  absl::Status status =
      store.Scan(Family::kCounters, key_prefix_ + kCounterPrefix,
                 [&](std::string_view key, std::string_view value) -> absl::Status {
                   key.remove_prefix(skip);
                   absl::StatusOr<uint64_t> counter = ParseValue(key, value);
                   if (!counter.ok()) return counter.status();
                   counters_[SeriesKey(key.substr(1))] = *counter;
                   return absl::OkStatus();
                 });
  if (status.ok()) {
    status =
        store.Scan(Family::kCounters, key_prefix_ + kMaxPrefix,
                   [&](std::string_view key, std::string_view value) -> absl::Status {
                     key.remove_prefix(skip);
                     absl::StatusOr<uint64_t> max = ParseValue(key, value);
                     if (!max.ok()) return max.status();
                     maxima_[SeriesKey(key.substr(1))] = static_cast<int64_t>(*max);
                     return absl::OkStatus();
                   });
  }
  if (status.ok()) {
    std::optional<BucketAddress> previous;
    status = store.Scan(
        Family::kBuckets, key_prefix_,
        [&](std::string_view key, std::string_view value) -> absl::Status {
          key.remove_prefix(skip);
          absl::StatusOr<BucketAddress> address = ParseBucketAddress(key);
          if (!address.ok()) return address.status();
          const auto by_width = buckets_.find(address->width);
          if (by_width == buckets_.end()) {
            // Keys are in order, so the keys of one width are contiguous.
            if (stale_widths_.empty() || stale_widths_.back() != address->width) {
              stale_widths_.push_back(address->width);
              pending_bytes_ += 2 * kWidthBytes + kStartBytes + 1;
            }
            return absl::OkStatus();
          }
          // Keys of one bucket are contiguous too: keep within the budget
          // as each bucket completes rather than loading everything first.
          if (previous.has_value() && (previous->width != address->width ||
                                       previous->start_ms != address->start_ms)) {
            EnforceBudget();
          }
          previous = *address;
          return LoadEntry(key, value, &by_width->second[address->start_ms]);
        });
  }
  // Half-loaded state must not be mistaken for the real one.
  if (!status.ok()) {
    Reset();
    return status;
  }
  EnforceBudget();
  return absl::OkStatus();
}

absl::Status TaskAggregates::LoadEntry(std::string_view key, std::string_view value,
                                       Bucket* bucket) {
  if (absl::Status s = CheckBucketKey(key); !s.ok()) return s;
  const char kind = key[kWidthBytes + kStartBytes];
  const SeriesKey series(key.substr(kBucketKeyHeaderBytes));
  bucket->bytes_stale = true;
  if (kind == kCountKind) {
    absl::StatusOr<uint64_t> count = ParseValue(key, value);
    if (!count.ok()) return count.status();
    bucket->counts[series] = *count;
    return absl::OkStatus();
  }
  if (kind == kDistinctKind) {
    absl::StatusOr<HyperLogLog> sketch = HyperLogLog::Parse(value);
    if (!sketch.ok()) {
      return absl::DataLossError(absl::StrCat("window state: bucket key '", Escaped(key),
                                              "': ", sketch.status().message()));
    }
    bucket->distincts[series] = *std::move(sketch);
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("window state: unknown bucket kind in key '", Escaped(key), "'"));
}

absl::StatusOr<TaskAggregates::Bucket> TaskAggregates::ReadBucket(
    int64_t width, int64_t start_ms, bool counts_only) const {
  ++store_reads_;
  Bucket bucket;
  std::string prefix = key_prefix_ + BucketPrefix(width, start_ms);
  if (counts_only) prefix.push_back(kCountKind);
  absl::Status status = store_->Scan(
      Family::kBuckets, prefix, [&](std::string_view key, std::string_view value) {
        return LoadEntry(key.substr(key_prefix_.size()), value, &bucket);
      });
  if (!status.ok()) {
    ++read_errors_;
    Log(LogLevel::kError,
        absl::StrCat("window state: cannot read back the bucket of width ", width,
                     " ms starting at ", start_ms, " ms: ", status.message()));
    return status;
  }
  return bucket;
}

void TaskAggregates::VisitBuckets(
    int64_t width, const BucketRange& range, bool counts_only,
    const std::function<void(int64_t start_ms, const Bucket&)>& visit) const {
  const auto by_width = buckets_.find(width);
  if (by_width == buckets_.end()) return;  // no configured window has this width
  const BucketsByStart& by_start = by_width->second;
  for (auto it = by_start.lower_bound(range.first_start_ms);
       it != by_start.end() && it->first <= range.last_start_ms; ++it) {
    if (it->second.resident) {
      visit(it->first, it->second);
      continue;
    }
    // A failed read is logged and counted; the bucket reads as empty rather
    // than failing the whole exposition.
    absl::StatusOr<Bucket> read = ReadBucket(width, it->first, counts_only);
    if (read.ok()) visit(it->first, *read);
  }
}

void TaskAggregates::AddCounter(const SeriesKey& series, uint64_t delta) {
  counters_[series] += delta;
  if (MarkDirty(series, &dirty_counters_))
    pending_bytes_ += key_prefix_.size() + 1 + series.size() + kValueBytes;
}

void TaskAggregates::UpdateMax(const SeriesKey& series, int64_t value) {
  const auto [it, inserted] = maxima_.try_emplace(series, value);
  if (!inserted) {
    if (value <= it->second) return;  // unchanged: nothing to write
    it->second = value;
  }
  if (MarkDirty(series, &dirty_maxima_))
    pending_bytes_ += key_prefix_.size() + 1 + series.size() + kValueBytes;
}

int64_t TaskAggregates::HeldAfterMs(int64_t bucket_ms, int64_t as_of_ms) const {
  int64_t expired_as_of_ms = as_of_ms;
  if (expired_as_of_ms_.has_value()) {
    expired_as_of_ms = std::min(expired_as_of_ms, *expired_as_of_ms_);
  } else if (const auto by_width = buckets_.find(bucket_ms);
             by_width != buckets_.end() && !by_width->second.empty()) {
    // Nothing expired yet: every bucket is still there, back to the oldest.
    expired_as_of_ms = std::min(expired_as_of_ms, by_width->second.begin()->first);
  }
  return expired_as_of_ms - layout_.RetentionMs(bucket_ms);
}

bool TaskAggregates::InRetention(int64_t event_time_ms, int64_t as_of_ms) const {
  return InRetentionOf(layout_.RetentionMs(), event_time_ms, as_of_ms);
}

bool TaskAggregates::InRetentionOf(int64_t retention_ms, int64_t event_time_ms,
                                   int64_t as_of_ms) const {
  const int64_t as_of_or_expired_ms =
      std::max(as_of_ms, expired_as_of_ms_.value_or(as_of_ms));
  return event_time_ms > as_of_or_expired_ms - retention_ms;
}

TaskAggregates::BucketRefs TaskAggregates::BucketsFor(int64_t event_time_ms,
                                                      int64_t as_of_ms) {
  BucketRefs buckets;
  for (const BucketLayout::Width& width : layout_.widths()) {
    // Too old for the windows of this width, though not for longer ones.
    if (!InRetentionOf(width.retention_ms, event_time_ms, as_of_ms)) continue;
    const int64_t start_ms = BucketStart(event_time_ms, width.bucket_ms);
    Bucket& bucket = buckets_[width.bucket_ms][start_ms];
    if (!bucket.resident) {
      // A late event for a dropped bucket: the update needs its contents.
      absl::StatusOr<Bucket> read =
          ReadBucket(width.bucket_ms, start_ms, /*counts_only=*/false);
      if (!read.ok()) return {};
      bucket = *std::move(read);
    }
    bucket.bytes_stale = true;
    buckets.push_back({width.bucket_ms, start_ms, &bucket});
  }
  return buckets;
}

bool TaskAggregates::AddWindowedCount(const SeriesKey& series, int64_t event_time_ms,
                                      uint64_t delta, int64_t as_of_ms) {
  if (!InRetention(event_time_ms, as_of_ms)) return false;
  const auto buckets = BucketsFor(event_time_ms, as_of_ms);
  if (buckets.empty()) return false;
  for (const BucketRef& ref : buckets) {
    ref.bucket->counts[series] += delta;
    if (MarkDirty(series, &ref.bucket->dirty_counts)) {
      pending_bytes_ +=
          key_prefix_.size() + kBucketKeyHeaderBytes + series.size() + kValueBytes;
    }
    for (ClosedTotals* totals : totals_->Covering(ref.width, ref.start_ms)) {
      totals->counts[series] += delta;
    }
  }
  return true;
}

bool TaskAggregates::AddWindowedDistinct(const SeriesKey& series, int64_t event_time_ms,
                                         uint64_t item_hash, int64_t as_of_ms) {
  if (!InRetention(event_time_ms, as_of_ms)) return false;
  const auto buckets = BucketsFor(event_time_ms, as_of_ms);
  if (buckets.empty()) return false;
  for (const BucketRef& ref : buckets) {
    // A union's registers are the maxima of its parts', so adding to the
    // totals equals rebuilding them.
    for (ClosedTotals* totals : totals_->Covering(ref.width, ref.start_ms)) {
      totals->distincts[series].Add(item_hash);
    }
    Bucket* bucket = ref.bucket;
    HyperLogLog& sketch = bucket->distincts[series];
    const size_t bytes_before = sketch.MemoryBytes();
    sketch.Add(item_hash);
    // The sketch is written whole; its memory size approximates its
    // serialized size from above.
    const size_t bytes_after = sketch.MemoryBytes();
    if (MarkDirty(series, &bucket->dirty_distincts)) {
      pending_bytes_ +=
          key_prefix_.size() + kBucketKeyHeaderBytes + series.size() + bytes_after;
    } else if (bytes_after > bytes_before) {
      pending_bytes_ += bytes_after - bytes_before;
    }
  }
  return true;
}

void TaskAggregates::ForEachCounter(
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  for (const auto& [series, value] : counters_) visit(series, value);
}

void TaskAggregates::ForEachMax(
    const std::function<void(const SeriesKey&, int64_t)>& visit) const {
  for (const auto& [series, value] : maxima_) visit(series, value);
}

bool TaskAggregates::AnyBucketInWindow(const WindowSpec& window, int64_t as_of_ms) const {
  const auto by_width = buckets_.find(window.bucket_ms);
  if (by_width == buckets_.end()) return false;
  // Placeholders count: they stand for buckets with data in the store.
  const BucketRange range = TrailingBuckets(as_of_ms, window);
  const auto it = by_width->second.lower_bound(range.first_start_ms);
  return it != by_width->second.end() && it->first <= range.last_start_ms;
}

bool TaskAggregates::AddClosedTo(int64_t width, const BucketRange& closed,
                                 ClosedTotals* into) const {
  const uint64_t errors_before = read_errors_;
  VisitBuckets(width, closed, /*counts_only=*/false,
               [into](int64_t, const Bucket& bucket) {
                 for (const auto& [series, count] : bucket.counts) {
                   internal::AddInto(series, count, &into->counts);
                 }
                 for (const auto& [series, sketch] : bucket.distincts) {
                   internal::AddInto(series, sketch, &into->distincts);
                 }
               });
  return read_errors_ == errors_before;
}

void TaskAggregates::ForEachBucketCount(
    int64_t bucket_ms, const BucketRange& range,
    const std::function<void(int64_t start_ms, const SeriesKey&, uint64_t)>& visit)
    const {
  VisitBuckets(bucket_ms, range, /*counts_only=*/true,
               [&visit](int64_t start_ms, const Bucket& bucket) {
                 for (const auto& [series, count] : bucket.counts)
                   visit(start_ms, series, count);
               });
}

void TaskAggregates::ExpireBefore(int64_t as_of_ms) {
  if (expired_as_of_ms_.has_value() && as_of_ms <= *expired_as_of_ms_) return;
  for (const auto& [width, retention_ms] : layout_.widths()) {
    // The bucket holding the cutoff ends after it; all before it end at or
    // before the cutoff.
    const int64_t first_kept_ms = BucketStart(as_of_ms - retention_ms, width);
    BucketsByStart& by_start = buckets_[width];
    const auto first_kept = by_start.lower_bound(first_kept_ms);
    for (auto it = by_start.begin(); it != first_kept; ++it)
      resident_bytes_ -= it->second.bytes;
    by_start.erase(by_start.begin(), first_kept);
    totals_->ExpireBefore(width, first_kept_ms);
    // Without a previous cutoff (fresh start) the store may hold anything
    // older, so the first call always deletes.
    if (!expired_as_of_ms_.has_value() ||
        first_kept_ms > BucketStart(*expired_as_of_ms_ - retention_ms, width)) {
      expire_before_[width] = first_kept_ms;
      pending_bytes_ += 2 * kWidthBytes + kStartBytes;
    }
  }
  expired_as_of_ms_ = as_of_ms;
}

void TaskAggregates::CollectChanges(state::WriteSet* changes) {
  for (int64_t width : stale_widths_) {
    // Every key of the width sorts before this: the kind byte is < 0xff.
    const std::string begin = key_prefix_ + WidthPrefix(width);
    changes->DeleteRange(Family::kBuckets, begin,
                         begin + std::string(kStartBytes + 1, '\xff'));
  }
  stale_widths_.clear();
  for (const auto& [width, unused] : layout_.widths()) {
    const auto expired = expire_before_.find(width);
    if (expired == expire_before_.end()) continue;
    // The bare prefix sorts before every key of the width.
    std::string begin = key_prefix_ + WidthPrefix(width);
    std::string end = begin;
    AppendBucketStart(expired->second, &end);
    changes->DeleteRange(Family::kBuckets, std::move(begin), std::move(end));
  }
  expire_before_.clear();
  for (const auto& [series, unused] : dirty_counters_) {
    changes->Put(Family::kCounters, key_prefix_ + kCounterPrefix + series,
                 ValueBytes(counters_[series]));
  }
  dirty_counters_.clear();
  for (const auto& [series, unused] : dirty_maxima_) {
    changes->Put(Family::kCounters, key_prefix_ + kMaxPrefix + series,
                 ValueBytes(static_cast<uint64_t>(maxima_[series])));
  }
  dirty_maxima_.clear();
  CollectBucketChanges(changes);
  pending_bytes_ = 0;
}

void TaskAggregates::CollectBucketChanges(state::WriteSet* changes) {
  for (auto& [width, by_start] : buckets_) {
    for (auto& [start_ms, bucket] : by_start) {
      for (const auto& [series, unused] : bucket.dirty_counts) {
        changes->Put(Family::kBuckets,
                     key_prefix_ + BucketKey(width, start_ms, kCountKind, series),
                     ValueBytes(bucket.counts[series]));
      }
      bucket.dirty_counts.clear();
      for (const auto& [series, unused] : bucket.dirty_distincts) {
        changes->Put(Family::kBuckets,
                     key_prefix_ + BucketKey(width, start_ms, kDistinctKind, series),
                     bucket.distincts[series].Serialize());
      }
      bucket.dirty_distincts.clear();
    }
  }
}

void TaskAggregates::Written() { EnforceBudget(); }

size_t TaskAggregates::BucketBytes(const Bucket& bucket) {
  return internal::MapBytes(bucket.counts) + internal::MapBytes(bucket.distincts) +
         internal::MapBytes(bucket.dirty_counts) +
         internal::MapBytes(bucket.dirty_distincts);
}

void TaskAggregates::EnforceBudget() {
  for (auto& [width, by_start] : buckets_) {
    for (auto& [start_ms, bucket] : by_start) {
      if (!bucket.resident || !bucket.bytes_stale) continue;
      const size_t bytes = BucketBytes(bucket);
      resident_bytes_ += bytes - bucket.bytes;
      bucket.bytes = bytes;
      bucket.bytes_stale = false;
    }
  }
  const size_t budget = options_.bucket_cache_bytes;
  if (budget == 0 || store_ == nullptr || resident_bytes_ <= budget) return;
  // Oldest first by end: the buckets least likely to get late events. The
  // newest of each width is where events land, so it stays.
  struct Candidate {
    int64_t end_ms;
    Bucket* bucket;
  };
  std::vector<Candidate> candidates;
  for (auto& [width, by_start] : buckets_) {
    if (by_start.empty()) continue;
    const auto newest = std::prev(by_start.end());
    for (auto it = by_start.begin(); it != newest; ++it) {
      Bucket& bucket = it->second;
      const bool clean = bucket.dirty_counts.empty() && bucket.dirty_distincts.empty();
      if (bucket.resident && clean) candidates.push_back({it->first + width, &bucket});
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.end_ms < b.end_ms; });
  for (const Candidate& candidate : candidates) {
    if (resident_bytes_ <= budget) break;
    resident_bytes_ -= candidate.bucket->bytes;
    Bucket placeholder;
    placeholder.resident = false;
    placeholder.bytes_stale = false;
    *candidate.bucket = std::move(placeholder);
    ++evictions_;
  }
}

TaskAggregates::CacheStats TaskAggregates::cache_stats() const {
  CacheStats stats;
  stats.bucket_bytes = resident_bytes_;
  stats.evictions = evictions_;
  stats.store_reads = store_reads_;
  stats.read_errors = read_errors_;
  return stats;
}

size_t TaskAggregates::MemoryBytes() const {
  // std::map node: the value plus three pointers and a color.
  constexpr size_t kNodeOverhead = 4 * sizeof(void*);
  size_t bytes = internal::MapBytes(counters_) + internal::MapBytes(maxima_) +
                 internal::MapBytes(dirty_counters_) + internal::MapBytes(dirty_maxima_);
  for (const auto& [width, by_start] : buckets_) {
    for (const auto& [start_ms, bucket] : by_start) {
      bytes +=
          kNodeOverhead + sizeof(std::pair<const int64_t, Bucket>) + BucketBytes(bucket);
    }
  }
  return bytes;
}

}  // namespace prodops::window
