#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace prodops::window {

// A trailing window (the `window` label) and the event-time buckets it is
// merged from.
struct WindowSpec {
  std::string name;        // e.g. "1h"
  int64_t length_ms = 0;   // a positive multiple of bucket_ms
  int64_t bucket_ms = 0;   // > 0; buckets are aligned to the Unix epoch
};

// Start of the bucket of width `bucket_ms` that contains `time_ms`:
// the largest multiple of bucket_ms that is <= time_ms (also for negative
// times).
int64_t BucketStart(int64_t time_ms, int64_t bucket_ms);

// The buckets a trailing window covers as of `as_of_ms`: the bucket holding
// as_of_ms (the current, incomplete one) and the length/bucket - 1 before it.
// Both bounds are bucket starts and inclusive.
struct BucketRange {
  int64_t first_start_ms;
  int64_t last_start_ms;
  bool Contains(int64_t bucket_start_ms) const {
    return bucket_start_ms >= first_start_ms && bucket_start_ms <= last_start_ms;
  }
  bool operator==(const BucketRange&) const = default;
};
BucketRange TrailingBuckets(int64_t as_of_ms, const WindowSpec& window);

// The bucket widths a set of windows uses, and how long buckets of each
// width must be kept: the longest window of that width + the allowed
// lateness.
class BucketLayout {
 public:
  struct Width {
    int64_t bucket_ms;
    int64_t retention_ms;
  };
  // Aborts the process on invalid windows (none, a length that is not a
  // positive multiple of bucket_ms, bucket_ms outside [1, 2^32 - 1]) or a
  // negative lateness: the config validates them first.
  BucketLayout(const std::vector<WindowSpec>& windows, int64_t allowed_lateness_ms);

  // Ascending by bucket_ms, each width once.
  const std::vector<Width>& widths() const { return widths_; }
  // The longest retention of all widths.
  int64_t RetentionMs() const { return retention_ms_; }
  // The retention of `bucket_ms`; 0 if no window uses it.
  int64_t RetentionMs(int64_t bucket_ms) const;

 private:
  std::vector<Width> widths_;
  int64_t retention_ms_ = 0;
};

}  // namespace prodops::window
