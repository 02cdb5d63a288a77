#include "daemon/app/options.h"

namespace prodops::app {

using prodops::v1::DaemonConfig;
using prodops::v1::TopicConfig;

decode::Format ToFormat(TopicConfig::Format format) {
  return format == TopicConfig::PROTOBUF ? decode::Format::kProtobuf
                                         : decode::Format::kJson;
}

decode::Content ToContent(TopicConfig::Content content) {
  switch (content) {
    case TopicConfig::USAGE:
      return decode::Content::kUsage;
    case TopicConfig::TICKET:
      return decode::Content::kTicket;
    case TopicConfig::RELEASE:
      return decode::Content::kRelease;
    case TopicConfig::EXPOSURE:
      return decode::Content::kExposure;
    default:
      return decode::Content::kEnvelope;
  }
}

namespace {

signals::SlaTargets ToSlaTargets(const prodops::v1::SlaTargets& targets) {
  return {int64_t{targets.low_seconds()} * 1000, int64_t{targets.normal_seconds()} * 1000,
          int64_t{targets.high_seconds()} * 1000,
          int64_t{targets.urgent_seconds()} * 1000};
}

signals::TicketOptions ToTicketOptions(const DaemonConfig& config) {
  const prodops::v1::TicketSignalsConfig& tickets = config.signals().tickets();
  signals::TicketOptions options;
  options.first_reply_sla = ToSlaTargets(tickets.first_reply_sla());
  options.resolution_sla = ToSlaTargets(tickets.resolution_sla());
  options.reactive.clear();
  for (const prodops::v1::ReactiveRule& rule : tickets.reactive()) {
    options.reactive.push_back({rule.type(), rule.min_priority()});
  }
  options.spike_baseline_hours = static_cast<int>(tickets.spike().baseline_hours());
  options.spike_mad_floor = tickets.spike().mad_floor();
  options.spike_threshold = tickets.spike().threshold();
  options.closed_ticket_expiry_ms =
      int64_t{tickets.closed_ticket_expiry_seconds()} * 1000;
  options.allowed_lateness_ms =
      int64_t{config.windows().allowed_lateness_seconds()} * 1000;
  return options;
}

signals::LabelBudgetOptions ToLabelBudgetOptions(const DaemonConfig& config) {
  const prodops::v1::LabelBudgetConfig& budgets = config.signals().label_budgets();
  signals::LabelBudgetOptions options;
  options.team = budgets.team();
  options.feature = budgets.feature();
  options.release = budgets.release();
  options.experiment = budgets.experiment();
  options.variant = budgets.variant();
  return options;
}

signals::ReleaseOptions ToReleaseOptions(const DaemonConfig& config) {
  signals::ReleaseOptions options;
  options.impact_ms = int64_t{config.signals().releases().impact_hours()} * 3'600'000;
  options.recent_releases = config.signals().releases().recent_releases();
  options.allowed_lateness_ms =
      int64_t{config.windows().allowed_lateness_seconds()} * 1000;
  return options;
}

signals::ExperimentOptions ToExperimentOptions(const DaemonConfig& config) {
  signals::ExperimentOptions options;
  for (const prodops::v1::ExperimentConfig& experiment : config.signals().experiment()) {
    signals::ExperimentSpec spec;
    spec.name = experiment.name();
    spec.goal_feature = experiment.goal().feature();
    spec.goal_action = experiment.goal().action();
    for (const prodops::v1::ExperimentVariant& variant : experiment.variant()) {
      spec.variants.push_back({variant.name(), variant.weight()});
    }
    options.experiments.push_back(std::move(spec));
  }
  options.allowed_lateness_ms =
      int64_t{config.windows().allowed_lateness_seconds()} * 1000;
  return options;
}

}  // namespace

PipelineOptions ToPipelineOptions(const DaemonConfig& config) {
  PipelineOptions options;
  for (const TopicConfig& topic : config.topic()) {
    options.topics.push_back(
        {topic.name(), ToFormat(topic.format()), ToContent(topic.content())});
  }
  for (const auto& w : config.windows().window()) {
    options.windows.windows.push_back({w.name(), int64_t{w.length_seconds()} * 1000,
                                       int64_t{w.bucket_seconds()} * 1000});
  }
  options.windows.allowed_lateness_ms =
      int64_t{config.windows().allowed_lateness_seconds()} * 1000;
  options.windows.bucket_cache_bytes = config.state().window_cache_bytes();
  options.time_mode = config.windows().clock() == prodops::v1::WindowConfig::EVENT_TIME
                          ? TimeMode::kEventTime
                          : TimeMode::kWallClock;
  options.flush_interval_ms = config.state().flush_interval_ms();
  options.cache_max_bytes = config.state().cache_max_bytes();
  const prodops::v1::IngestConfig& ingest = config.ingest();
  options.max_message_bytes = ingest.max_message_bytes();
  options.max_future_ms = int64_t{ingest.max_future_seconds()} * 1000;
  options.max_age_ms = int64_t{ingest.max_age_seconds()} * 1000;
  options.dedup_horizon_ms =
      ingest.dedup_disabled() ? 0 : int64_t{ingest.dedup_horizon_seconds()} * 1000;
  options.dedup_filter_bytes = config.state().dedup_filter_bytes();
  options.signals.tickets = ToTicketOptions(config);
  options.signals.label_budgets = ToLabelBudgetOptions(config);
  options.signals.releases = ToReleaseOptions(config);
  options.signals.experiments = ToExperimentOptions(config);
  return options;
}

state::RocksStoreOptions ToStoreOptions(const DaemonConfig& config) {
  state::RocksStoreOptions options;
  options.dir = config.state().dir();
  options.memory_budget_bytes = config.state().memory_budget_bytes();
  options.min_free_disk_bytes = config.state().min_free_disk_bytes();
  return options;
}

exporter::HttpServerOptions ToHttpOptions(const DaemonConfig& config) {
  exporter::HttpServerOptions options;
  options.listen_address = config.http().listen_address();
  return options;
}

ingest::KafkaProperties ToKafkaProperties(const DaemonConfig& config) {
  ingest::KafkaProperties properties;
  for (const auto& [name, value] : config.kafka().properties()) properties[name] = value;
  return properties;
}

ingest::ChangelogOptions ToChangelogOptions(const DaemonConfig& config,
                                            const std::string& bootstrap_servers) {
  ingest::ChangelogOptions options;
  options.topic_prefix = config.state().changelog().topic_prefix();
  options.bootstrap_servers = bootstrap_servers;
  options.extra_properties = ToKafkaProperties(config);
  return options;
}

std::vector<ingest::TopicSpec> ChangelogTopics(const DaemonConfig& config,
                                               int partitions) {
  const prodops::v1::ChangelogConfig& changelog = config.state().changelog();
  const int replication = changelog.replication_factor() == 0
                              ? -1
                              : static_cast<int>(changelog.replication_factor());
  // Twice the horizon: an id is kept at least as long as it is looked up.
  const int64_t dedup_retention_ms =
      config.ingest().dedup_disabled()
          ? 0
          : 2 * int64_t{config.ingest().dedup_horizon_seconds()} * 1000;
  return ingest::ChangelogStore::Topics(changelog.topic_prefix(), partitions, replication,
                                        dedup_retention_ms);
}

ingest::OutboxOptions ToOutboxOptions(const DaemonConfig& config,
                                      const std::string& topic,
                                      const std::string& bootstrap_servers,
                                      const std::string& client_id) {
  ingest::OutboxOptions options;
  options.topic = topic;
  options.producer.bootstrap_servers = bootstrap_servers;
  options.producer.extra_properties = ToKafkaProperties(config);
  options.producer.client_id = client_id;
  return options;
}

ingest::ConsumerOptions ToConsumerOptions(const DaemonConfig& config,
                                          const std::string& bootstrap_servers) {
  ingest::ConsumerOptions options;
  options.bootstrap_servers = bootstrap_servers;
  options.group_id = config.kafka().group_id();
  options.group_instance_id = config.kafka().group_instance_id();
  for (const TopicConfig& topic : config.topic()) options.topics.push_back(topic.name());
  options.extra_properties = ToKafkaProperties(config);
  return options;
}

ingest::TopicReaderOptions ToBroadcastOptions(const DaemonConfig& config,
                                              const std::string& bootstrap_servers) {
  ingest::TopicReaderOptions options;
  options.bootstrap_servers = bootstrap_servers;
  options.group_id = config.kafka().group_id() + "-broadcast";
  for (const TopicConfig& topic : config.topic()) {
    if (topic.content() == TopicConfig::RELEASE) options.topics.push_back(topic.name());
  }
  options.extra_properties = ToKafkaProperties(config);
  return options;
}

sim::SimulatorOptions ToSimulatorOptions(const DaemonConfig& config) {
  sim::SimulatorOptions options;
  options.events_per_second = config.simulator().events_per_second();
  options.users = static_cast<int>(config.simulator().users());
  options.seed = config.simulator().seed();
  return options;
}

}  // namespace prodops::app
