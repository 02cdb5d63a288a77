#pragma once

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "daemon/app/pipeline.h"
#include "daemon/app/simulator_runner.h"
#include "daemon/common/clock.h"
#include "daemon/export/http_server.h"
#include "daemon/ingest/changelog_store.h"
#include "daemon/ingest/consumer.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/ingest/topic_reader.h"
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

  struct RunOptions {
    // Also return once caught up: partitions of every configured topic are
    // assigned to this member, and the pipeline has read each assigned
    // partition up to the high watermark the fetcher last reported for it.
    // Messages produced after that are not waited for. For benchmarks and
    // one-off backfills.
    // Default: false (run until `stop`).
    bool exit_when_caught_up = false;
  };
  // What one Run consumed.
  struct RunSummary {
    // Messages handed to the pipeline, rejected ones included.
    uint64_t messages = 0;
    // From the first message to the end of the final flush; 0 without
    // messages.
    double seconds = 0;
    // From the start of Run to its return (group join and leave included).
    double run_seconds = 0;
  };

  // Consumes until `stop` turns true (or, with exit_when_caught_up, until
  // caught up), then flushes, stores the offsets, leaves the group and
  // returns. An error means the final flush failed, or consumption could
  // not go on (KafkaConsumer::status(): the input topics are not
  // co-partitioned).
  [[nodiscard]] absl::StatusOr<RunSummary> Run(const std::atomic<bool>& stop,
                                               const RunOptions& options);

  int http_port() const { return http_->port(); }

 private:
  explicit Daemon(const prodops::v1::DaemonConfig& config);
  // RebalanceListener
  std::optional<int64_t> StartOffset(const ingest::TopicPartition& tp) override;
  void BeforeRevoke(const std::vector<ingest::TopicPartition>& partitions) override;

  // Tells the pipeline the partitions' end offsets as the fetcher last saw
  // them (for its watermark and for CaughtUp).
  void ReportEndOffsets();
  // See RunOptions::exit_when_caught_up.
  bool CaughtUp() const;

  // Flushes the pipeline, commits what became durable, then Publish() (a
  // kBackground flush: when SnapshotDue(); readiness is updated always).
  void FlushAndPublish(FlushMode mode = FlushMode::kWait);
  // Takes a write's outcome: commits its offsets and publishes the
  // snapshot of what it wrote, or reports the failure (readiness, pause).
  // True on success.
  bool AfterWrite(const absl::Status& outcome);
  // Updates readiness and publishes a snapshot.
  void Publish();
  // The pipeline's snapshot now, with `live`; SnapshotDue counts from it.
  std::unique_ptr<exporter::Snapshot> BuildSnapshot(
      std::vector<prometheus::MetricFamily> live);
  // Updates readiness; returns it.
  bool UpdateReadiness();
  // Whether the periodic flush should publish a snapshot: always, unless a
  // backlog is being read and the last one is recent (see daemon.cc).
  bool SnapshotDue() const;
  // Messages in the assigned partitions not processed yet, as the fetcher
  // last saw their ends.
  int64_t Backlog() const;
  std::vector<prometheus::MetricFamily> LiveFamilies(bool ready) const;

  prodops::v1::DaemonConfig config_;
  SystemClock clock_;
  std::unique_ptr<state::RocksStore> store_;
  std::unique_ptr<ingest::ChangelogStore> changelog_;     // null without a changelog
  std::unique_ptr<ingest::DeadLetterSink> dead_letters_;  // null without a topic
  std::unique_ptr<ingest::KafkaOutbox> feed_;                 // null without an output topic
  std::unique_ptr<Pipeline> pipeline_;
  exporter::SnapshotBoard board_;
  std::unique_ptr<exporter::HttpServer> http_;
  std::unique_ptr<ingest::MockCluster> mock_cluster_;
  std::unique_ptr<SimulatorRunner> simulator_;
  std::unique_ptr<ingest::KafkaConsumer> consumer_;
  std::unique_ptr<ingest::TopicReader> broadcast_;  // null without a RELEASE topic
  // The stored families as a kBackground flush started its write; shown,
  // with the live ones, once the write succeeded.
  std::unique_ptr<exporter::Snapshot> written_families_;
  uint64_t messages_ = 0;  // handed to the pipeline since start
  // When the last snapshot was published, and messages_ then.
  int64_t snapshot_ms_ = 0;
  uint64_t messages_at_snapshot_ = 0;
  std::string store_error_;  // empty while flushes succeed
  bool paused_ = false;      // consumption paused: writes fail, cache full
  int64_t last_store_error_log_ms_ = 0;
};

}  // namespace prodops::app
