#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/ingest/producer.h"

namespace prodops::testing {

// What every mock-cluster test starts from: librdkafka's mock cluster with
// the test's topics, and a producer on it.
struct MockKafka {
  std::unique_ptr<ingest::MockCluster> cluster;
  std::unique_ptr<ingest::KafkaProducer> producer;
};

// `topics`: name and partition count of each; `producer_properties` are
// passed to the producer as they are.
absl::StatusOr<MockKafka> StartMockKafka(
    int brokers, const std::vector<std::pair<std::string, int>>& topics,
    ingest::KafkaProperties producer_properties = {});

}  // namespace prodops::testing
