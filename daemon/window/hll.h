#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace prodops::window {

// Distinct counter: HyperLogLog with 2^14 registers (standard error 0.81%),
// estimated with Ertl's improved estimator (no bias tables, accurate at
// every cardinality). Small sets are kept exactly as a sorted set of the
// 64-bit hashes, so memory stays small and counts are exact until the set
// outgrows kMaxExact hashes; then it turns into dense registers (16 KiB).
//
// Items are added by a 64-bit hash (see HashItem); equal hashes count once.
// Not thread-safe.
class HyperLogLog {
 public:
  static constexpr int kPrecision = 14;
  static constexpr uint32_t kRegisters = 1u << kPrecision;
  static constexpr size_t kMaxExact = 1024;

  void Add(uint64_t hash);
  void Merge(const HyperLogLog& other);
  // Estimated number of distinct hashes added (exact while IsExact()).
  double Estimate() const;
  bool IsExact() const { return registers_.empty(); }
  bool Empty() const { return registers_.empty() && exact_.empty(); }
  // Approximate heap bytes held.
  size_t MemoryBytes() const;

  // Compact, versioned binary form; Parse(Serialize()) gives an equal sketch.
  std::string Serialize() const;
  static absl::StatusOr<HyperLogLog> Parse(std::string_view bytes);

  bool operator==(const HyperLogLog& other) const = default;

 private:
  void ToDense();
  void AddToRegisters(uint64_t hash);

  std::vector<uint64_t> exact_;     // sorted, unique; used while registers_ is empty
  std::vector<uint8_t> registers_;  // kRegisters entries once dense
};

// 64-bit hash of an item (e.g. a user id) for HyperLogLog::Add. Stable across
// runs, builds and machines: it is persisted inside sketches.
uint64_t HashItem(std::string_view item);

}  // namespace prodops::window
