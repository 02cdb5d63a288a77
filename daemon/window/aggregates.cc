#include "daemon/window/aggregates.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/window/encoding.h"

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

// Options come from a validated config; anything else is a programming error.
void CheckOptions(const Aggregates::Options& options) {
  std::string problem;
  if (options.windows.empty()) problem = "no windows";
  if (options.allowed_lateness_ms < 0) problem = "negative allowed lateness";
  for (const WindowSpec& window : options.windows) {
    if (window.bucket_ms <= 0 ||
        window.bucket_ms > std::numeric_limits<uint32_t>::max() ||
        window.length_ms <= 0 || window.length_ms % window.bucket_ms != 0) {
      problem = absl::StrCat("window '", window.name, "' has length ", window.length_ms,
                             " ms and bucket ", window.bucket_ms, " ms");
    }
  }
  if (problem.empty()) return;
  Log(LogLevel::kError, absl::StrCat("window::Aggregates: invalid options: ", problem));
  std::abort();
}

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

std::string BucketKey(int64_t bucket_ms, int64_t start_ms, char kind,
                      const SeriesKey& series) {
  std::string key = WidthPrefix(bucket_ms);
  AppendBucketStart(start_ms, &key);
  key.push_back(kind);
  key.append(series);
  return key;
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

size_t StringHeapBytes(const std::string& s) {
  static const size_t kInlineCapacity = std::string().capacity();
  return s.capacity() > kInlineCapacity ? s.capacity() + 1 : 0;
}

size_t ValueHeapBytes(uint64_t) { return 0; }
size_t ValueHeapBytes(int64_t) { return 0; }
size_t ValueHeapBytes(bool) { return 0; }
size_t ValueHeapBytes(const HyperLogLog& sketch) { return sketch.MemoryBytes(); }

template <typename Value>
size_t MapBytes(const absl::flat_hash_map<SeriesKey, Value>& map) {
  // One control byte per slot besides the slot itself.
  size_t bytes = map.capacity() * (sizeof(std::pair<const SeriesKey, Value>) + 1);
  for (const auto& [key, value] : map)
    bytes += StringHeapBytes(key) + ValueHeapBytes(value);
  return bytes;
}

}  // namespace

Aggregates::Aggregates(Options options) : options_(std::move(options)) {
  CheckOptions(options_);
  int64_t longest_ms = 0;
  for (const WindowSpec& window : options_.windows) {
    longest_ms = std::max(longest_ms, window.length_ms);
    bucket_widths_.push_back(window.bucket_ms);
  }
  retention_ms_ = longest_ms + options_.allowed_lateness_ms;
  std::sort(bucket_widths_.begin(), bucket_widths_.end());
  bucket_widths_.erase(std::unique(bucket_widths_.begin(), bucket_widths_.end()),
                       bucket_widths_.end());
  Reset();
}

void Aggregates::Reset() {
  buckets_.clear();
  for (int64_t width : bucket_widths_) buckets_[width];
  counters_.clear();
  maxima_.clear();
  dirty_counters_.clear();
  dirty_maxima_.clear();
  expire_before_.clear();
  expired_cutoff_ms_.reset();
  stale_widths_.clear();
  pending_bytes_ = 0;
}

absl::Status Aggregates::Load(const state::StateStore& store) {
  Reset();
  absl::Status status =
      store.Scan(Family::kCounters, std::string_view(&kCounterPrefix, 1),
                 [this](std::string_view key, std::string_view value) -> absl::Status {
                   absl::StatusOr<uint64_t> counter = ParseValue(key, value);
                   if (!counter.ok()) return counter.status();
                   counters_[SeriesKey(key.substr(1))] = *counter;
                   return absl::OkStatus();
                 });
  if (status.ok()) {
    status =
        store.Scan(Family::kCounters, std::string_view(&kMaxPrefix, 1),
                   [this](std::string_view key, std::string_view value) -> absl::Status {
                     absl::StatusOr<uint64_t> max = ParseValue(key, value);
                     if (!max.ok()) return max.status();
                     maxima_[SeriesKey(key.substr(1))] = static_cast<int64_t>(*max);
                     return absl::OkStatus();
                   });
  }
  if (status.ok()) {
    status = store.Scan(Family::kBuckets, "",
                        [this](std::string_view key, std::string_view value) {
                          return LoadBucket(key, value);
                        });
  }
  // Half-loaded state must not be mistaken for the real one.
  if (!status.ok()) Reset();
  return status;
}

