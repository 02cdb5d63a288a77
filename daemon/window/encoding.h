#pragma once

// Byte encodings shared by the persistent forms of daemon/window (series
// keys, sketches, store keys and values). Internal to the module.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/common/big_endian.h"

namespace prodops::window::internal {

inline void PutVarint64(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Reads a varint from the front of `in` and advances past it. Returns
// nothing for truncated, longer than 64-bit or non-minimal encodings: every
// value has exactly one accepted encoding, so parsed bytes re-encode to
// themselves and two different keys never decode to the same parts.
inline std::optional<uint64_t> GetVarint64(std::string_view* in) {
  uint64_t value = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    const auto byte = static_cast<uint8_t>((*in)[i]);
    const uint64_t bits = byte & 0x7f;
    if (i == 9 && bits > 1) return std::nullopt;  // beyond 64 bits
    value |= bits << (7 * i);
    if ((byte & 0x80) == 0) {
      if (byte == 0 && i > 0) return std::nullopt;  // non-minimal
      in->remove_prefix(i + 1);
      return value;
    }
  }
  return std::nullopt;
}

inline void PutFixed64LittleEndian(uint64_t value, std::string* out) {
  for (int shift = 0; shift < 64; shift += 8) {
    out->push_back(static_cast<char>(value >> shift));
  }
}

inline uint64_t DecodeFixed64LittleEndian(std::string_view in) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

using ::prodops::DecodeFixedBigEndian;
using ::prodops::PutFixedBigEndian;

}  // namespace prodops::window::internal
