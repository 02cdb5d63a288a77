#include "daemon/app/recent_id_filter.h"

#include <algorithm>

#include "daemon/window/buckets.h"

namespace prodops::app {
namespace {

// 12 bits and 8 probes per id: about 0.4% false positives for a blocked
// filter at capacity. A lookup consults every filter of the slices that
// reach the cutoff, and their false positives add up.
constexpr size_t kBitsPerId = 12;
constexpr int kProbes = 8;
constexpr size_t kBlockBits = 512;
constexpr size_t kWordsPerBlock = kBlockBits / 64;
// The first filter of the first slice; later slices start at the size the
// newest one reached. A full filter is followed by one four times larger:
// few filters (each a cache miss per lookup) while the rate is not known.
constexpr size_t kMinCapacity = 65536;
constexpr size_t kGrowth = 4;

// Calls visit(bit) for each of the kProbes bits of `hash` within its block:
// 9 bits each, from two multiplicative remixes of the hash (every input bit
// reaches their top bits). The block itself comes from the hash's upper
// half.
template <typename Visit>
void ForEachProbe(uint64_t hash, Visit visit) {
  uint64_t bits = hash * 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < kProbes; ++i) {
    if (i == 7) bits = (hash ^ (hash >> 29)) * 0xBF58476D1CE4E5B9ULL;
    visit(bits >> (64 - 9));
    bits <<= 9;
  }
}

size_t BlockOffset(uint64_t hash, uint32_t blocks) {
  return ((hash >> 32) * blocks >> 32) * kWordsPerBlock;
}

}  // namespace

RecentIdFilter::BlockedBloom::BlockedBloom(size_t capacity)
    : blocks_(static_cast<uint32_t>(BytesFor(capacity) / (kBlockBits / 8))),
      capacity_(capacity) {
  words_.assign(size_t{blocks_} * kWordsPerBlock, 0);
}

void RecentIdFilter::BlockedBloom::Add(uint64_t hash) {
  uint64_t* block = &words_[BlockOffset(hash, blocks_)];
  ForEachProbe(hash, [&](uint64_t bit) { block[bit / 64] |= uint64_t{1} << (bit % 64); });
  ++count_;
}

bool RecentIdFilter::BlockedBloom::MayContain(uint64_t hash) const {
  const uint64_t* block = &words_[BlockOffset(hash, blocks_)];
  bool all_set = true;
  ForEachProbe(hash, [&](uint64_t bit) {
    all_set = all_set && (block[bit / 64] & (uint64_t{1} << (bit % 64))) != 0;
  });
  return all_set;
}

size_t RecentIdFilter::BlockedBloom::BytesFor(size_t capacity) {
  return std::max<size_t>(1, (capacity * kBitsPerId + kBlockBits - 1) / kBlockBits) *
         (kBlockBits / 8);
}

size_t RecentIdFilter::Slice::Count() const {
  size_t count = 0;
  for (const BlockedBloom& filter : filters) count += filter.count();
  return count;
}

size_t RecentIdFilter::Slice::MemoryBytes() const {
  size_t bytes = 0;
  for (const BlockedBloom& filter : filters) bytes += filter.MemoryBytes();
  return bytes;
}

RecentIdFilter::RecentIdFilter(int64_t slice_ms, size_t max_bytes)
    : slice_ms_(std::max<int64_t>(1, slice_ms)), max_bytes_(max_bytes) {}

void RecentIdFilter::Add(uint64_t hash, int64_t occurred_ms) {
  const int64_t start = window::BucketStart(occurred_ms, slice_ms_);
  // Lookups as of a cutoff this early read the store anyway.
  if (start + slice_ms_ <= covered_from_ms_) return;
  auto it = slices_.find(start);
  size_t capacity = 0;  // of a filter to add; none if 0
  if (it == slices_.end()) {
    // Sized for as many ids as the newest slice holds: at a steady rate one
    // filter per slice.
    const size_t newest = slices_.empty() ? 0 : slices_.rbegin()->second.Count();
    capacity = std::max(kMinCapacity, newest);
  } else if (it->second.filters.back().Full()) {
    capacity = kGrowth * it->second.filters.back().capacity();
  }
  if (capacity > 0) {
    if (!MakeRoom(BlockedBloom::BytesFor(capacity), start)) return;
    it = slices_.try_emplace(start).first;
    it->second.filters.emplace_back(capacity);
    bytes_ += it->second.filters.back().MemoryBytes();
  }
  it->second.filters.back().Add(hash);
}

bool RecentIdFilter::MakeRoom(size_t bytes, int64_t start) {
  while (bytes_ + bytes > max_bytes_ && !slices_.empty()) {
    auto oldest = slices_.begin();
    covered_from_ms_ = std::max(covered_from_ms_, oldest->first + slice_ms_);
    bytes_ -= oldest->second.MemoryBytes();
    slices_.erase(oldest);
  }
  if (bytes_ + bytes > max_bytes_) {
    // Not even this one filter fits: the slice goes uncovered.
    covered_from_ms_ = std::max(covered_from_ms_, start + slice_ms_);
  }
  return start + slice_ms_ > covered_from_ms_;
}

bool RecentIdFilter::MayContain(uint64_t hash, int64_t cutoff_ms) const {
  if (cutoff_ms < covered_from_ms_) return true;  // ids before it were dropped
  // The first slice that may hold a time >= cutoff_ms is the one holding it.
  for (auto it = slices_.lower_bound(window::BucketStart(cutoff_ms, slice_ms_));
       it != slices_.end(); ++it) {
    for (const BlockedBloom& filter : it->second.filters) {
      if (filter.MayContain(hash)) return true;
    }
  }
  return false;
}

void RecentIdFilter::DropBefore(int64_t cutoff_ms) {
  const auto end = slices_.lower_bound(window::BucketStart(cutoff_ms, slice_ms_));
  for (auto it = slices_.begin(); it != end; ++it) bytes_ -= it->second.MemoryBytes();
  slices_.erase(slices_.begin(), end);
}

}  // namespace prodops::app
