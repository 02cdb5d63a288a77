#include "daemon/app/daemon.h"

#include <chrono>
#include <iterator>
#include <set>

#include "absl/strings/str_cat.h"
#include "daemon/app/options.h"
#include "daemon/common/log.h"
#include "daemon/ingest/admin.h"
#include "daemon/signals/catalog.h"

namespace prodops::app {
namespace {

// Messages taken per poll before checking whether a flush is due.
constexpr size_t kMaxBatch = 10'000;
constexpr int kPollTimeoutMs = 100;
// While a backlog is read, the snapshot (about a tenth of the pipeline
// thread's time when catching up on the benchmark's topics) is rebuilt this
// often rather than after every flush. A daemon that keeps up publishes
// after every flush: see SnapshotDue.
constexpr int64_t kBacklogSnapshotMs = 5'000;

prometheus::MetricFamily LiveFamily(std::string_view name) {
  const signals::MetricDef& def = signals::MetricOrDie(name);
  return exporter::MakeFamily(def.name, def.help, def.type);
}

// Adds the lag of `tp`: messages up to `high` not read yet (`next` is the
// next offset to read, nullopt before the first).
void AddLag(prometheus::MetricFamily* family, const ingest::TopicPartition& tp,
            int64_t high, std::optional<int64_t> next) {
  exporter::AddSample(family, {"topic", "partition"},
                      {tp.topic, std::to_string(tp.partition)},
                      static_cast<double>(std::max<int64_t>(0, high - next.value_or(0))));
}

// A live family of one unlabelled sample.
prometheus::MetricFamily LiveValue(std::string_view name, double value) {
  prometheus::MetricFamily family = LiveFamily(name);
  exporter::AddSample(&family, {}, {}, value);
  return family;
}

// The changelog over `local`, with its topics in place: as many partitions
// as the first input topic, which must exist.
absl::StatusOr<std::unique_ptr<ingest::ChangelogStore>> StartChangelog(
    const prodops::v1::DaemonConfig& config, const std::string& bootstrap,
    state::StateStore* local) {
  absl::StatusOr<std::unique_ptr<ingest::KafkaAdmin>> admin =
      ingest::KafkaAdmin::Create(bootstrap, ToKafkaProperties(config));
  if (!admin.ok()) return admin.status();
  const std::string& first = config.topic(0).name();
  absl::StatusOr<int> partitions = (*admin)->PartitionCount(first);
  if (!partitions.ok()) {
    return absl::Status(
        partitions.status().code(),
        absl::StrCat("the changelog topics get as many partitions as input topic ", first,
                     ", which must exist first: ", partitions.status().message()));
  }
  if (absl::Status s = (*admin)->EnsureTopics(ChangelogTopics(config, *partitions));
      !s.ok()) {
    return s;
  }
  return ingest::ChangelogStore::Create(ToChangelogOptions(config, bootstrap), local);
}

}  // namespace

Daemon::Daemon(const prodops::v1::DaemonConfig& config) : config_(config) {}

Daemon::~Daemon() {
  // Stop producing before the cluster goes away; the consumer closes first
  // so that its final revoke can still flush to the store.
  simulator_.reset();
  broadcast_.reset();
  consumer_.reset();
  pipeline_.reset();
  changelog_.reset();
  dead_letters_.reset();  // delivers what it holds while the cluster is up
  feed_.reset();
  mock_cluster_.reset();
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const prodops::v1::DaemonConfig& config) {
  auto daemon = std::unique_ptr<Daemon>(new Daemon(config));
  absl::StatusOr<std::unique_ptr<state::RocksStore>> store =
      state::RocksStore::Open(ToStoreOptions(config));
  if (!store.ok()) return store.status();
  daemon->store_ = *std::move(store);

  std::string bootstrap = config.kafka().bootstrap_servers();
  if (config.kafka().embedded_brokers() > 0) {
    absl::StatusOr<std::unique_ptr<ingest::MockCluster>> cluster =
        ingest::MockCluster::Start(static_cast<int>(config.kafka().embedded_brokers()));
    if (!cluster.ok()) return cluster.status();
    daemon->mock_cluster_ = *std::move(cluster);
    std::vector<std::pair<std::string, int>> topics;
    for (const auto& topic : config.topic()) {
      topics.emplace_back(topic.name(), static_cast<int>(topic.partitions()));
    }
    if (!config.ingest().dead_letter_topic().empty()) {
      topics.emplace_back(config.ingest().dead_letter_topic(), 1);
    }
    if (!config.output().topic().empty()) topics.emplace_back(config.output().topic(), 1);
    if (!config.state().changelog().topic_prefix().empty()) {
      for (const ingest::TopicSpec& spec :
           ChangelogTopics(config, static_cast<int>(config.topic(0).partitions()))) {
        topics.emplace_back(spec.name, spec.partitions);
      }
    }
    for (const auto& [name, partitions] : topics) {
      if (absl::Status s = daemon->mock_cluster_->CreateTopic(name, partitions);
          !s.ok()) {
        return s;
      }
    }
    bootstrap = daemon->mock_cluster_->bootstrap_servers();
    Log(LogLevel::kInfo, absl::StrCat("embedded Kafka mock cluster at ", bootstrap));
  }
  if (!config.ingest().dead_letter_topic().empty()) {
    absl::StatusOr<std::unique_ptr<ingest::KafkaOutbox>> outbox =
        ingest::KafkaOutbox::Create(ToOutboxOptions(config,
                                                    config.ingest().dead_letter_topic(),
                                                    bootstrap, "prodopsd-dead-letters"));
    if (!outbox.ok()) return outbox.status();
    daemon->dead_letters_ =
        std::make_unique<ingest::OutboxDeadLetterSink>(*std::move(outbox));
  }
  if (!config.output().topic().empty()) {
    ingest::OutboxOptions options =
        ToOutboxOptions(config, config.output().topic(), bootstrap, "prodopsd-feed");
    options.producer.transactional_id = config.output().transactional_id();
    absl::StatusOr<std::unique_ptr<ingest::KafkaOutbox>> outbox =
        ingest::KafkaOutbox::Create(std::move(options));
    if (!outbox.ok()) return outbox.status();
    daemon->feed_ = *std::move(outbox);
  }

  state::StateStore* state = daemon->store_.get();
  if (!config.state().changelog().topic_prefix().empty()) {
    absl::StatusOr<std::unique_ptr<ingest::ChangelogStore>> changelog =
        StartChangelog(config, bootstrap, daemon->store_.get());
    if (!changelog.ok()) return changelog.status();
    daemon->changelog_ = *std::move(changelog);
    // Restores run inside rebalances, between polls: progress is published
    // from there.
    daemon->changelog_->SetProgressCallback([d = daemon.get()] { d->Publish(); });
    state = daemon->changelog_.get();
  }

  daemon->pipeline_ =
      std::make_unique<Pipeline>(ToPipelineOptions(config), state, &daemon->clock_,
                                 daemon->dead_letters_.get(), daemon->feed_.get());
  // A group member holds, and exposes, only the tasks of its partitions.
  if (absl::Status s = daemon->pipeline_->Load(TaskLoading::kOnAssignment); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("cannot load state from ",
                                               config.state().dir(), ": ", s.message()));
  }
  daemon->board_.Publish(daemon->pipeline_->BuildSnapshot(daemon->LiveFamilies(false)));

