#include "tests/integration/mock_kafka.h"

namespace prodops::testing {

absl::StatusOr<MockKafka> StartMockKafka(
    int brokers, const std::vector<std::pair<std::string, int>>& topics,
    ingest::KafkaProperties producer_properties) {
  absl::StatusOr<std::unique_ptr<ingest::MockCluster>> cluster =
      ingest::MockCluster::Start(brokers);
  if (!cluster.ok()) return cluster.status();
  for (const auto& [name, partitions] : topics) {
    if (absl::Status s = (*cluster)->CreateTopic(name, partitions); !s.ok()) return s;
  }
  ingest::ProducerOptions options;
  options.bootstrap_servers = (*cluster)->bootstrap_servers();
  options.extra_properties = std::move(producer_properties);
  absl::StatusOr<std::unique_ptr<ingest::KafkaProducer>> producer =
      ingest::KafkaProducer::Create(options);
  if (!producer.ok()) return producer.status();
  return MockKafka{*std::move(cluster), *std::move(producer)};
}

}  // namespace prodops::testing