absl::Status Aggregates::LoadBucket(std::string_view key, std::string_view value) {
  if (key.size() < kBucketKeyHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("window state: bucket key too short: '", Escaped(key), "'"));
  }
  const auto width =
      static_cast<int64_t>(internal::DecodeFixedBigEndian(key, kWidthBytes));
  const auto start_ms = static_cast<int64_t>(
      internal::DecodeFixedBigEndian(key.substr(kWidthBytes), kStartBytes) ^ kSignBit);
  const char kind = key[kWidthBytes + kStartBytes];
  const SeriesKey series(key.substr(kBucketKeyHeaderBytes));
  const auto by_width = buckets_.find(width);
  if (by_width == buckets_.end()) {
    // Keys are in order, so the keys of one width are contiguous.
    if (stale_widths_.empty() || stale_widths_.back() != width) {
      stale_widths_.push_back(width);
      pending_bytes_ += 2 * kWidthBytes + kStartBytes + 1;
    }
    return absl::OkStatus();
  }
  Bucket& bucket = by_width->second[start_ms];
  if (kind == kCountKind) {
    absl::StatusOr<uint64_t> count = ParseValue(key, value);
    if (!count.ok()) return count.status();
    bucket.counts[series] = *count;
    return absl::OkStatus();
  }
  if (kind == kDistinctKind) {
    absl::StatusOr<HyperLogLog> sketch = HyperLogLog::Parse(value);
    if (!sketch.ok()) {
      return absl::DataLossError(absl::StrCat("window state: bucket key '", Escaped(key),
                                              "': ", sketch.status().message()));
    }
    bucket.distincts[series] = *std::move(sketch);
    return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("window state: unknown bucket kind in key '", Escaped(key), "'"));
}

void Aggregates::AddCounter(const SeriesKey& series, uint64_t delta) {
  counters_[series] += delta;
  if (MarkDirty(series, &dirty_counters_))
    pending_bytes_ += 1 + series.size() + kValueBytes;
}

void Aggregates::UpdateMax(const SeriesKey& series, int64_t value) {
  const auto [it, inserted] = maxima_.try_emplace(series, value);
  if (!inserted) {
    if (value <= it->second) return;  // unchanged: nothing to write
    it->second = value;
  }
  if (MarkDirty(series, &dirty_maxima_))
    pending_bytes_ += 1 + series.size() + kValueBytes;
}

bool Aggregates::InRetention(int64_t event_time_ms, int64_t as_of_ms) const {
  int64_t cutoff_ms = as_of_ms - retention_ms_;
  if (expired_cutoff_ms_.has_value())
    cutoff_ms = std::max(cutoff_ms, *expired_cutoff_ms_);
  return event_time_ms > cutoff_ms;
}

std::vector<Aggregates::Bucket*> Aggregates::BucketsFor(int64_t event_time_ms) {
  std::vector<Bucket*> buckets;
  buckets.reserve(bucket_widths_.size());
  for (int64_t width : bucket_widths_) {
    buckets.push_back(&buckets_[width][BucketStart(event_time_ms, width)]);
  }
  return buckets;
}

bool Aggregates::AddWindowedCount(const SeriesKey& series, int64_t event_time_ms,
                                  uint64_t delta, int64_t as_of_ms) {
  if (!InRetention(event_time_ms, as_of_ms)) return false;
  for (Bucket* bucket : BucketsFor(event_time_ms)) {
    bucket->counts[series] += delta;
    if (MarkDirty(series, &bucket->dirty_counts)) {
      pending_bytes_ += kBucketKeyHeaderBytes + series.size() + kValueBytes;
    }
  }
  return true;
}

