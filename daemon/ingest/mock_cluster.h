#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace prodops::ingest {

// librdkafka's in-process mock Kafka cluster, listening on loopback
// sockets: real clients (this process's or others') connect to
// bootstrap_servers(). For the embedded demo and for fast tests; it is not
// Apache Kafka. Thread-safe. The cluster stops when this is destroyed.
class MockCluster {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MockCluster>> Start(int brokers);
  ~MockCluster();

  const std::string& bootstrap_servers() const { return bootstrap_servers_; }

  [[nodiscard]] absl::Status CreateTopic(const std::string& name, int partitions);

  // Takes a broker down (connections refused) or up again, by node id
  // (1..brokers). For tests of outages.
  [[nodiscard]] absl::Status SetBrokerUp(int node_id, bool up);

  struct Impl;  // opaque

 private:
  explicit MockCluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_servers_;
};

}  // namespace prodops::ingest
