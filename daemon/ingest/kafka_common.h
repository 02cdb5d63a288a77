#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prodops::ingest {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

// One consumed message. Views are valid only during the callback that
// receives it.
struct Message {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;
  std::string_view payload;
};

// Kafka record headers, in order (names may repeat).
using MessageHeaders = std::vector<std::pair<std::string, std::string>>;

// librdkafka configuration properties, applied in order. Values may be
// secrets: they are never logged.
using KafkaProperties = std::map<std::string, std::string>;

}  // namespace prodops::ingest