bool Aggregates::AddWindowedDistinct(const SeriesKey& series, int64_t event_time_ms,
                                     uint64_t item_hash, int64_t as_of_ms) {
  if (!InRetention(event_time_ms, as_of_ms)) return false;
  for (Bucket* bucket : BucketsFor(event_time_ms)) {
    HyperLogLog& sketch = bucket->distincts[series];
    const size_t bytes_before = sketch.MemoryBytes();
    sketch.Add(item_hash);
    // The sketch is written whole; its memory size approximates its
    // serialized size from above.
    const size_t bytes_after = sketch.MemoryBytes();
    if (MarkDirty(series, &bucket->dirty_distincts)) {
      pending_bytes_ += kBucketKeyHeaderBytes + series.size() + bytes_after;
    } else if (bytes_after > bytes_before) {
      pending_bytes_ += bytes_after - bytes_before;
    }
  }
  return true;
}

void Aggregates::ForEachCounter(
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  for (const auto& [series, value] : counters_) visit(series, value);
}

void Aggregates::ForEachMax(
    const std::function<void(const SeriesKey&, int64_t)>& visit) const {
  for (const auto& [series, value] : maxima_) visit(series, value);
}

void Aggregates::ForEachBucketInWindow(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const Bucket&)>& visit) const {
  const auto by_width = buckets_.find(window.bucket_ms);
  if (by_width == buckets_.end()) return;  // no configured window has this width
  const BucketRange range = TrailingBuckets(as_of_ms, window);
  const BucketsByStart& by_start = by_width->second;
  for (auto it = by_start.lower_bound(range.first_start_ms);
       it != by_start.end() && it->first <= range.last_start_ms; ++it) {
    visit(it->second);
  }
}

bool Aggregates::AnyBucketInWindow(const WindowSpec& window, int64_t as_of_ms) const {
  bool any = false;
  ForEachBucketInWindow(window, as_of_ms, [&any](const Bucket&) { any = true; });
  return any;
}

void Aggregates::ForEachWindowedCount(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, uint64_t)>& visit) const {
  struct Sum {
    const SeriesKey* series;
    uint64_t value;
  };
  // Keyed by views of the buckets' keys, which outlive this call.
  absl::flat_hash_map<std::string_view, Sum> sums;
  ForEachBucketInWindow(window, as_of_ms, [&sums](const Bucket& bucket) {
    for (const auto& [series, count] : bucket.counts) {
      sums.try_emplace(series, Sum{&series, 0}).first->second.value += count;
    }
  });
  for (const auto& [unused, sum] : sums) visit(*sum.series, sum.value);
}

void Aggregates::ForEachBucketCount(
    int64_t bucket_ms, const BucketRange& range,
    const std::function<void(int64_t start_ms, const SeriesKey&, uint64_t)>& visit)
    const {
  const auto by_width = buckets_.find(bucket_ms);
  if (by_width == buckets_.end()) return;
  const BucketsByStart& by_start = by_width->second;
  for (auto it = by_start.lower_bound(range.first_start_ms);
       it != by_start.end() && it->first <= range.last_start_ms; ++it) {
    for (const auto& [series, count] : it->second.counts) visit(it->first, series, count);
  }
}

void Aggregates::ForEachWindowedDistinct(
    const WindowSpec& window, int64_t as_of_ms,
    const std::function<void(const SeriesKey&, double estimate)>& visit) const {
  struct Sketches {
    const SeriesKey* series;
    std::vector<const HyperLogLog*> parts;
  };
  absl::flat_hash_map<std::string_view, Sketches> by_series;
  ForEachBucketInWindow(window, as_of_ms, [&by_series](const Bucket& bucket) {
    for (const auto& [series, sketch] : bucket.distincts) {
      by_series.try_emplace(series, Sketches{&series, {}})
          .first->second.parts.push_back(&sketch);
    }
  });
  for (const auto& [unused, sketches] : by_series) {
    // Most series of a short window live in one bucket: estimate it in place
    // rather than copying a dense sketch to merge into.
    if (sketches.parts.size() == 1) {
      visit(*sketches.series, sketches.parts.front()->Estimate());
      continue;
    }
    HyperLogLog merged = *sketches.parts.front();
    for (size_t i = 1; i < sketches.parts.size(); ++i) merged.Merge(*sketches.parts[i]);
    visit(*sketches.series, merged.Estimate());
  }
}

