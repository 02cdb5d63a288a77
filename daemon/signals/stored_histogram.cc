#include "daemon/signals/stored_histogram.h"

#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/export/snapshot.h"

namespace prodops::signals {

StoredHistogram::StoredHistogram(const MetricDef& def, std::vector<double> bounds_seconds)
    : def_(def),
      bounds_seconds_(std::move(bounds_seconds)),
      bucket_metric_(def.name + ":bucket"),
      sum_metric_(def.name + ":sum_ms") {}

void StoredHistogram::Observe(window::Aggregates* aggregates,
                              const std::vector<std::string>& label_values,
                              int64_t value_ms) const {
  size_t bucket = 0;
  // Prometheus buckets are "less than or equal".
  while (bucket < bounds_seconds_.size() &&
         static_cast<double>(value_ms) > bounds_seconds_[bucket] * 1000) {
    ++bucket;
  }
  std::vector<std::string> bucket_labels = label_values;
  bucket_labels.push_back(absl::StrCat(bucket));
  aggregates->AddCounter(window::MakeSeriesKey(bucket_metric_, bucket_labels), 1);
  aggregates->AddCounter(window::MakeSeriesKey(sum_metric_, label_values),
                         static_cast<uint64_t>(std::max<int64_t>(0, value_ms)));
}

prometheus::MetricFamily StoredHistogram::Collect(const window::Aggregates& aggregates) const {
  struct Series {
    std::vector<uint64_t> buckets;
    uint64_t sum_ms = 0;
  };
  // Ordered, so that equal state gives equal output before SortFamilies.
  std::map<std::vector<std::string>, Series> by_labels;
  aggregates.ForEachCounter([&](const window::SeriesKey& key, uint64_t value) {
    absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(key);
    if (!parts.ok()) return;
    if (parts->metric == bucket_metric_ && !parts->label_values.empty()) {
      size_t index = 0;
      if (!absl::SimpleAtoi(parts->label_values.back(), &index) ||
          index > bounds_seconds_.size()) {
        return;  // written with other bounds: not comparable
      }
      parts->label_values.pop_back();
      Series& series = by_labels[parts->label_values];
      series.buckets.resize(bounds_seconds_.size() + 1);
      series.buckets[index] += value;
    } else if (parts->metric == sum_metric_) {
      by_labels[parts->label_values].sum_ms += value;
    }
  });
  prometheus::MetricFamily family = exporter::MakeFamily(def_.name, def_.help, def_.type);
  for (auto& [labels, series] : by_labels) {
    if (labels.size() != def_.labels.size() || series.buckets.empty()) continue;
    prometheus::ClientMetric metric;
    for (size_t i = 0; i < labels.size(); ++i) metric.label.push_back({def_.labels[i], labels[i]});
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_seconds_.size(); ++i) {
      cumulative += series.buckets[i];
      metric.histogram.bucket.push_back({cumulative, bounds_seconds_[i]});
    }
    cumulative += series.buckets.back();
    metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = static_cast<double>(series.sum_ms) / 1000;
    family.metric.push_back(std::move(metric));
  }
  return family;
}

}  // namespace prodops::signals
