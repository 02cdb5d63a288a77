#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "daemon/signals/catalog.h"
#include "daemon/window/aggregates.h"
#include "prometheus/metric_family.h"

namespace prodops::signals {

// A Prometheus histogram of durations whose state lives in Aggregates
// counters, so that it is persisted with them and restored at start. Per
// label set: one counter per bucket (not cumulative; index bounds.size() is
// +Inf) and the sum in milliseconds. The counters' series are named
// "<metric>:bucket" and "<metric>:sum_ms": unknown to the catalog, so
// CollectStored() skips them.
class StoredHistogram {
 public:
  // `def` is a kLive histogram of the catalog; `bounds_seconds` ascending.
  StoredHistogram(const MetricDef& def, std::vector<double> bounds_seconds);

  // Counts one observation; `label_values` pair with def.labels.
  void Observe(window::Aggregates* aggregates, const std::vector<std::string>& label_values,
               int64_t value_ms) const;

  // The family, with cumulative buckets; present even without series.
  prometheus::MetricFamily Collect(const window::Aggregates& aggregates) const;

  const std::vector<double>& bounds_seconds() const { return bounds_seconds_; }

 private:
  const MetricDef& def_;
  std::vector<double> bounds_seconds_;
  std::string bucket_metric_;
  std::string sum_metric_;
};

}  // namespace prodops::signals
