#include "daemon/window/window_totals.h"

#include <utility>

#include "daemon/window/series_maps.h"

namespace prodops::window {

WindowTotals::WindowTotals(std::vector<WindowSpec> windows)
    : windows_(std::move(windows)), totals_(windows_.size()) {}

const ClosedTotals* WindowTotals::TotalsFor(const WindowSpec& window,
                                            const BucketRange& range,
                                            ClosedTotals* scratch, const Fill& fill) {
  if (range.first_start_ms == range.last_start_ms) return nullptr;
  const BucketRange closed{range.first_start_ms, range.last_start_ms - window.bucket_ms};
  ClosedTotals* totals = scratch;
  for (size_t i = 0; i < windows_.size(); ++i) {
    const WindowSpec& own = windows_[i];
    if (own.length_ms != window.length_ms || own.bucket_ms != window.bucket_ms) continue;
    ClosedTotals& cached = totals_[i];
    if (cached.closed == closed) return &cached;
    // An earlier range is computed aside, so that the current one stays
    // cached.
    if (!cached.closed.has_value() ||
        cached.closed->first_start_ms < closed.first_start_ms) {
      totals = &cached;
    }
    break;
  }
  *totals = ClosedTotals{};
  totals->closed = closed;
  // Totals missing a bucket that could not be read must not be reused.
  if (!fill(window.bucket_ms, closed, totals) && totals != scratch) {
    *scratch = std::move(*totals);
    *totals = ClosedTotals{};
    return scratch;
  }
  return totals;
}

absl::InlinedVector<ClosedTotals*, 4> WindowTotals::Covering(int64_t width,
                                                             int64_t start_ms) {
  absl::InlinedVector<ClosedTotals*, 4> covering;
  for (size_t i = 0; i < windows_.size(); ++i) {
    const std::optional<BucketRange>& closed = totals_[i].closed;
    if (windows_[i].bucket_ms == width && closed.has_value() &&
        closed->Contains(start_ms)) {
      covering.push_back(&totals_[i]);
    }
  }
  return covering;
}

void WindowTotals::ExpireBefore(int64_t width, int64_t first_kept_ms) {
  // Totals over a range reaching back past the cutoff would still hold the
  // expired buckets.
  for (size_t i = 0; i < windows_.size(); ++i) {
    const std::optional<BucketRange>& closed = totals_[i].closed;
    if (windows_[i].bucket_ms == width && closed.has_value() &&
        closed->first_start_ms < first_kept_ms) {
      totals_[i] = ClosedTotals{};
    }
  }
}

void WindowTotals::Clear() { totals_.assign(windows_.size(), ClosedTotals{}); }

size_t WindowTotals::MemoryBytes() const {
  size_t bytes = 0;
  for (const ClosedTotals& totals : totals_) {
    bytes += internal::MapBytes(totals.counts) + internal::MapBytes(totals.distincts);
  }
  return bytes;
}

}  // namespace prodops::window
