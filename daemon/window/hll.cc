#include "daemon/window/hll.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <iterator>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/window/encoding.h"

namespace prodops::window {
namespace {

// Bits of the hash left after the register index, and the largest register
// value: rho of an all-zero remainder.
constexpr int kRemainderBits = 64 - HyperLogLog::kPrecision;
constexpr uint8_t kMaxRho = kRemainderBits + 1;

// Serialized form: version byte, mode byte, then the mode's payload.
constexpr uint8_t kVersion = 1;
enum Mode : uint8_t {
  kModeExact = 0,          // varint count, then each hash as 8 bytes LE
  kModeDense = 1,          // kRegisters bytes
  kModeDenseZeroRuns = 2,  // registers; a 0 byte is followed by a varint run
                           // length of zero registers (sparse sketches)
};

// 1 / (2 ln 2): the constant of Ertl's estimator for m -> infinity.
constexpr double kAlphaInfinity = 0.721347520444481703680;

// Ertl 2017, improved raw estimator: the contributions of empty registers
// (sigma) and of saturated registers (tau), summed until the terms no longer
// change the double.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  for (;;) {
    x *= x;
    const double z_old = z;
    z += x * y;
    y += y;
    if (z == z_old) return z;
  }
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  for (;;) {
    x = std::sqrt(x);
    const double z_old = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == z_old) return z / 3.0;
  }
}

std::string EncodeZeroRuns(const std::vector<uint8_t>& registers) {
  std::string out;
  for (size_t i = 0; i < registers.size();) {
    if (registers[i] != 0) {
      out.push_back(static_cast<char>(registers[i++]));
      continue;
    }
    size_t run = 0;
    while (i < registers.size() && registers[i] == 0) ++run, ++i;
    out.push_back('\0');
    internal::PutVarint64(run, &out);
  }
  return out;
}

// Takes a std::string: this abseil's string_view is not std::string_view.
absl::Status Malformed(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed HyperLogLog: ", what));
}

absl::StatusOr<std::vector<uint64_t>> ParseExact(std::string_view payload) {
  const std::optional<uint64_t> count = internal::GetVarint64(&payload);
  if (!count.has_value()) return Malformed("bad count");
  if (*count > HyperLogLog::kMaxExact) return Malformed("too many exact hashes");
  if (payload.size() != *count * 8)
    return Malformed("exact hashes truncated or too long");
  std::vector<uint64_t> hashes;
  hashes.reserve(*count);
  for (size_t i = 0; i < *count; ++i) {
    const uint64_t hash = internal::DecodeFixed64LittleEndian(payload.substr(8 * i, 8));
    // Sorted and unique is the invariant Add and Merge rely on.
    if (!hashes.empty() && hash <= hashes.back()) return Malformed("hashes not sorted");
    hashes.push_back(hash);
  }
  return hashes;
}

absl::Status CheckRegister(uint8_t value) {
  return value <= kMaxRho ? absl::OkStatus() : Malformed("register out of range");
}

absl::StatusOr<std::vector<uint8_t>> ParseDense(std::string_view payload) {
  if (payload.size() != HyperLogLog::kRegisters) return Malformed("wrong register count");
  std::vector<uint8_t> registers(payload.begin(), payload.end());
  for (uint8_t value : registers) {
    if (absl::Status status = CheckRegister(value); !status.ok()) return status;
  }
  return registers;
}

absl::StatusOr<std::vector<uint8_t>> ParseZeroRuns(std::string_view payload) {
  std::vector<uint8_t> registers;
  registers.reserve(HyperLogLog::kRegisters);
  while (!payload.empty()) {
    const auto value = static_cast<uint8_t>(payload.front());
    payload.remove_prefix(1);
    if (value != 0) {
      if (absl::Status status = CheckRegister(value); !status.ok()) return status;
      registers.push_back(value);
      if (registers.size() > HyperLogLog::kRegisters)
        return Malformed("too many registers");
      continue;
    }
    const std::optional<uint64_t> run = internal::GetVarint64(&payload);
    if (!run.has_value() || *run == 0 ||
        *run > HyperLogLog::kRegisters - registers.size()) {
      return Malformed("bad run of zero registers");
    }
    registers.resize(registers.size() + *run, 0);
  }
  if (registers.size() != HyperLogLog::kRegisters) return Malformed("too few registers");
  return registers;
}

// XXH64 (https://github.com/Cyan4973/xxHash, spec in doc/xxhash_spec.md)
// with seed 0, written out here because std::hash and absl::Hash may change
// between builds and the hashes are persisted inside sketches. Inputs are
// read little-endian on every host.
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

uint64_t Read64(std::string_view in) { return internal::DecodeFixed64LittleEndian(in); }

