#include "daemon/app/daemon.h"

#include "absl/strings/str_cat.h"
#include "daemon/app/options.h"
#include "daemon/common/log.h"
#include "daemon/signals/catalog.h"

namespace prodops::app {
namespace {

// Messages taken per poll before checking whether a flush is due.
constexpr size_t kMaxBatch = 10'000;
constexpr int kPollTimeoutMs = 100;

prometheus::MetricFamily LiveFamily(std::string_view name) {
  const signals::MetricDef& def = signals::MetricOrDie(name);
  return exporter::MakeFamily(def.name, def.help, def.type);
}

}  // namespace

Daemon::Daemon(const prodops::v1::DaemonConfig& config) : config_(config) {}

Daemon::~Daemon() {
  // Stop producing before the cluster goes away; the consumer closes first
  // so that its final revoke can still flush to the store.
  simulator_.reset();
  consumer_.reset();
  mock_cluster_.reset();
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const prodops::v1::DaemonConfig& config) {
  auto daemon = std::unique_ptr<Daemon>(new Daemon(config));
  absl::StatusOr<std::unique_ptr<state::RocksStore>> store =
      state::RocksStore::Open(ToStoreOptions(config));
  if (!store.ok()) return store.status();
  daemon->store_ = *std::move(store);

  daemon->pipeline_ =
      std::make_unique<Pipeline>(ToPipelineOptions(config), daemon->store_.get(), &daemon->clock_);
  if (absl::Status s = daemon->pipeline_->Load(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot load state from ", config.state().dir(),
                                               ": ", s.message()));
  }
  daemon->board_.Publish(daemon->pipeline_->BuildSnapshot(daemon->LiveFamilies(false)));

  absl::StatusOr<std::unique_ptr<exporter::HttpServer>> http =
      exporter::HttpServer::Start(ToHttpOptions(config), &daemon->board_);
  if (!http.ok()) return http.status();
  daemon->http_ = *std::move(http);
  Log(LogLevel::kInfo, absl::StrCat("serving /metrics and /readyz on port ",
                                    daemon->http_->port()));

  std::string bootstrap = config.kafka().bootstrap_servers();
  if (config.kafka().embedded_brokers() > 0) {
    absl::StatusOr<std::unique_ptr<ingest::MockCluster>> cluster =
        ingest::MockCluster::Start(static_cast<int>(config.kafka().embedded_brokers()));
    if (!cluster.ok()) return cluster.status();
    daemon->mock_cluster_ = *std::move(cluster);
    for (const auto& topic : config.topic()) {
      if (absl::Status s = daemon->mock_cluster_->CreateTopic(
              topic.name(), static_cast<int>(topic.partitions()));
          !s.ok()) {
        return s;
      }
    }
    bootstrap = daemon->mock_cluster_->bootstrap_servers();
    Log(LogLevel::kInfo, absl::StrCat("embedded Kafka mock cluster at ", bootstrap));
  }
  if (config.simulator().enabled()) {
    absl::StatusOr<std::unique_ptr<SimulatorRunner>> simulator =
        SimulatorRunner::Start(ToSimulatorOptions(config), ToPipelineOptions(config).topics,
                               bootstrap, &daemon->clock_);
    if (!simulator.ok()) return simulator.status();
    daemon->simulator_ = *std::move(simulator);
  }
  absl::StatusOr<std::unique_ptr<ingest::KafkaConsumer>> consumer =
      ingest::KafkaConsumer::Create(ToConsumerOptions(config, bootstrap), daemon.get());
  if (!consumer.ok()) return consumer.status();
  daemon->consumer_ = *std::move(consumer);
  return daemon;
}

