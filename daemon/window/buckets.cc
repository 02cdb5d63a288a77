#include "daemon/window/buckets.h"

namespace prodops::window {

int64_t BucketStart(int64_t time_ms, int64_t bucket_ms) {
  // C++ division truncates toward zero; a negative remainder means time_ms
  // is below zero and not on a boundary, so the floor is one bucket lower.
  int64_t remainder = time_ms % bucket_ms;
  if (remainder < 0) remainder += bucket_ms;
  return time_ms - remainder;
}

BucketRange TrailingBuckets(int64_t as_of_ms, const WindowSpec& window) {
  const int64_t last_start_ms = BucketStart(as_of_ms, window.bucket_ms);
  const int64_t bucket_count = window.length_ms / window.bucket_ms;
  return {.first_start_ms = last_start_ms - (bucket_count - 1) * window.bucket_ms,
          .last_start_ms = last_start_ms};
}

}  // namespace prodops::window
