#include "daemon/ingest/producer.h"

#include <algorithm>
#include <atomic>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/ingest/kafka_handles.h"

namespace prodops::ingest {

using internal::KafkaError;
using internal::KafkaHandle;

struct KafkaProducer::Impl {
  KafkaHandle rk;
  uint64_t failures = 0;
  rd_kafka_resp_err_t first_failure = RD_KAFKA_RESP_ERR_NO_ERROR;
  // (topic, partition) -> the offset after the newest delivered message.
  absl::flat_hash_map<std::pair<std::string, int32_t>, int64_t> delivered_end;
};

namespace {

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* impl = static_cast<KafkaProducer::Impl*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    int64_t& end = impl->delivered_end[{rd_kafka_topic_name(m->rkt), m->partition}];
    end = std::max(end, m->offset + 1);
    return;
  }
  if (impl->failures++ == 0) impl->first_failure = m->err;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(
    const ProducerOptions& options) {
  KafkaProperties properties = {
      {"bootstrap.servers", options.bootstrap_servers},
      {"client.id", options.client_id},
      {"enable.idempotence", "true"},
      {"linger.ms", "5"},
  };
  if (!options.transactional_id.empty()) {
    properties["transactional.id"] = options.transactional_id;
  }
  for (const auto& [name, value] : options.extra_properties) properties[name] = value;
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<internal::ConfHandle> conf = internal::MakeConf(properties);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_opaque(conf->get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDelivery);
  absl::StatusOr<KafkaHandle> rk = internal::MakeClient(RD_KAFKA_PRODUCER, *std::move(conf));
  if (!rk.ok()) return rk.status();
  impl->rk = *std::move(rk);
  if (!options.transactional_id.empty()) {
    if (absl::Status s = internal::TransactionError(
            "init transactions", rd_kafka_init_transactions(impl->rk.get(), 30'000));
        !s.ok()) {
      return s;
    }
  }
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(std::move(impl)));
}

KafkaProducer::KafkaProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaProducer::~KafkaProducer() {
  if (absl::Status s = Flush(10'000); !s.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("producer closing: ", s.message()));
  }
}

absl::Status KafkaProducer::Produce(std::string_view topic, int32_t partition,
                                    std::string_view key, std::string_view payload,
                                    const MessageHeaders& headers) {
  return ProduceValue(topic, partition, key, &payload, headers);
}

absl::Status KafkaProducer::ProduceTombstone(std::string_view topic, int32_t partition,
                                             std::string_view key) {
  return ProduceValue(topic, partition, key, nullptr, {});
}

std::optional<int64_t> KafkaProducer::DeliveredEnd(std::string_view topic,
                                                   int32_t partition) const {
  const auto it = impl_->delivered_end.find(std::pair(std::string(topic), partition));
  if (it == impl_->delivered_end.end()) return std::nullopt;
  return it->second;
}

absl::Status KafkaProducer::ProduceValue(std::string_view topic, int32_t partition,
                                         std::string_view key,
                                         const std::string_view* payload,
                                         const MessageHeaders& headers) {
  const std::string topic_name(topic);
  char* value = payload == nullptr ? nullptr : const_cast<char*>(payload->data());
  const size_t value_size = payload == nullptr ? 0 : payload->size();
  while (true) {
    // A new header list per attempt: producev owns it only on success.
    internal::HeadersHandle list;
    if (!headers.empty()) {
      list.reset(rd_kafka_headers_new(headers.size()));
      for (const auto& [name, value] : headers) {
        rd_kafka_header_add(list.get(), name.data(), static_cast<ssize_t>(name.size()),
                            value.data(), static_cast<ssize_t>(value.size()));
      }
    }
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk.get(), RD_KAFKA_V_TOPIC(topic_name.c_str()),
        RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_HEADERS(list.get()),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)list.release();  // the message owns it now
      return absl::OkStatus();
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return KafkaError(absl::StrCat("produce to ", topic_name), err);
    }
    rd_kafka_poll(impl_->rk.get(), 100);  // let deliveries drain the queue
  }
}

void KafkaProducer::Poll() { rd_kafka_poll(impl_->rk.get(), 0); }

absl::Status KafkaProducer::BeginTransaction() {
  return internal::TransactionError("begin transaction",
                                    rd_kafka_begin_transaction(impl_->rk.get()));
}

absl::Status KafkaProducer::SendOffsetsToTransaction(
    const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets,
    const ConsumerGroupMetadata& group, int timeout_ms) {
  if (next_offsets.empty()) return absl::OkStatus();
  const internal::PartitionListHandle list = internal::OffsetList(next_offsets);
  return internal::TransactionError(
      "send offsets to transaction",
      rd_kafka_send_offsets_to_transaction(impl_->rk.get(), list.get(), group.handle,
                                           timeout_ms));
}

absl::Status KafkaProducer::CommitTransaction(int timeout_ms) {
  return internal::TransactionError("commit transaction",
                                    rd_kafka_commit_transaction(impl_->rk.get(), timeout_ms));
}

absl::Status KafkaProducer::AbortTransaction(int timeout_ms) {
  return internal::TransactionError("abort transaction",
                                    rd_kafka_abort_transaction(impl_->rk.get(), timeout_ms));
}

absl::Status KafkaProducer::Flush(int timeout_ms) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(impl_->rk.get(), timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(absl::StrCat("flush (", rd_kafka_outq_len(impl_->rk.get()),
                                   " messages still queued)"),
                      err);
  }
  if (impl_->failures > 0) {
    const uint64_t failures = impl_->failures;
    impl_->failures = 0;
    return KafkaError(absl::StrCat(failures, " messages were not delivered"),
                      impl_->first_failure);
  }
  return absl::OkStatus();
}

}  // namespace prodops::ingest