void Aggregates::ExpireBefore(int64_t as_of_ms) {
  const int64_t cutoff_ms = as_of_ms - retention_ms_;
  if (expired_cutoff_ms_.has_value() && cutoff_ms <= *expired_cutoff_ms_) return;
  for (int64_t width : bucket_widths_) {
    // The bucket holding the cutoff ends after it; all before it end at or
    // before the cutoff.
    const int64_t first_kept_ms = BucketStart(cutoff_ms, width);
    BucketsByStart& by_start = buckets_[width];
    by_start.erase(by_start.begin(), by_start.lower_bound(first_kept_ms));
    // Without a previous cutoff (fresh start) the store may hold anything
    // older, so the first call always deletes.
    if (!expired_cutoff_ms_.has_value() ||
        first_kept_ms > BucketStart(*expired_cutoff_ms_, width)) {
      expire_before_[width] = first_kept_ms;
      pending_bytes_ += 2 * kWidthBytes + kStartBytes;
    }
  }
  expired_cutoff_ms_ = cutoff_ms;
}

void Aggregates::CollectChanges(state::WriteSet* changes) {
  for (int64_t width : stale_widths_) {
    // Every key of the width sorts before this: the kind byte is < 0xff.
    changes->DeleteRange(Family::kBuckets, WidthPrefix(width),
                         WidthPrefix(width) + std::string(kStartBytes + 1, '\xff'));
  }
  stale_widths_.clear();
  for (int64_t width : bucket_widths_) {
    const auto expired = expire_before_.find(width);
    if (expired == expire_before_.end()) continue;
    // The bare prefix sorts before every key of the width.
    std::string end = WidthPrefix(width);
    AppendBucketStart(expired->second, &end);
    changes->DeleteRange(Family::kBuckets, WidthPrefix(width), std::move(end));
  }
  expire_before_.clear();
  for (const auto& [series, unused] : dirty_counters_) {
    changes->Put(Family::kCounters, kCounterPrefix + series,
                 ValueBytes(counters_[series]));
  }
  dirty_counters_.clear();
  for (const auto& [series, unused] : dirty_maxima_) {
    changes->Put(Family::kCounters, kMaxPrefix + series,
                 ValueBytes(static_cast<uint64_t>(maxima_[series])));
  }
  dirty_maxima_.clear();
  CollectBucketChanges(changes);
  pending_bytes_ = 0;
}

void Aggregates::CollectBucketChanges(state::WriteSet* changes) {
  for (auto& [width, by_start] : buckets_) {
    for (auto& [start_ms, bucket] : by_start) {
      for (const auto& [series, unused] : bucket.dirty_counts) {
        changes->Put(Family::kBuckets, BucketKey(width, start_ms, kCountKind, series),
                     ValueBytes(bucket.counts[series]));
      }
      bucket.dirty_counts.clear();
      for (const auto& [series, unused] : bucket.dirty_distincts) {
        changes->Put(Family::kBuckets, BucketKey(width, start_ms, kDistinctKind, series),
                     bucket.distincts[series].Serialize());
      }
      bucket.dirty_distincts.clear();
    }
  }
}

size_t Aggregates::MemoryBytes() const {
  // std::map node: the value plus three pointers and a color.
  constexpr size_t kNodeOverhead = 4 * sizeof(void*);
  size_t bytes = MapBytes(counters_) + MapBytes(maxima_) + MapBytes(dirty_counters_) +
                 MapBytes(dirty_maxima_);
  for (const auto& [width, by_start] : buckets_) {
    for (const auto& [start_ms, bucket] : by_start) {
      bytes += kNodeOverhead + sizeof(std::pair<const int64_t, Bucket>) +
               MapBytes(bucket.counts) + MapBytes(bucket.distincts) +
               MapBytes(bucket.dirty_counts) + MapBytes(bucket.dirty_distincts);
    }
  }
  return bytes;
}

}  // namespace prodops::window