uint64_t Read32(std::string_view in) {
  uint64_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

uint64_t Round(uint64_t accumulator, uint64_t input) {
  accumulator += input * kPrime2;
  return std::rotl(accumulator, 31) * kPrime1;
}

uint64_t MergeRound(uint64_t hash, uint64_t accumulator) {
  hash ^= Round(0, accumulator);
  return hash * kPrime1 + kPrime4;
}

uint64_t Xxh64(std::string_view in) {
  const uint64_t length = in.size();
  uint64_t hash;
  if (in.size() >= 32) {
    std::array<uint64_t, 4> lanes = {kPrime1 + kPrime2, kPrime2, 0, -kPrime1};
    while (in.size() >= 32) {
      for (int lane = 0; lane < 4; ++lane) {
        lanes[lane] = Round(lanes[lane], Read64(in.substr(8 * lane)));
      }
      in.remove_prefix(32);
    }
    hash = std::rotl(lanes[0], 1) + std::rotl(lanes[1], 7) + std::rotl(lanes[2], 12) +
           std::rotl(lanes[3], 18);
    for (uint64_t lane : lanes) hash = MergeRound(hash, lane);
  } else {
    hash = kPrime5;
  }
  hash += length;
  for (; in.size() >= 8; in.remove_prefix(8)) {
    hash ^= Round(0, Read64(in));
    hash = std::rotl(hash, 27) * kPrime1 + kPrime4;
  }
  if (in.size() >= 4) {
    hash ^= Read32(in) * kPrime1;
    hash = std::rotl(hash, 23) * kPrime2 + kPrime3;
    in.remove_prefix(4);
  }
  for (char c : in) {
    hash ^= static_cast<uint8_t>(c) * kPrime5;
    hash = std::rotl(hash, 11) * kPrime1;
  }
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

}  // namespace

void HyperLogLog::Add(uint64_t hash) {
  if (!IsExact()) {
    AddToRegisters(hash);
    return;
  }
  const auto it = std::lower_bound(exact_.begin(), exact_.end(), hash);
  if (it != exact_.end() && *it == hash) return;
  exact_.insert(it, hash);
  if (exact_.size() > kMaxExact) ToDense();
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.IsExact()) {
    if (!IsExact()) {
      for (uint64_t hash : other.exact_) AddToRegisters(hash);
      return;
    }
    std::vector<uint64_t> merged;
    merged.reserve(exact_.size() + other.exact_.size());
    std::set_union(exact_.begin(), exact_.end(), other.exact_.begin(), other.exact_.end(),
                   std::back_inserter(merged));
    exact_ = std::move(merged);
    if (exact_.size() > kMaxExact) ToDense();
    return;
  }
  if (IsExact()) ToDense();
  for (uint32_t i = 0; i < kRegisters; ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

double HyperLogLog::Estimate() const {
  if (IsExact()) return static_cast<double>(exact_.size());
  // counts[k]: number of registers holding k.
  std::array<uint32_t, kMaxRho + 1> counts{};
  for (uint8_t value : registers_) ++counts[value];
  const double m = kRegisters;
  double z = m * Tau(1.0 - counts[kRemainderBits + 1] / m);
  for (int k = kRemainderBits; k >= 1; --k) z = 0.5 * (z + counts[k]);
  z += m * Sigma(counts[0] / m);
  return kAlphaInfinity * m * m / z;
}

size_t HyperLogLog::MemoryBytes() const {
  return exact_.capacity() * sizeof(uint64_t) + registers_.capacity();
}

std::string HyperLogLog::Serialize() const {
  std::string out = {static_cast<char>(kVersion)};
  if (IsExact()) {
    out.push_back(static_cast<char>(kModeExact));
    internal::PutVarint64(exact_.size(), &out);
    for (uint64_t hash : exact_) internal::PutFixed64LittleEndian(hash, &out);
    return out;
  }
  // Right after turning dense most registers are still zero; runs of them
  // shrink the value ~10x. Raw is kept for full sketches, where runs cost more.
  std::string zero_runs = EncodeZeroRuns(registers_);
  if (zero_runs.size() < kRegisters) {
    out.push_back(static_cast<char>(kModeDenseZeroRuns));
    out.append(zero_runs);
  } else {
    out.push_back(static_cast<char>(kModeDense));
    out.append(registers_.begin(), registers_.end());
  }
  return out;
}

absl::StatusOr<HyperLogLog> HyperLogLog::Parse(std::string_view bytes) {
  if (bytes.size() < 2) return Malformed("shorter than its header");
  if (static_cast<uint8_t>(bytes[0]) != kVersion) {
    return Malformed(absl::StrCat("unknown version ", static_cast<uint8_t>(bytes[0])));
  }
  const auto mode = static_cast<uint8_t>(bytes[1]);
  const std::string_view payload = bytes.substr(2);
  HyperLogLog sketch;
  if (mode == kModeExact) {
    absl::StatusOr<std::vector<uint64_t>> hashes = ParseExact(payload);
    if (!hashes.ok()) return hashes.status();
    sketch.exact_ = *std::move(hashes);
    return sketch;
  }
  absl::StatusOr<std::vector<uint8_t>> registers;
  if (mode == kModeDense) {
    registers = ParseDense(payload);
  } else if (mode == kModeDenseZeroRuns) {
    registers = ParseZeroRuns(payload);
  } else {
    return Malformed(absl::StrCat("unknown mode ", mode));
  }
  if (!registers.ok()) return registers.status();
  sketch.registers_ = *std::move(registers);
  return sketch;
}

void HyperLogLog::ToDense() {
  registers_.assign(kRegisters, 0);
  for (uint64_t hash : exact_) AddToRegisters(hash);
  std::vector<uint64_t>().swap(exact_);  // release the memory, not just the size
}

void HyperLogLog::AddToRegisters(uint64_t hash) {
  const uint32_t index = hash >> kRemainderBits;
  // The remainder moved to the top; the low kPrecision bits shifted in are
  // zero, so an all-zero remainder gives 64 and is capped to kMaxRho.
  const uint64_t remainder = hash << kPrecision;
  const auto rho =
      static_cast<uint8_t>(std::min<int>(std::countl_zero(remainder) + 1, kMaxRho));
  registers_[index] = std::max(registers_[index], rho);
}

uint64_t HashItem(std::string_view item) { return Xxh64(item); }

}  // namespace prodops::window
