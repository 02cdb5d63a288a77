#include "daemon/export/snapshot.h"

#include <algorithm>
#include <sstream>

#include "prometheus/text_serializer.h"

namespace prodops::exporter {

void SortFamilies(std::vector<prometheus::MetricFamily>* families) {
  std::sort(families->begin(), families->end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (prometheus::MetricFamily& family : *families) {
    std::sort(family.metric.begin(), family.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
}

std::string SerializeExposition(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

void SnapshotBoard::Publish(std::shared_ptr<const Snapshot> snapshot) {
  std::lock_guard<std::mutex> lock(mutex_);
  latest_ = std::move(snapshot);
}

std::shared_ptr<const Snapshot> SnapshotBoard::Latest() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return latest_;
}

void SnapshotBoard::SetReady(bool ready, std::string reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ready_ = ready;
  reason_ = std::move(reason);
}

bool SnapshotBoard::ready() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_;
}

std::string SnapshotBoard::not_ready_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reason_;
}

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(prometheus::MetricFamily* family,
               const std::vector<std::string>& label_names,
               const std::vector<std::string>& label_values, double value) {
  prometheus::ClientMetric& metric = family->metric.emplace_back();
  metric.label.reserve(label_names.size());
  for (size_t i = 0; i < label_names.size() && i < label_values.size(); ++i) {
    metric.label.push_back({label_names[i], label_values[i]});
  }
  if (family->type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

std::optional<double> SampleValue(const prometheus::MetricFamily& family,
                                  const prometheus::ClientMetric& metric) {
  switch (family.type) {
    case prometheus::MetricType::Counter:
      return metric.counter.value;
    case prometheus::MetricType::Gauge:
      return metric.gauge.value;
    case prometheus::MetricType::Untyped:
      return metric.untyped.value;
    default:
      return std::nullopt;
  }
}

}  // namespace prodops::exporter
