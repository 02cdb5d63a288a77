#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

namespace prodops::app {

// An approximate set of recently stored event ids, each with the time its
// event occurred, that answers "may an id with this hash have been stored
// with a time at or after `cutoff`?". No false negatives; about 0.4% false
// positives per filter consulted. DedupIndex asks it before reading RocksDB,
// so that an id seen for the first time (nearly every id) costs no read.
//
// Ids are grouped in slices of occurred time, `slice_ms` wide, each a list of
// blocked Bloom filters: the first sized for the previous slice's count,
// then, when it fills, one four times as large. A slice whose every time is before
// the cutoff is dropped whole, so memory follows the ids within the horizon
// (about 12 bits each), not all ids ever seen.
//
// Memory is bounded by `max_bytes`: to make room for a new filter the oldest
// slices are dropped, and until the cutoff passes them MayContain() answers
// true (the caller reads the store, as without a filter). So a horizon with
// more ids than the budget holds costs reads, never a wrong answer.
//
// Single-threaded.
class RecentIdFilter {
 public:
  RecentIdFilter(int64_t slice_ms, size_t max_bytes);

  void Add(uint64_t hash, int64_t occurred_ms);
  // False only if no id with this hash was added with a time >= cutoff_ms.
  bool MayContain(uint64_t hash, int64_t cutoff_ms) const;
  // Forgets the slices that hold only times before cutoff_ms.
  void DropBefore(int64_t cutoff_ms);

  size_t MemoryBytes() const { return bytes_; }

 private:
  // A Bloom filter whose probes for one key all fall in one 64-byte block
  // (one cache line): a lookup costs a single cache miss.
  class BlockedBloom {
   public:
    explicit BlockedBloom(size_t capacity);
    static size_t BytesFor(size_t capacity);
    void Add(uint64_t hash);
    bool MayContain(uint64_t hash) const;
    bool Full() const { return count_ >= capacity_; }
    size_t capacity() const { return capacity_; }
    size_t count() const { return count_; }
    size_t MemoryBytes() const { return words_.size() * sizeof(uint64_t); }

   private:
    std::vector<uint64_t> words_;
    uint32_t blocks_;
    size_t capacity_;
    size_t count_ = 0;
  };
  struct Slice {
    std::vector<BlockedBloom> filters;  // the newest, and the one added to, last
    size_t Count() const;
    size_t MemoryBytes() const;
  };

  // Drops the oldest slices until a filter of `bytes` fits in the budget;
  // false if the slice starting at `start` is not covered any more.
  bool MakeRoom(size_t bytes, int64_t start);

  const int64_t slice_ms_;
  const size_t max_bytes_;
  std::map<int64_t, Slice> slices_;  // by start of the slice
  size_t bytes_ = 0;
  // Slices before this time were dropped for the budget: answers for a
  // cutoff before it are unknown.
  int64_t covered_from_ms_ = std::numeric_limits<int64_t>::min();
};

}  // namespace prodops::app
