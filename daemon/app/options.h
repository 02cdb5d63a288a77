#pragma once

#include "daemon/app/pipeline.h"
#include "daemon/export/http_server.h"
#include "daemon/ingest/changelog_store.h"
#include "daemon/ingest/consumer.h"
#include "daemon/ingest/dead_letter.h"
#include "daemon/ingest/topic_reader.h"
#include "daemon/sim/simulator.h"
#include "daemon/state/rocks_store.h"
#include "prodops/v1/config.pb.h"

namespace prodops::app {

// The one place where the validated proto config becomes the options
// structs of the modules.
decode::Format ToFormat(prodops::v1::TopicConfig::Format format);
decode::Content ToContent(prodops::v1::TopicConfig::Content content);
PipelineOptions ToPipelineOptions(const prodops::v1::DaemonConfig& config);
state::RocksStoreOptions ToStoreOptions(const prodops::v1::DaemonConfig& config);
exporter::HttpServerOptions ToHttpOptions(const prodops::v1::DaemonConfig& config);
// `bootstrap_servers` overrides the config's (the embedded cluster's).
ingest::ConsumerOptions ToConsumerOptions(const prodops::v1::DaemonConfig& config,
                                          const std::string& bootstrap_servers);
// The topics every process reads whole (their release events, see
// Pipeline::ProcessBroadcast): those of content RELEASE. Empty topics: none.
ingest::TopicReaderOptions ToBroadcastOptions(const prodops::v1::DaemonConfig& config,
                                              const std::string& bootstrap_servers);
// A producer to `topic` with the config's Kafka properties.
// kafka.properties, for every Kafka client.
ingest::KafkaProperties ToKafkaProperties(const prodops::v1::DaemonConfig& config);
ingest::ChangelogOptions ToChangelogOptions(const prodops::v1::DaemonConfig& config,
                                            const std::string& bootstrap_servers);
// The changelog topics the config asks for, with `partitions` each.
std::vector<ingest::TopicSpec> ChangelogTopics(const prodops::v1::DaemonConfig& config,
                                               int partitions);
ingest::OutboxOptions ToOutboxOptions(const prodops::v1::DaemonConfig& config,
                                      const std::string& topic,
                                      const std::string& bootstrap_servers,
                                      const std::string& client_id);
sim::SimulatorOptions ToSimulatorOptions(const prodops::v1::DaemonConfig& config);

}  // namespace prodops::app
