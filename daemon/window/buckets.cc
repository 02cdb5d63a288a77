#include "daemon/window/buckets.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"

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

namespace {

// Windows come from a validated config; anything else is a programming error.
void CheckWindows(const std::vector<WindowSpec>& windows, int64_t allowed_lateness_ms) {
  std::string problem;
  if (windows.empty()) problem = "no windows";
  if (allowed_lateness_ms < 0) problem = "negative allowed lateness";
  for (const WindowSpec& window : windows) {
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

}  // namespace

BucketLayout::BucketLayout(const std::vector<WindowSpec>& windows,
                           int64_t allowed_lateness_ms) {
  CheckWindows(windows, allowed_lateness_ms);
  for (const WindowSpec& window : windows) {
    const int64_t retention_ms = window.length_ms + allowed_lateness_ms;
    retention_ms_ = std::max(retention_ms_, retention_ms);
    const auto same = std::find_if(widths_.begin(), widths_.end(), [&](const Width& w) {
      return w.bucket_ms == window.bucket_ms;
    });
    if (same == widths_.end()) {
      widths_.push_back({window.bucket_ms, retention_ms});
    } else {
      same->retention_ms = std::max(same->retention_ms, retention_ms);
    }
  }
  std::sort(widths_.begin(), widths_.end(),
            [](const Width& a, const Width& b) { return a.bucket_ms < b.bucket_ms; });
}

int64_t BucketLayout::RetentionMs(int64_t bucket_ms) const {
  for (const Width& width : widths_) {
    if (width.bucket_ms == bucket_ms) return width.retention_ms;
  }
  return 0;
}

}  // namespace prodops::window
