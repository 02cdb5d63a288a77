#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "prometheus/metric_family.h"

namespace prodops::exporter {

// Everything the HTTP endpoints show, as of one moment. Immutable once
// published: readers share it without locks.
struct Snapshot {
  std::vector<prometheus::MetricFamily> families;  // in exposition order
  int64_t as_of_ms = 0;
};

// Sorts families by name and each family's series by label values, so that
// the exposition of equal state is byte-for-byte equal.
void SortFamilies(std::vector<prometheus::MetricFamily>* families);

// Prometheus text exposition format 0.0.4.
std::string SerializeExposition(const std::vector<prometheus::MetricFamily>& families);

// Hand-over point between the pipeline (the only writer) and HTTP threads.
// Thread-safe.
class SnapshotBoard {
 public:
  void Publish(std::shared_ptr<const Snapshot> snapshot);
  // The latest snapshot; never null (empty before the first Publish).
  std::shared_ptr<const Snapshot> Latest() const;

  // Readiness for /readyz: ready, or not ready with a reason.
  void SetReady(bool ready, std::string reason);
  bool ready() const;
  std::string not_ready_reason() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> latest_ =
      std::make_shared<Snapshot>();  // guarded by mutex_
  bool ready_ = false;               // guarded by mutex_
  std::string reason_ = "starting";  // guarded by mutex_
};

// Helpers to build families from computed values.
prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);
// The value of a counter, gauge or untyped series; nullopt for histograms
// and summaries.
std::optional<double> SampleValue(const prometheus::MetricFamily& family,
                                  const prometheus::ClientMetric& metric);
// Appends one series of a counter or gauge family; `label_names` and
// `label_values` pair up.
void AddSample(prometheus::MetricFamily* family,
               const std::vector<std::string>& label_names,
               const std::vector<std::string>& label_values, double value);

}  // namespace prodops::exporter
