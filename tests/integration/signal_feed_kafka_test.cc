// The downstream feed on a Kafka topic, read back by kcat (a client that
// shares no code with prodopsd): once the watermark has passed a window's
// end and its allowed lateness, every series the exposition showed for
// that window has a final SignalUpdate with the same value.
#include <signal.h>
#include <stdio.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/decode/decode.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/ingest/producer.h"
#include "daemon/sim/encode.h"
#include "daemon/sim/simulator.h"
#include "gtest/gtest.h"
#include "prodops/v1/signal_update.pb.h"
#include "tests/integration/mock_kafka.h"
#include "tests/support/daemon_process.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

using prodops::v1::SignalUpdate;
using testing::HttpGet;
using testing::ParseExposition;

constexpr const char* kInput = "feed.events";
constexpr const char* kOutput = "feed.signals";
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kLatenessMs = 60'000;

// Every message of `topic`, read from the beginning by kcat: key and value.
std::vector<std::pair<std::string, std::string>> ReadWithKcat(
    const std::string& bootstrap, const std::string& topic) {
  // "%K %S " gives the lengths, so that binary values need no delimiter.
  const std::string command = absl::StrCat("kcat -C -q -b ", bootstrap, " -t ", topic,
                                           " -X isolation.level=read_committed",
                                           " -o beginning -e -f '%K %S %k%s'");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string output;
  char buffer[65536];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;)
    output.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  std::vector<std::pair<std::string, std::string>> messages;
  size_t pos = 0;
  while (pos < output.size()) {
    const size_t space1 = output.find(' ', pos);
    const size_t space2 = output.find(' ', space1 + 1);
    size_t key_length = 0;
    size_t value_length = 0;
    if (space1 == std::string::npos || space2 == std::string::npos ||
        !absl::SimpleAtoi(output.substr(pos, space1 - pos), &key_length) ||
        !absl::SimpleAtoi(output.substr(space1 + 1, space2 - space1 - 1),
                          &value_length) ||
        space2 + 1 + key_length + value_length > output.size()) {
      ADD_FAILURE() << "unexpected kcat output at byte " << pos;
      break;
    }
    messages.emplace_back(output.substr(space2 + 1, key_length),
                          output.substr(space2 + 1 + key_length, value_length));
    pos = space2 + 1 + key_length + value_length;
  }
  return messages;
}

// `name{a="x",b="y"}` with the labels sorted by name (simple values only).
std::string Normalized(const std::string& series) {
  const size_t brace = series.find('{');
  if (brace == std::string::npos || series.back() != '}') return series;
  std::vector<std::string> labels = absl::StrSplit(
      series.substr(brace + 1, series.size() - brace - 2), "\",", absl::SkipEmpty());
  for (size_t i = 0; i + 1 < labels.size(); ++i) labels[i].push_back('"');
  std::sort(labels.begin(), labels.end());
  return series.substr(0, brace + 1) + absl::StrJoin(labels, ",") + "}";
}

// The exposition form of an update's series, labels sorted by name.
std::string SeriesOf(const SignalUpdate& update) {
  std::map<std::string, std::string> labels(update.labels().begin(),
                                            update.labels().end());
  labels["window"] = update.window();
  std::string series = update.signal() + "{";
  for (const auto& [name, value] : labels) {
    if (series.back() != '{') series.push_back(',');
    absl::StrAppend(&series, name, "=\"", value, "\"");
  }
  return series + "}";
}

class SignalFeedKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::MockKafka> kafka =
        testing::StartMockKafka(1, {{kInput, 2}, {kOutput, 1}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    cluster_ = std::move(kafka->cluster);
    producer_ = std::move(kafka->producer);
  }

  std::string bootstrap() const { return cluster_->bootstrap_servers(); }

  void Produce(const prodops::v1::Event& event) {
    std::string payload;
    ASSERT_TRUE(sim::EncodeEvent(event, decode::Format::kProtobuf,
                                 decode::Content::kEnvelope, &payload));
    ASSERT_TRUE(producer_->Produce(kInput, -1, sim::PartitionKey(event), payload).ok());
  }

  // A daemon in event time with `output_extra` in its output block.
  std::unique_ptr<testing::DaemonProcess> StartDaemon(const std::string& output_extra) {
    const std::string config = dir_.File("feed.textproto");
    testing::WriteFile(
        config,
        absl::StrCat(
            "kafka { bootstrap_servers: \"", bootstrap(), "\" }\n", "topic { name: \"",
            kInput, "\" format: PROTOBUF content: ENVELOPE }\n", "state { dir: \"",
            dir_.File("state"), "\" flush_interval_ms: 100 }\n",
            "windows { clock: EVENT_TIME allowed_lateness_seconds: ", kLatenessMs / 1000,
            " }\n", "output { topic: \"", kOutput, "\" ", output_extra, " }\n",
            "http { listen_address: \"127.0.0.1:", port_, "\" }\n"));
    return std::make_unique<testing::DaemonProcess>(
        std::vector<std::string>{"--config", config}, dir_.File("daemon.log"));
  }

  // Waits until the daemon has accounted for `count` messages.
  void WaitForAccounted(size_t count) {
    auto accounted = [&] {
      return testing::AccountedEvents(ParseExposition(HttpGet(port_, "/metrics").body));
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline && accounted() < count) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(accounted(), count) << testing::ReadFile(dir_.File("daemon.log"));
  }

  // Runs the scenario with `output_extra` in the config's output block.
  void FinalUpdatesOfAClosedWindowEqualTheExposition(const std::string& output_extra);

  testing::TempDir dir_;
  std::unique_ptr<ingest::MockCluster> cluster_;
  std::unique_ptr<ingest::KafkaProducer> producer_;
  const int port_ = testing::FreePort();
};

