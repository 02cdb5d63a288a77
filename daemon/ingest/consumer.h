#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"

namespace prodops::ingest {

// Decides where partitions start and saves progress before they leave.
// Called on the thread that calls KafkaConsumer::Poll or Close.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  // `tp` is being assigned: the next offset to read from it, as recorded in
  // the state that was built from it; nullopt to read from the beginning
  // (no state yet). Called once per partition and assignment.
  virtual std::optional<int64_t> StartOffset(const TopicPartition& tp) = 0;
  // `partitions` are about to be taken away: make what was processed from
  // them durable now.
  virtual void BeforeRevoke(const std::vector<TopicPartition>& partitions) = 0;
};

struct ConsumerGroupMetadata;  // daemon/ingest/kafka_handles.h

struct ConsumerOptions {
  // Required.
  std::string bootstrap_servers;
  // Required.
  std::string group_id;
  // Topics to read. Required. They must be co-partitioned (the same number
  // of partitions, keyed alike): the group is subscribed to the first only,
  // and each of its partitions brings the same partition of every other
  // topic with it (see KafkaConsumer).
  std::vector<std::string> topics;
  // Passed to librdkafka after prodopsd's own settings (security, tuning).
  KafkaProperties extra_properties;
  // Static membership (group.instance.id); empty: dynamic.
  std::string group_instance_id;
  // client.id. Default: "prodopsd".
  std::string client_id = "prodopsd";
};

// A member of a consumer group with cooperative-sticky assignment whose
// positions come from the application's state, not from Kafka: on
// assignment every partition starts at RebalanceListener::StartOffset.
// Offsets are committed to Kafka only as a courtesy to lag tools (Commit).
//
// Co-partitioned topics: state built from partition p of every topic
// belongs together (a task), so partition p of every topic must be read by
// the same member. Kafka's assignors do not promise that across topics
// (cooperative-sticky balances each partition on its own), so the group is
// subscribed to the first topic only, and the member that is assigned its
// partition p also takes partition p of the others, and gives them up with
// it. Topics whose partition counts differ cannot be co-partitioned: the
// assignment is then refused (paused) and status() says why.
//
// Not thread-safe: one thread calls Poll, Commit and Close. BrokersUp may be
// read from any thread.
class KafkaConsumer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KafkaConsumer>> Create(
      const ConsumerOptions& options, RebalanceListener* listener);
  ~KafkaConsumer();

  // Waits up to `timeout_ms` for the first message, then takes what is
  // already fetched, up to `max_messages`, calling `on_message` for each.
  // Rebalances are handled inside. Returns the number of messages.
  size_t Poll(int timeout_ms, size_t max_messages,
              const std::function<void(const Message&)>& on_message);

  // Asynchronously commits `next_offsets` to the group. Failures are logged,
  // never fatal: the state holds the authoritative offsets.
  void Commit(const std::vector<std::pair<TopicPartition, int64_t>>& next_offsets);

  // Whether at least one broker of the cluster is connected, as of the
  // latest statistics (every second). Thread-safe.
  bool BrokersUp() const;

  std::vector<TopicPartition> Assignment() const;

  // Pauses (or resumes) fetching from every assigned partition; Poll keeps
  // serving the group meanwhile. Resuming starts after the last message
  // Poll delivered: nothing fetched while paused is skipped.
  void SetPaused(bool paused);

  // The group's current metadata (member, generation), for a transactional
  // producer's offsets; null before the group is joined.
  std::unique_ptr<ConsumerGroupMetadata> GroupMetadata() const;

  // The partition's high watermark as last seen by the fetcher, if known;
  // 0 for a topic that did not exist at the latest assignment and has not
  // been fetched from since (it holds no message).
  std::optional<int64_t> HighWatermark(const TopicPartition& tp) const;

  // OK, or why consumption cannot go on (the topics are not
  // co-partitioned); the caller should stop.
  absl::Status status() const;

  // Leaves the group (listener's BeforeRevoke runs) and closes. Idempotent.
  void Close();

  struct Impl;  // opaque; public only so that librdkafka callbacks can see it

 private:
  explicit KafkaConsumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace prodops::ingest
