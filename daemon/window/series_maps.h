#pragma once

// Helpers for maps keyed by SeriesKey, shared by the aggregates' classes.
// Internal to daemon/window.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "daemon/window/hll.h"
#include "daemon/window/series.h"

namespace prodops::window::internal {

inline size_t StringHeapBytes(const std::string& s) {
  static const size_t kInlineCapacity = std::string().capacity();
  return s.capacity() > kInlineCapacity ? s.capacity() + 1 : 0;
}

inline size_t ValueHeapBytes(uint64_t) { return 0; }
inline size_t ValueHeapBytes(int64_t) { return 0; }
inline size_t ValueHeapBytes(bool) { return 0; }
inline size_t ValueHeapBytes(const HyperLogLog& sketch) { return sketch.MemoryBytes(); }

// Approximate heap bytes of `map`, for budgets and statistics.
template <typename Value>
size_t MapBytes(const absl::flat_hash_map<SeriesKey, Value>& map) {
  // One control byte per slot besides the slot itself.
  size_t bytes = map.capacity() * (sizeof(std::pair<const SeriesKey, Value>) + 1);
  for (const auto& [key, value] : map)
    bytes += StringHeapBytes(key) + ValueHeapBytes(value);
  return bytes;
}

// Adds `value` into `*into` under `series`: counts are summed, sketches
// united (copied when `into` has none yet).
inline void AddInto(const SeriesKey& series, uint64_t value,
                    absl::flat_hash_map<SeriesKey, uint64_t>* into) {
  (*into)[series] += value;
}
inline void AddInto(const SeriesKey& series, const HyperLogLog& sketch,
                    absl::flat_hash_map<SeriesKey, HyperLogLog>* into) {
  const auto [it, inserted] = into->try_emplace(series, sketch);
  if (!inserted) it->second.Merge(sketch);
}

}  // namespace prodops::window::internal