void SignalFeedKafkaTest::FinalUpdatesOfAClosedWindowEqualTheExposition(
    const std::string& output_extra) {
  // Three hours of the simulated product ending at the last UTC midnight,
  // so that a 1h and a 1d window end together at `end_ms`; the last event
  // is moved to end_ms - 1 ms, where the exposition's trailing windows
  // are exactly the closed windows.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t end_ms = now_ms / kDayMs * kDayMs;
  std::vector<prodops::v1::Event> events;
  sim::SimulatorOptions shape;
  shape.events_per_second = 2;
  shape.users = 200;
  shape.seed = 11;
  sim::Simulator(shape).Generate(end_ms - 3 * 3'600'000, end_ms, &events);
  ASSERT_GT(events.size(), 10'000u);
  prodops::v1::Event last_usage;
  for (const auto& event : events) {
    ASSERT_LT(decode::OccurredAtMillis(event), end_ms);
    Produce(event);
    if (event.has_usage()) last_usage = event;
  }
  // The same user on the same feature once more: no windowed value moves,
  // but "now" becomes end_ms - 1.
  last_usage.mutable_usage()->set_event_id("last-instant");
  last_usage.mutable_usage()->mutable_occurred_at()->set_seconds(end_ms / 1000 - 1);
  last_usage.mutable_usage()->mutable_occurred_at()->set_nanos(999'000'000);
  Produce(last_usage);
  ASSERT_TRUE(producer_->Flush(30'000).ok());

  std::unique_ptr<testing::DaemonProcess> daemon = StartDaemon(output_extra);
  WaitForAccounted(events.size() + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a flush later
  const testing::Samples at_end = ParseExposition(HttpGet(port_, "/metrics").body);

  // One event past the lateness closes both windows for good.
  prodops::v1::Event closing = last_usage;
  closing.mutable_usage()->set_event_id("closing");
  closing.mutable_usage()->mutable_occurred_at()->set_seconds(
      (end_ms + kLatenessMs) / 1000 + 1);
  Produce(closing);
  ASSERT_TRUE(producer_->Flush(30'000).ok());

  std::map<std::string, SignalUpdate> finals;  // by series
  size_t updates = 0;
  const auto feed_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < feed_deadline) {
    finals.clear();
    const auto messages = ReadWithKcat(bootstrap(), kOutput);
    updates = messages.size();
    for (const auto& [key, value] : messages) {
      SignalUpdate update;
      ASSERT_TRUE(update.ParseFromString(value)) << key;
      const int64_t window_end_ms = update.window_end().seconds() * 1000;
      EXPECT_EQ(Normalized(key.substr(0, key.rfind('@'))), SeriesOf(update));
      EXPECT_EQ(key.substr(key.rfind('@') + 1),
                absl::StrCat(update.window_start().seconds() * 1000));
      // Only the 1h and 1d windows: the 7d window ends at a midnight too,
      // one Thursday in seven.
      const bool compared_window = update.window() == "1h" || update.window() == "1d";
      if (update.is_final() && window_end_ms == end_ms && compared_window) {
        finals[SeriesOf(update)] = update;
      }
    }
    if (!finals.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  size_t compared = 0;
  for (const auto& [series, value] : at_end) {
    if (series.find("window=\"1h\"") == std::string::npos &&
        series.find("window=\"1d\"") == std::string::npos) {
      continue;
    }
    ++compared;
    const auto it = finals.find(Normalized(series));
    ASSERT_NE(it, finals.end())
        << series << " has no final update; " << updates << " updates read";
    EXPECT_DOUBLE_EQ(it->second.value(), value) << series;
  }
  EXPECT_EQ(compared, finals.size())
      << "every final update is a series of the exposition";
  EXPECT_GT(compared, 50u);
  std::cout << updates << " updates read by kcat; " << compared
            << " series of the 1h and 1d windows ending at " << end_ms << " compared\n";
  daemon->Kill(SIGTERM);
  EXPECT_EQ(daemon->Wait(30'000), 0) << testing::ReadFile(dir_.File("daemon.log"));
  // Every flush's output (and transaction) went through the first time.
  const std::string log = testing::ReadFile(dir_.File("daemon.log"));
  EXPECT_EQ(log.find("cannot write state"), std::string::npos) << log;
}

TEST_F(SignalFeedKafkaTest, FinalUpdatesOfAClosedWindowEqualTheExposition) {
  FinalUpdatesOfAClosedWindowEqualTheExposition("");
}

// The same with each flush's updates in a transaction with the input
// offsets; kcat reads with isolation.level=read_committed.
TEST_F(SignalFeedKafkaTest, TransactionalFeedGivesTheSameFinalUpdates) {
  FinalUpdatesOfAClosedWindowEqualTheExposition("transactional_id: \"prodopsd-feed-0\"");
}

}  // namespace
}  // namespace prodops
