// TopicReader on librdkafka's mock cluster: every partition of its topics,
// from the positions the caller gives, outside any group, to their end and
// then as messages arrive.
#include "daemon/ingest/topic_reader.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/mock_kafka.h"

namespace prodops {
namespace {

using ingest::Message;
using ingest::TopicPartition;

class TopicReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::MockKafka> kafka =
        testing::StartMockKafka(1, {{"releases", 3}, {"other", 2}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
  }

  // `count` messages on each partition of `topic`, values "<p>-<i>" from
  // `first`.
  void Produce(const std::string& topic, int partitions, int first, int count) {
    for (int p = 0; p < partitions; ++p) {
      for (int i = first; i < first + count; ++i) {
        ASSERT_TRUE(
            kafka_.producer->Produce(topic, p, "k", absl::StrCat(p, "-", i), {}).ok());
      }
    }
    ASSERT_TRUE(kafka_.producer->Flush(10'000).ok());
  }

  std::unique_ptr<ingest::TopicReader> Reader(std::vector<std::string> topics,
                                              ingest::TopicReader::StartOffset start) {
    ingest::TopicReaderOptions options;
    options.bootstrap_servers = kafka_.cluster->bootstrap_servers();
    options.topics = std::move(topics);
    options.group_id = "reader-test";
    options.timeout_ms = 10'000;
    absl::StatusOr<std::unique_ptr<ingest::TopicReader>> reader =
        ingest::TopicReader::Create(options, std::move(start));
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? *std::move(reader) : nullptr;
  }

  testing::MockKafka kafka_;
};

// Values read, per partition.
using Received = std::map<TopicPartition, std::vector<std::string>>;

std::vector<std::string> Of(const Received& received, const std::string& topic,
                            int32_t partition) {
  const auto it = received.find(TopicPartition{topic, partition});
  return it == received.end() ? std::vector<std::string>() : it->second;
}

ingest::TopicReader::OnMessage Into(Received* received) {
  return [received](const Message& m) {
    (*received)[{std::string(m.topic), m.partition}].emplace_back(m.payload);
  };
}

// Polls until `count` messages arrived (or 20 s passed); how many did.
size_t PollFor(ingest::TopicReader& reader, size_t count, Received* received) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  size_t total = 0;
  while (total < count && std::chrono::steady_clock::now() < deadline) {
    total += reader.Poll(100, Into(received));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return total;
}

TEST_F(TopicReaderTest, CatchUpReadsEveryPartitionToItsEndFromTheGivenOffsets) {
  Produce("releases", 3, 0, 5);
  // Partition 1 resumes after its third message; the others start over.
  auto reader =
      Reader({"releases"}, [](const TopicPartition& tp) -> std::optional<int64_t> {
        if (tp.partition == 1) return 3;
        return std::nullopt;
      });
  ASSERT_NE(reader, nullptr);
  Received received;
  ASSERT_TRUE(reader->CatchUp(Into(&received)).ok());
  EXPECT_EQ(received.size(), 3u);
  EXPECT_EQ(Of(received, "releases", 0),
            (std::vector<std::string>{"0-0", "0-1", "0-2", "0-3", "0-4"}));
  EXPECT_EQ(Of(received, "releases", 1), (std::vector<std::string>{"1-3", "1-4"}));
  EXPECT_EQ(Of(received, "releases", 2).size(), 5u);
  EXPECT_TRUE(Of(received, "other", 0).empty()) << "not one of its topics";

  // Then Poll delivers what arrives later.
  Produce("releases", 3, 5, 2);
  Received later;
  EXPECT_EQ(PollFor(*reader, 6, &later), 6u);
  EXPECT_EQ(Of(later, "releases", 0), (std::vector<std::string>{"0-5", "0-6"}));
  // What the lag metric is computed from.
  EXPECT_EQ(reader->Partitions().size(), 3u);
  EXPECT_EQ(reader->HighWatermark({"releases", 0}), 7);
}

// (A topic missing at the start is looked for again from Poll; the mock
// cluster creates any topic a client asks about, so that is not shown here.)
TEST_F(TopicReaderTest, AnEmptyTopicEndsCatchUpAtOnceAndIsReadOnceWrittenTo) {
  auto reader = Reader({"releases"},
                       [](const TopicPartition&) { return std::optional<int64_t>(); });
  ASSERT_NE(reader, nullptr);
  Received received;
  ASSERT_TRUE(reader->CatchUp(Into(&received)).ok());
  EXPECT_TRUE(received.empty());
  Produce("releases", 3, 0, 3);
  EXPECT_EQ(PollFor(*reader, 9, &received), 9u);
  EXPECT_EQ(Of(received, "releases", 1), (std::vector<std::string>{"1-0", "1-1", "1-2"}));
}

}  // namespace
}  // namespace prodops
