#include "daemon/ingest/mock_cluster.h"

// kafka_handles.h brings rdkafka.h, which must come before rdkafka_mock.h.
#include "daemon/ingest/kafka_handles.h"

#include <librdkafka/rdkafka_mock.h>

#include "absl/strings/str_cat.h"

namespace prodops::ingest {

using internal::KafkaError;
using internal::KafkaHandle;

struct MockCluster::Impl {
  // The mock cluster runs on the threads of a client instance it belongs to.
  KafkaHandle owner;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Start(int brokers) {
  absl::StatusOr<internal::ConfHandle> conf =
      internal::MakeConf({{"client.id", "prodopsd-mock-cluster"},
                          // It hosts the cluster and never connects anywhere:
                          // silence the notice about having no bootstrap servers.
                          {"log_level", "4"}});
  if (!conf.ok()) return conf.status();
  absl::StatusOr<KafkaHandle> owner = internal::MakeClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!owner.ok()) return owner.status();
  auto impl = std::make_unique<Impl>();
  impl->owner = *std::move(owner);
  impl->cluster = rd_kafka_mock_cluster_new(impl->owner.get(), brokers);
  if (impl->cluster == nullptr) {
    return absl::InternalError(absl::StrCat("cannot start a mock cluster of ", brokers,
                                            " brokers"));
  }
  auto result = std::unique_ptr<MockCluster>(new MockCluster(std::move(impl)));
  return result;
}

MockCluster::MockCluster(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)),
      bootstrap_servers_(rd_kafka_mock_cluster_bootstraps(impl_->cluster)) {}

MockCluster::~MockCluster() = default;

absl::Status MockCluster::CreateTopic(const std::string& name, int partitions) {
  return KafkaError(absl::StrCat("create mock topic ", name),
                    rd_kafka_mock_topic_create(impl_->cluster, name.c_str(), partitions,
                                               /*replication_factor=*/1));
}

absl::Status MockCluster::SetBrokerUp(int node_id, bool up) {
  return KafkaError(absl::StrCat("set mock broker ", node_id, up ? " up" : " down"),
                    up ? rd_kafka_mock_broker_set_up(impl_->cluster, node_id)
                       : rd_kafka_mock_broker_set_down(impl_->cluster, node_id));
}

}  // namespace prodops::ingest
