#include "daemon/ingest/admin.h"

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"

namespace prodops::ingest {
namespace {

constexpr int kTimeoutMs = 30'000;

struct AdminDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
  void operator()(rd_kafka_AdminOptions_t* options) const {
    rd_kafka_AdminOptions_destroy(options);
  }
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
template <typename T>
using AdminHandle = std::unique_ptr<T, AdminDeleter>;

}  // namespace

struct KafkaAdmin::Impl {
  internal::KafkaHandle rk;
};

absl::StatusOr<std::unique_ptr<KafkaAdmin>> KafkaAdmin::Create(
    const std::string& bootstrap_servers, const KafkaProperties& extra_properties) {
  KafkaProperties properties = {{"bootstrap.servers", bootstrap_servers},
                                {"client.id", "prodopsd-admin"}};
  for (const auto& [name, value] : extra_properties) properties[name] = value;
  // A metadata request from a producer handle would let a broker with
  // auto.create.topics.enable create a missing topic with its defaults (not
  // compacted): the topics must be created here, with their configs.
  properties["allow.auto.create.topics"] = "false";
  absl::StatusOr<internal::ConfHandle> conf = internal::MakeConf(properties);
  if (!conf.ok()) return conf.status();
  absl::StatusOr<internal::KafkaHandle> rk =
      internal::MakeClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  auto impl = std::make_unique<Impl>();
  impl->rk = *std::move(rk);
  return std::unique_ptr<KafkaAdmin>(new KafkaAdmin(std::move(impl)));
}

KafkaAdmin::KafkaAdmin(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaAdmin::~KafkaAdmin() = default;

absl::StatusOr<int> KafkaAdmin::PartitionCount(const std::string& topic) const {
  return internal::PartitionCount(impl_->rk.get(), topic, kTimeoutMs);
}

absl::Status KafkaAdmin::EnsureTopics(const std::vector<TopicSpec>& topics) const {
  std::vector<const TopicSpec*> missing;
  for (const TopicSpec& spec : topics) {
    absl::StatusOr<int> count = PartitionCount(spec.name);
    if (count.ok()) {
      if (*count != spec.partitions) {
        return absl::FailedPreconditionError(
            absl::StrCat("topic ", spec.name, " has ", *count, " partitions; ",
                         spec.partitions, " are needed"));
      }
    } else if (absl::IsNotFound(count.status())) {
      missing.push_back(&spec);
    } else {
      return count.status();
    }
  }
  if (missing.empty()) return absl::OkStatus();

  char error[512];
  std::vector<AdminHandle<rd_kafka_NewTopic_t>> owned;
  std::vector<rd_kafka_NewTopic_t*> requests;
  for (const TopicSpec* spec : missing) {
    AdminHandle<rd_kafka_NewTopic_t> topic(
        rd_kafka_NewTopic_new(spec->name.c_str(), spec->partitions,
                              spec->replication_factor, error, sizeof(error)));
    if (topic == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot describe topic ", spec->name, ": ", error));
    }
    for (const auto& [name, value] : spec->configs) {
      if (rd_kafka_resp_err_t err =
              rd_kafka_NewTopic_set_config(topic.get(), name.c_str(), value.c_str());
          err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return internal::KafkaError(absl::StrCat("topic ", spec->name, " config ", name),
                                    err);
      }
    }
    requests.push_back(topic.get());
    owned.push_back(std::move(topic));
  }
  internal::QueueHandle queue(rd_kafka_queue_new(impl_->rk.get()));
  AdminHandle<rd_kafka_AdminOptions_t> options(
      rd_kafka_AdminOptions_new(impl_->rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), kTimeoutMs, error,
                                            sizeof(error));
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), kTimeoutMs, error,
                                              sizeof(error));
  rd_kafka_CreateTopics(impl_->rk.get(), requests.data(), requests.size(), options.get(),
                        queue.get());
  AdminHandle<rd_kafka_event_t> event(
      rd_kafka_queue_poll(queue.get(), kTimeoutMs + 5'000));
  if (event == nullptr) {
    return absl::DeadlineExceededError("creating topics: no answer from the cluster");
  }
  if (rd_kafka_resp_err_t err = rd_kafka_event_error(event.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("creating topics: ", rd_kafka_event_error_string(event.get())));
  }
  const rd_kafka_CreateTopics_result_t* result =
      rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    const char* name = rd_kafka_topic_result_name(results[i]);
    // Another member may have created it meanwhile.
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR ||
        err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Log(LogLevel::kInfo, absl::StrCat("created topic ", name));
      }
      continue;
    }
    const char* detail = rd_kafka_topic_result_error_string(results[i]);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create topic ", name, ": ",
                     detail != nullptr ? detail : rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

}  // namespace prodops::ingest
