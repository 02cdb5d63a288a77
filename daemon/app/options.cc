#include "daemon/app/options.h"

namespace prodops::app {

using prodops::v1::DaemonConfig;
using prodops::v1::TopicConfig;

decode::Format ToFormat(TopicConfig::Format format) {
  return format == TopicConfig::PROTOBUF ? decode::Format::kProtobuf : decode::Format::kJson;
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

PipelineOptions ToPipelineOptions(const DaemonConfig& config) {
  PipelineOptions options;
  for (const TopicConfig& topic : config.topic()) {
    options.topics.push_back(
        {topic.name(), ToFormat(topic.format()), ToContent(topic.content())});
  }
  for (const auto& w : config.windows().window()) {
    options.windows.windows.push_back(
        {w.name(), int64_t{w.length_seconds()} * 1000, int64_t{w.bucket_seconds()} * 1000});
  }
  options.windows.allowed_lateness_ms =
      int64_t{config.windows().allowed_lateness_seconds()} * 1000;
  options.flush_interval_ms = config.state().flush_interval_ms();
  options.cache_max_bytes = config.state().cache_max_bytes();
  return options;
}

state::RocksStoreOptions ToStoreOptions(const DaemonConfig& config) {
  state::RocksStoreOptions options;
  options.dir = config.state().dir();
  return options;
}

exporter::HttpServerOptions ToHttpOptions(const DaemonConfig& config) {
  exporter::HttpServerOptions options;
  options.listen_address = config.http().listen_address();
  return options;
}

ingest::ConsumerOptions ToConsumerOptions(const DaemonConfig& config,
                                          const std::string& bootstrap_servers) {
  ingest::ConsumerOptions options;
  options.bootstrap_servers = bootstrap_servers;
  options.group_id = config.kafka().group_id();
  for (const TopicConfig& topic : config.topic()) options.topics.push_back(topic.name());
  for (const auto& [name, value] : config.kafka().properties()) {
    options.extra_properties[name] = value;
  }
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
