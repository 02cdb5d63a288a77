#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"

namespace prodops::ingest {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  // -1: the broker's default.
  int replication_factor = -1;
  // Topic configs (cleanup.policy, retention.ms, ...), applied at creation.
  std::vector<std::pair<std::string, std::string>> configs;
};

// Topic administration for the topics prodopsd owns (the changelog).
// Thread-compatible.
class KafkaAdmin {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaAdmin>> Create(
      const std::string& bootstrap_servers, const KafkaProperties& extra_properties);
  ~KafkaAdmin();

  // The number of partitions of `topic`; NotFound if it does not exist.
  [[nodiscard]] absl::StatusOr<int> PartitionCount(const std::string& topic) const;

  // Creates each topic of `topics` that does not exist. One that exists
  // must have the partitions its spec asks for (FailedPrecondition
  // otherwise); its configs are left as they are.
  [[nodiscard]] absl::Status EnsureTopics(const std::vector<TopicSpec>& topics) const;

  struct Impl;

 private:
  explicit KafkaAdmin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace prodops::ingest
