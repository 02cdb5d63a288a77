#pragma once

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "daemon/app/pipeline.h"
#include "daemon/app/simulator_runner.h"
#include "daemon/common/clock.h"
#include "daemon/export/http_server.h"
#include "daemon/ingest/consumer.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/state/rocks_store.h"
#include "prodops/v1/config.pb.h"

namespace prodops::app {

// The live daemon: Kafka (or the embedded mock cluster and simulator) in,
// RocksDB state, HTTP out. Start() brings every part up or fails with a
// message saying which and why; Run() is the pipeline loop.
class Daemon final : private ingest::RebalanceListener {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const prodops::v1::DaemonConfig& config);
  ~Daemon() override;

  // Consumes until `stop` turns true, then flushes, stores the offsets,
  // leaves the group and returns.
  [[nodiscard]] absl::Status Run(const std::atomic<bool>& stop);

  int http_port() const { return http_->port(); }

 private:
  explicit Daemon(const prodops::v1::DaemonConfig& config);
  // RebalanceListener
  std::optional<int64_t> StartOffset(const ingest::TopicPartition& tp) override;
  void BeforeRevoke(const std::vector<ingest::TopicPartition>& partitions) override;

  // Flushes the pipeline, commits what became durable, updates readiness
  // and publishes a snapshot.
  void FlushAndPublish();
  std::vector<prometheus::MetricFamily> LiveFamilies(bool ready) const;

  prodops::v1::DaemonConfig config_;
  SystemClock clock_;
  std::unique_ptr<state::RocksStore> store_;
  std::unique_ptr<Pipeline> pipeline_;
  exporter::SnapshotBoard board_;
  std::unique_ptr<exporter::HttpServer> http_;
  std::unique_ptr<ingest::MockCluster> mock_cluster_;
  std::unique_ptr<SimulatorRunner> simulator_;
  std::unique_ptr<ingest::KafkaConsumer> consumer_;
  std::string store_error_;  // empty while flushes succeed
  int64_t last_store_error_log_ms_ = 0;
};

}  // namespace prodops::app
