// KafkaConsumer's co-partitioned assignment on librdkafka's mock cluster:
// partition p of every input topic goes to the member that the group gives
// partition p of the first topic, leaves with it, and topics that cannot be
// co-partitioned are refused.
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/ingest/consumer.h"
#include "gtest/gtest.h"
#include "tests/integration/mock_kafka.h"

namespace prodops {
namespace {

using ingest::KafkaConsumer;
using ingest::TopicPartition;

// Records what the consumer asks of it; every partition starts at the
// beginning.
class RecordingListener : public ingest::RebalanceListener {
 public:
  std::optional<int64_t> StartOffset(const TopicPartition& tp) override {
    started.push_back(tp);
    return std::nullopt;
  }
  void BeforeRevoke(const std::vector<TopicPartition>& partitions) override {
    revoked.insert(revoked.end(), partitions.begin(), partitions.end());
  }
  std::vector<TopicPartition> started;
  std::vector<TopicPartition> revoked;
};

// Partition numbers per topic.
std::map<std::string, std::set<int32_t>> NumbersByTopic(
    const std::vector<TopicPartition>& partitions) {
  std::map<std::string, std::set<int32_t>> numbers;
  for (const TopicPartition& tp : partitions) numbers[tp.topic].insert(tp.partition);
  return numbers;
}

struct Member {
  RecordingListener listener;
  std::unique_ptr<KafkaConsumer> consumer;
  // Messages received, per partition.
  std::map<TopicPartition, int> received;
};

class ConsumerGroupTest : public ::testing::Test {
 protected:
  // Starts the mock cluster with `topics` and puts `per_partition` messages
  // on every partition.
  void StartKafka(const std::vector<std::pair<std::string, int>>& topics,
                  int per_partition) {
    absl::StatusOr<testing::MockKafka> kafka = testing::StartMockKafka(1, topics);
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    for (const auto& [topic, partitions] : topics) {
      topic_names_.push_back(topic);
      for (int p = 0; p < partitions; ++p) {
        for (int i = 0; i < per_partition; ++i) {
          ASSERT_TRUE(kafka_.producer->Produce(topic, p, "key", "value", {}).ok());
        }
      }
    }
    ASSERT_TRUE(kafka_.producer->Flush(10'000).ok());
  }

  void Join(Member* member) {
    ingest::ConsumerOptions options;
    options.bootstrap_servers = kafka_.cluster->bootstrap_servers();
    options.group_id = "copartitioned";
    options.topics = topic_names_;
    // Joins and rebalances within seconds, not the default 45 s session.
    options.extra_properties = {{"session.timeout.ms", "6000"},
                                {"heartbeat.interval.ms", "500"}};
    absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer =
        KafkaConsumer::Create(options, &member->listener);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    member->consumer = *std::move(consumer);
  }

  // Polls every member until `done` holds or `seconds` have passed.
  template <typename Done>
  bool PollUntil(const std::vector<Member*>& members, Done done, int seconds = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      for (Member* member : members) {
        member->consumer->Poll(50, 1000, [&](const ingest::Message& m) {
          ++member->received[{std::string(m.topic), m.partition}];
        });
      }
      if (done()) return true;
    }
    return false;
  }

  testing::MockKafka kafka_;
  std::vector<std::string> topic_names_;
};

TEST_F(ConsumerGroupTest, PartitionPOfEveryTopicGoesToTheSameMemberAndLeavesWithIt) {
  StartKafka({{"usage", 4}, {"tickets", 4}, {"exposures", 4}}, 5);
  Member first;
  Member second;
  Join(&first);
  Join(&second);
  // Every message read once, by whichever member holds its partition.
  const auto all_read = [&] {
    int total = 0;
    for (const Member* member : {&first, &second}) {
      for (const auto& [tp, n] : member->received) total += n;
    }
    return total == 3 * 4 * 5 && !first.consumer->Assignment().empty() &&
           !second.consumer->Assignment().empty();
  };
  ASSERT_TRUE(PollUntil({&first, &second}, all_read));

  std::set<int32_t> all_numbers;
  for (Member* member : {&first, &second}) {
    const std::map<std::string, std::set<int32_t>> held =
        NumbersByTopic(member->consumer->Assignment());
    ASSERT_EQ(held.size(), 3u);
    EXPECT_EQ(held.at("tickets"), held.at("usage"));
    EXPECT_EQ(held.at("exposures"), held.at("usage"));
    for (int32_t p : held.at("usage")) {
      EXPECT_TRUE(all_numbers.insert(p).second) << "partition " << p << " held twice";
    }
    // A member read only the partitions it holds, each exactly once.
    for (const auto& [tp, n] : member->received) {
      EXPECT_TRUE(held.at(tp.topic).contains(tp.partition)) << tp.topic << tp.partition;
      EXPECT_EQ(n, 5) << tp.topic << "[" << tp.partition << "]";
    }
    EXPECT_TRUE(member->consumer->status().ok()) << member->consumer->status();
  }
  EXPECT_EQ(all_numbers, (std::set<int32_t>{0, 1, 2, 3}));

  // Leaving revokes the followers with the group's partitions.
  const std::vector<TopicPartition> held = first.consumer->Assignment();
  first.listener.revoked.clear();
  first.consumer->Close();
  EXPECT_EQ(NumbersByTopic(first.listener.revoked), NumbersByTopic(held));
  second.consumer->Close();
}

TEST_F(ConsumerGroupTest, TopicsWithDifferentPartitionCountsAreRefused) {
  StartKafka({{"usage", 4}, {"tickets", 2}}, 3);
  Member member;
  Join(&member);
  ASSERT_TRUE(PollUntil({&member}, [&] { return !member.consumer->status().ok(); }));
  EXPECT_NE(member.consumer->status().message().find("usage has 4, tickets has 2"),
            std::string::npos)
      << member.consumer->status();
  // Nothing is read: the group's partitions are held paused, no follower.
  PollUntil({&member}, [] { return false; }, 3);
  EXPECT_TRUE(member.received.empty());
  EXPECT_EQ(NumbersByTopic(member.consumer->Assignment()).count("tickets"), 0u);
  member.consumer->Close();
}

}  // namespace
}  // namespace prodops