absl::Status Daemon::Run(const std::atomic<bool>& stop) {
  const auto process = [this](const ingest::Message& m) { pipeline_->ProcessMessage(m); };
  while (!stop.load(std::memory_order_relaxed)) {
    consumer_->Poll(kPollTimeoutMs, kMaxBatch, process);
    if (pipeline_->FlushDue()) FlushAndPublish();
  }
  Log(LogLevel::kInfo, "stopping: flushing state and leaving the consumer group");
  FlushAndPublish();
  consumer_->Close();  // BeforeRevoke flushes whatever the revoke found
  FlushAndPublish();
  if (!store_error_.empty()) {
    return absl::UnavailableError(absl::StrCat("final flush failed: ", store_error_));
  }
  Log(LogLevel::kInfo, "stopped cleanly");
  return absl::OkStatus();
}

std::optional<int64_t> Daemon::StartOffset(const ingest::TopicPartition& tp) {
  return pipeline_->NextOffset(tp);
}

void Daemon::BeforeRevoke(const std::vector<ingest::TopicPartition>&) {
  // Everything processed, from every partition, goes to the store now; the
  // revoked partitions' next owner resumes exactly after it.
  FlushAndPublish();
}

void Daemon::FlushAndPublish() {
  if (absl::Status s = pipeline_->Flush(); s.ok()) {
    if (!store_error_.empty()) Log(LogLevel::kInfo, "state store writes work again");
    store_error_.clear();
    consumer_->Commit(pipeline_->TakeCommittableOffsets());
  } else {
    store_error_ = std::string(s.message());
    const int64_t now_ms = clock_.NowMillis();
    if (now_ms - last_store_error_log_ms_ >= 10'000) {
      last_store_error_log_ms_ = now_ms;
      Log(LogLevel::kError, absl::StrCat("cannot write state (will retry): ", s.message()));
    }
  }
  bool ready = false;
  if (!store_error_.empty()) {
    board_.SetReady(false, absl::StrCat("state store writes failing: ", store_error_));
  } else if (!consumer_->BrokersUp()) {
    board_.SetReady(false, "no Kafka broker reachable");
  } else {
    ready = true;
    board_.SetReady(true, "");
  }
  board_.Publish(pipeline_->BuildSnapshot(LiveFamilies(ready)));
}

std::vector<prometheus::MetricFamily> Daemon::LiveFamilies(bool ready) const {
  std::vector<prometheus::MetricFamily> families;
  prometheus::MetricFamily build = LiveFamily(signals::kBuildInfo);
  exporter::AddSample(&build, {"version"}, {PRODOPS_VERSION}, 1);
  families.push_back(std::move(build));

  prometheus::MetricFamily ready_family = LiveFamily(signals::kReady);
  exporter::AddSample(&ready_family, {}, {}, ready ? 1 : 0);
  families.push_back(std::move(ready_family));

  prometheus::MetricFamily flushes = LiveFamily(signals::kStateFlushesTotal);
  exporter::AddSample(&flushes, {}, {}, static_cast<double>(pipeline_->flushes()));
  families.push_back(std::move(flushes));
  prometheus::MetricFamily errors = LiveFamily(signals::kStateFlushErrorsTotal);
  exporter::AddSample(&errors, {}, {}, static_cast<double>(pipeline_->flush_errors()));
  families.push_back(std::move(errors));
  prometheus::MetricFamily flush_seconds = LiveFamily(signals::kStateFlushSeconds);
  exporter::AddSample(&flush_seconds, {}, {}, pipeline_->last_flush_seconds());
  families.push_back(std::move(flush_seconds));

  prometheus::MetricFamily lag = LiveFamily(signals::kConsumerLag);
  if (consumer_ != nullptr) {
    for (const ingest::TopicPartition& tp : consumer_->Assignment()) {
      const std::optional<int64_t> high = consumer_->HighWatermark(tp);
      const std::optional<int64_t> next = pipeline_->NextOffset(tp);
      if (!high.has_value()) continue;
      const int64_t position = next.value_or(0);
      exporter::AddSample(&lag, {"topic", "partition"}, {tp.topic, std::to_string(tp.partition)},
                          static_cast<double>(std::max<int64_t>(0, *high - position)));
    }
  }
  families.push_back(std::move(lag));
  return families;
}

}  // namespace prodops::app
