#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace prodops {

// Fixed-width big-endian integers, the byte order of stored keys and of
// values whose prefix is compared or parsed by several modules (offsets,
// event times): the byte order of the encoding is the numeric order.

// Appends the low `bytes` bytes of `value`, most significant first.
inline void PutFixedBigEndian(uint64_t value, int bytes, std::string* out) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>(value >> shift));
  }
}

// `in` must hold at least `bytes` bytes.
inline uint64_t DecodeFixedBigEndian(std::string_view in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<uint8_t>(in[i]);
  return value;
}

}  // namespace prodops
