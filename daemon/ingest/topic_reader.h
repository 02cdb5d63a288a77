#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/ingest/kafka_common.h"

namespace prodops::ingest {

struct TopicReaderOptions {
  // Required.
  std::string bootstrap_servers;
  // Topics to read whole. Required.
  std::vector<std::string> topics;
  // Passed to librdkafka after prodopsd's own settings (security, tuning).
  KafkaProperties extra_properties;
  // group.id, which only names the reader to the brokers: it never joins a
  // group and never commits. Required.
  std::string group_id;
  // client.id. Default: "prodopsd-broadcast".
  std::string client_id = "prodopsd-broadcast";
  // CatchUp fails when nothing arrives for this long. Default: 30 s.
  int timeout_ms = 30'000;
};

// Reads every partition of some topics, outside the consumer group, from
// positions the caller keeps with its state: what every process must see
// whatever partitions the group gives it (Kafka Streams' global stores).
// A topic that does not exist yet is looked for again every few seconds,
// and read from its beginning once it does. Partitions added to a topic
// later are not read.
//
// Not thread-safe: one thread calls everything.
class TopicReader {
 public:
  // `start(tp)`: the next offset to read from `tp`; nullopt: its beginning.
  using StartOffset = std::function<std::optional<int64_t>(const TopicPartition&)>;
  using OnMessage = std::function<void(const Message&)>;

  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TopicReader>> Create(
      const TopicReaderOptions& options, StartOffset start);
  ~TopicReader();

  // Reads until every partition has reached its end (as a fetch finds it),
  // calling `on_message` for each message: the start of a process catches
  // up before it reads its own partitions.
  [[nodiscard]] absl::Status CatchUp(const OnMessage& on_message);

  // Takes what is already fetched, up to `max_messages`, without waiting.
  // Returns the number of messages.
  size_t Poll(size_t max_messages, const OnMessage& on_message);

  // The partitions read (those of the topics found so far).
  const std::vector<TopicPartition>& Partitions() const;
  // The partition's high watermark as last fetched, if known.
  std::optional<int64_t> HighWatermark(const TopicPartition& tp) const;

  struct Impl;  // opaque; public only so that librdkafka callbacks can see it

 private:
  explicit TopicReader(std::unique_ptr<Impl> impl);
  // Assigns the partitions of the topics that have appeared since.
  void AssignNewTopics(int metadata_timeout_ms);

  std::unique_ptr<Impl> impl_;
};

}  // namespace prodops::ingest