  absl::StatusOr<std::unique_ptr<exporter::HttpServer>> http =
      exporter::HttpServer::Start(ToHttpOptions(config), &daemon->board_);
  if (!http.ok()) return http.status();
  daemon->http_ = *std::move(http);
  Log(LogLevel::kInfo,
      absl::StrCat("serving /metrics, /readyz and /api/v1/signals on port ",
                   daemon->http_->port()));

  if (config.simulator().enabled()) {
    absl::StatusOr<std::unique_ptr<SimulatorRunner>> simulator = SimulatorRunner::Start(
        ToSimulatorOptions(config), ToPipelineOptions(config).topics, bootstrap,
        &daemon->clock_);
    if (!simulator.ok()) return simulator.status();
    daemon->simulator_ = *std::move(simulator);
  }
  if (ingest::TopicReaderOptions broadcast = ToBroadcastOptions(config, bootstrap);
      !broadcast.topics.empty()) {
    Pipeline* pipeline = daemon->pipeline_.get();
    absl::StatusOr<std::unique_ptr<ingest::TopicReader>> reader =
        ingest::TopicReader::Create(broadcast,
                                    [pipeline](const ingest::TopicPartition& tp) {
                                      return pipeline->BroadcastOffset(tp);
                                    });
    if (!reader.ok()) return reader.status();
    daemon->broadcast_ = *std::move(reader);
    // Every release known so far is known before any partition is read, as
    // Kafka Streams fills a global store before it starts its tasks. A
    // partition that cannot be read now (no leader) is read as it can be.
    if (absl::Status s = daemon->broadcast_->CatchUp(
            [pipeline](const ingest::Message& m) { pipeline->ProcessBroadcast(m); });
        !s.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("starting without every release read: ", s.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<ingest::KafkaConsumer>> consumer =
      ingest::KafkaConsumer::Create(ToConsumerOptions(config, bootstrap), daemon.get());
  if (!consumer.ok()) return consumer.status();
  daemon->consumer_ = *std::move(consumer);
  if (daemon->feed_ != nullptr) daemon->feed_->SetConsumer(daemon->consumer_.get());
  return daemon;
}

absl::StatusOr<Daemon::RunSummary> Daemon::Run(const std::atomic<bool>& stop,
                                               const RunOptions& options) {
  using Steady = std::chrono::steady_clock;
  const Steady::time_point run_started = Steady::now();
  std::optional<Steady::time_point> first_message;
  RunSummary summary;
  const auto process = [&](const ingest::Message& m) {
    if (!first_message.has_value()) first_message = Steady::now();
    ++summary.messages;
    ++messages_;
    pipeline_->ProcessMessage(m);
  };
  while (!stop.load(std::memory_order_relaxed)) {
    if (broadcast_ != nullptr) {
      broadcast_->Poll(kMaxBatch, [this](const ingest::Message& m) {
        pipeline_->ProcessBroadcast(m);
      });
    }
    consumer_->Poll(kPollTimeoutMs, kMaxBatch, process);
    if (!consumer_->status().ok() || !pipeline_->status().ok()) break;
    ReportEndOffsets();
    if (options.exit_when_caught_up && CaughtUp()) {
      Log(LogLevel::kInfo,
          absl::StrCat("caught up after ", summary.messages, " messages"));
      break;
    }
    // The periodic flush writes while the next messages are processed; the
    // ones that hand the state on (revoke, stop) wait for it.
    if (std::optional<absl::Status> written = pipeline_->PollWrite())
      AfterWrite(*written);
    if (pipeline_->FlushDue()) FlushAndPublish(FlushMode::kBackground);
  }
  Log(LogLevel::kInfo, "stopping: flushing state and leaving the consumer group");
  FlushAndPublish();
  if (first_message.has_value()) {
    summary.seconds =
        std::chrono::duration<double>(Steady::now() - *first_message).count();
  }
  consumer_->Close();  // BeforeRevoke flushes whatever the revoke found
  FlushAndPublish();
  if (!store_error_.empty()) {
    return absl::UnavailableError(absl::StrCat("final flush failed: ", store_error_));
  }
  if (absl::Status s = consumer_->status(); !s.ok()) return s;
  if (!pipeline_->status().ok()) return pipeline_->status();
  summary.run_seconds =
      std::chrono::duration<double>(Steady::now() - run_started).count();
  Log(LogLevel::kInfo, "stopped cleanly");
  return summary;
}

void Daemon::ReportEndOffsets() {
  for (const ingest::TopicPartition& tp : consumer_->Assignment()) {
    // Unknown until the first fetch response for the partition.
    if (const std::optional<int64_t> high = consumer_->HighWatermark(tp);
        high.has_value()) {
      pipeline_->SetEndOffset(tp, *high);
    }
  }
}

bool Daemon::CaughtUp() const {
  // Before the first assignment, and while a topic has none of its
  // partitions yet, there is nothing to compare with.
  if (pipeline_->WaitingForInput()) return false;
  std::set<std::string> assigned_topics;
  for (const ingest::TopicPartition& tp : consumer_->Assignment()) {
    assigned_topics.insert(tp.topic);
  }
  for (const auto& topic : config_.topic()) {
    if (!assigned_topics.contains(topic.name())) return false;
  }
  return true;
}

std::optional<int64_t> Daemon::StartOffset(const ingest::TopicPartition& tp) {
  // Tasks are loaded between writes.
  if (pipeline_->Writing()) AfterWrite(pipeline_->WaitForWrite());
  pipeline_->SetAssigned(tp, true);
  return pipeline_->NextOffset(tp);
}

void Daemon::BeforeRevoke(const std::vector<ingest::TopicPartition>& partitions) {
  // Everything processed, from every partition, goes to the store now; the
  // revoked partitions' next owner resumes exactly after it.
  FlushAndPublish();
  // Then their tasks leave memory, and their series the exposition.
  for (const ingest::TopicPartition& tp : partitions) pipeline_->SetAssigned(tp, false);
  Publish();
}

void Daemon::FlushAndPublish(FlushMode mode) {
  // The outcome of the write in flight first; after a failure the retry
  // waits for its backoff (FlushDue), unless this flush must write now.
  if (pipeline_->Writing() && !AfterWrite(pipeline_->WaitForWrite()) &&
      mode == FlushMode::kBackground) {
    return;
  }
  const absl::Status s = pipeline_->Flush(mode);
  if (s.ok() && pipeline_->Writing()) {
    // Started (kBackground). What it writes is shown once it is durable
    // (AfterWrite), so that no restart can take back a value /metrics
    // showed: a counter that went down would read as a reset.
    if (SnapshotDue()) written_families_ = BuildSnapshot({});
    return;
  }
  // Written (kWait), or nothing to write: what is in memory is durable.
  if (AfterWrite(s) && (mode == FlushMode::kWait || SnapshotDue())) Publish();
}

bool Daemon::AfterWrite(const absl::Status& outcome) {
  std::unique_ptr<exporter::Snapshot> written = std::move(written_families_);
  if (!outcome.ok()) {
    store_error_ = std::string(outcome.message());
    const int64_t now_ms = clock_.NowMillis();
    if (now_ms - last_store_error_log_ms_ >= 10'000) {
      last_store_error_log_ms_ = now_ms;
      Log(LogLevel::kError,
          absl::StrCat("cannot write state (will retry): ", outcome.message()));
    }
    // Re-applied on every failure: partitions assigned meanwhile start unpaused.
    if (pipeline_->Backlogged()) {
      if (!paused_) {
        Log(LogLevel::kWarning, "pausing consumption until the state can be written");
      }
      consumer_->SetPaused(true);
      paused_ = true;
    }
    // Not ready, with the values in memory: they are written with the
    // retry.
    Publish();
    return false;
  }
  if (!store_error_.empty()) Log(LogLevel::kInfo, "state store writes work again");
  store_error_.clear();
  consumer_->Commit(pipeline_->TakeCommittableOffsets());
  if (paused_) {
    Log(LogLevel::kInfo, "resuming consumption");
    consumer_->SetPaused(false);
    paused_ = false;
  }
  const bool ready = UpdateReadiness();
  if (written != nullptr) {
    // The live families as of now: the write is counted, lag is current.
    std::vector<prometheus::MetricFamily> live = LiveFamilies(ready);
    std::move(live.begin(), live.end(), std::back_inserter(written->families));
    exporter::SortFamilies(&written->families);
    board_.Publish(std::move(written));
  }
  return true;
}

bool Daemon::SnapshotDue() const {
  if (clock_.NowMillis() - snapshot_ms_ >= kBacklogSnapshotMs) return true;
  // Keeping up: less waits than was processed since the last snapshot.
  return Backlog() <= static_cast<int64_t>(messages_ - messages_at_snapshot_);
}

int64_t Daemon::Backlog() const {
  int64_t backlog = 0;
  for (const ingest::TopicPartition& tp : consumer_->Assignment()) {
    const std::optional<int64_t> high = consumer_->HighWatermark(tp);
    if (!high.has_value() || !pipeline_->Assigned(tp)) continue;
    backlog += std::max<int64_t>(0, *high - pipeline_->NextOffset(tp).value_or(0));
  }
  return backlog;
}

void Daemon::Publish() { board_.Publish(BuildSnapshot(LiveFamilies(UpdateReadiness()))); }

std::unique_ptr<exporter::Snapshot> Daemon::BuildSnapshot(
    std::vector<prometheus::MetricFamily> live) {
  snapshot_ms_ = clock_.NowMillis();
  messages_at_snapshot_ = messages_;
  return pipeline_->BuildSnapshot(std::move(live));
}

bool Daemon::UpdateReadiness() {
  bool ready = false;
  if (!store_error_.empty()) {
    board_.SetReady(false, absl::StrCat("state store writes failing: ", store_error_));
  } else if (!consumer_->BrokersUp()) {
    board_.SetReady(false, "no Kafka broker reachable");
  } else if (changelog_ != nullptr && changelog_->stats().restoring) {
    // Its tasks are not exposed yet; a rolling restart waits for them.
    board_.SetReady(false, "restoring a task from the changelog");
  } else {
    ready = true;
    board_.SetReady(true, "");
  }
  return ready;
}

std::vector<prometheus::MetricFamily> Daemon::LiveFamilies(bool ready) const {
  std::vector<prometheus::MetricFamily> families;
  prometheus::MetricFamily build = LiveFamily(signals::kBuildInfo);
  exporter::AddSample(&build, {"version"}, {PRODOPS_VERSION}, 1);
  families.push_back(std::move(build));

  families.push_back(LiveValue(signals::kReady, ready ? 1 : 0));
  families.push_back(
      LiveValue(signals::kStateFlushesTotal, static_cast<double>(pipeline_->flushes())));
  families.push_back(LiveValue(signals::kStateFlushErrorsTotal,
                               static_cast<double>(pipeline_->flush_errors())));
  families.push_back(
      LiveValue(signals::kStateFlushSeconds, pipeline_->last_flush_seconds()));

  const window::Aggregates::CacheStats cache = pipeline_->aggregates().cache_stats();
  prometheus::MetricFamily cache_bytes = LiveFamily(signals::kWindowCacheBytes);
  exporter::AddSample(&cache_bytes, {"part"}, {"buckets"},
                      static_cast<double>(cache.bucket_bytes));
  exporter::AddSample(&cache_bytes, {"part"}, {"totals"},
                      static_cast<double>(cache.totals_bytes));
  families.push_back(std::move(cache_bytes));
  families.push_back(LiveValue(signals::kWindowCacheEvictionsTotal,
                               static_cast<double>(cache.evictions)));
  families.push_back(LiveValue(signals::kWindowCacheStoreReadsTotal,
                               static_cast<double>(cache.store_reads)));
  families.push_back(LiveValue(signals::kWindowCacheReadErrorsTotal,
                               static_cast<double>(cache.read_errors)));

  if (const DedupIndex* dedup = pipeline_->dedup(); dedup != nullptr) {
    families.push_back(
        LiveValue(signals::kDedupFilterBytes, static_cast<double>(dedup->FilterBytes())));
    families.push_back(LiveValue(signals::kDedupStoreReadsTotal,
                                 static_cast<double>(dedup->store_reads())));
  }

  if (changelog_ != nullptr) {
    const ingest::ChangelogStats stats = changelog_->stats();
    families.push_back(LiveValue(signals::kChangelogRecordsWrittenTotal,
                                 static_cast<double>(stats.records_written)));
    families.push_back(LiveValue(signals::kChangelogRecordsRestoredTotal,
                                 static_cast<double>(stats.records_restored)));
    families.push_back(
        LiveValue(signals::kChangelogRestoreSecondsTotal, stats.restore_seconds));
    families.push_back(LiveValue(signals::kChangelogRestoreRemaining,
                                 static_cast<double>(stats.restore_remaining)));
    families.push_back(
        LiveValue(signals::kChangelogRestoresTotal, static_cast<double>(stats.restores)));
  }

  prometheus::MetricFamily lag = LiveFamily(signals::kConsumerLag);
  if (consumer_ != nullptr) {
    for (const ingest::TopicPartition& tp : consumer_->Assignment()) {
      // Not one being revoked (the snapshot published on revoke): a
      // partition is reported by the member that holds its task only.
      if (!pipeline_->Assigned(tp)) continue;
      if (const std::optional<int64_t> high = consumer_->HighWatermark(tp);
          high.has_value()) {
        AddLag(&lag, tp, *high, pipeline_->NextOffset(tp));
      }
    }
  }
  families.push_back(std::move(lag));
  if (broadcast_ != nullptr) {
    prometheus::MetricFamily broadcast_lag = LiveFamily(signals::kBroadcastLag);
    for (const ingest::TopicPartition& tp : broadcast_->Partitions()) {
      if (const std::optional<int64_t> high = broadcast_->HighWatermark(tp);
          high.has_value()) {
        AddLag(&broadcast_lag, tp, *high, pipeline_->BroadcastOffset(tp));
      }
    }
    families.push_back(std::move(broadcast_lag));
  }
  return families;
}

}  // namespace prodops::app
