// Exactly-once state under crashes: one scenario consumed by a daemon that
// is SIGKILLed 20 times at random moments (during start-up, consumption,
// RocksDB writes, rebalances) ends with the same exposition, series for
// series and value for value, as an uninterrupted run of the same scenario.
//
// Both daemons use the EVENT_TIME clock, so every signal is a function of
// the events alone and the two expositions can be compared exactly.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/ingest/producer.h"
#include "daemon/sim/encode.h"
#include "daemon/sim/simulator.h"
#include "gtest/gtest.h"
#include "tests/integration/mock_kafka.h"
#include "tests/support/daemon_process.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

using testing::DaemonProcess;
using testing::HttpGet;
using testing::ParseExposition;

constexpr const char* kTopic = "fi.events";
constexpr int kKills = 20;

// Families whose values describe the process, not the events.
bool DescribesTheProcess(std::string_view line) {
  for (std::string_view prefix :
       {"prodops_state_", "prodops_window_cache_", "prodops_dedup_", "prodops_consumer_lag",
        "prodops_ready", "prodops_build_info"}) {
    if (line.starts_with(prefix)) return true;
  }
  return false;
}

// The exposition's samples without comments and process metrics.
std::string EventSamples(const std::string& exposition) {
  std::string out;
  for (absl::string_view piece : absl::StrSplit(exposition, '\n', absl::SkipEmpty())) {
    const std::string_view line(piece.data(), piece.size());
    if (line.starts_with("#") || DescribesTheProcess(line)) continue;
    out.append(line).push_back('\n');
  }
  return out;
}

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::MockKafka> kafka = testing::StartMockKafka(3, {{kTopic, 4}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    cluster_ = std::move(kafka->cluster);
    producer_ = std::move(kafka->producer);

    // Four hours of the simulated product, ending now: every kind of event,
    // ticket lifecycles, releases with incident bursts, an experiment.
    sim::SimulatorOptions shape;
    shape.events_per_second = 3;
    shape.users = 3000;
    shape.seed = 7;
    sim::Simulator simulator(shape);
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    simulator.Generate(now_ms - 4 * 3'600'000, now_ms, &events_);
    ASSERT_GT(events_.size(), 30'000u);
  }

  std::string WriteConfig(const std::string& name) {
    const std::string path = dir_.File(name + ".textproto");
    testing::WriteFile(
        path, absl::StrCat(
                  "kafka { bootstrap_servers: \"", cluster_->bootstrap_servers(),
                  "\" group_id: \"", name, "\"\n",
                  // Static membership: a restarted instance takes its partitions
                  // back without waiting for the killed one's session to end.
                  "  group_instance_id: \"", name, "-0\"\n",
                  "  properties { key: \"session.timeout.ms\" value: \"3000\" }\n",
                  "  properties { key: \"heartbeat.interval.ms\" value: \"300\" }\n}\n",
                  "topic { name: \"", kTopic, "\" format: PROTOBUF content: ENVELOPE }\n",
                  // The smallest window cache: buckets are dropped from memory
                  // and read back all along, so kills hit that too.
                  "state { dir: \"", dir_.File(name + "-state"),
                  "\" flush_interval_ms: 100 window_cache_bytes: 1048576 }\n",
                  "windows { clock: EVENT_TIME }\n",
                  "http { listen_address: \"127.0.0.1:", port_, "\" }\n"));
    return path;
  }

  void Produce(size_t first, size_t last) {
    for (size_t i = first; i < last && i < events_.size(); ++i) {
      std::string payload;
      ASSERT_TRUE(sim::EncodeEvent(events_[i], decode::Format::kProtobuf,
                                   decode::Content::kEnvelope, &payload));
      ASSERT_TRUE(
          producer_->Produce(kTopic, -1, sim::PartitionKey(events_[i]), payload).ok());
    }
    ASSERT_TRUE(producer_->Flush(30'000).ok());
  }

  // Events the daemon has accounted for (accepted, rejected or duplicate).
  double Accounted() {
    return testing::AccountedEvents(ParseExposition(HttpGet(port_, "/metrics").body));
  }

  // Runs a daemon until it has accounted for every event, then returns its
  // exposition (taken after one more flush interval).
  std::string RunToTheEnd(const std::string& config, const std::string& log) {
    DaemonProcess daemon({"--config", config}, log);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline && Accounted() < events_.size()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string exposition = HttpGet(port_, "/metrics").body;
    EXPECT_EQ(Accounted(), events_.size()) << testing::ReadFile(log);
    daemon.Kill(SIGTERM);
    EXPECT_EQ(daemon.Wait(30'000), 0) << testing::ReadFile(log);
    return exposition;
  }

  testing::TempDir dir_;
  std::unique_ptr<ingest::MockCluster> cluster_;
  std::unique_ptr<ingest::KafkaProducer> producer_;
  std::vector<prodops::v1::Event> events_;
  int port_ = testing::FreePort();
};

TEST_F(FaultInjectionTest, TwentyRandomKillsChangeNothing) {
  // The faulty run: each instance is killed while a chunk of the events is
  // being produced and consumed; every fifth one already while it starts
  // (opening RocksDB, joining the group).
  const std::string faulty = WriteConfig("faulty");
  const size_t chunk = events_.size() / (kKills + 1);
  std::mt19937 random(20261126);
  for (int kill = 0; kill < kKills; ++kill) {
    double seen = 0;
    DaemonProcess daemon({"--config", faulty}, dir_.File("faulty.log"));
    const bool while_starting = kill % 5 == 4;
    // Once partitions are assigned (lag is exposed for them), the chunk is
    // produced over about a second, so that consumption is under way at the
    // kill.
    const auto assigned_by = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!while_starting && std::chrono::steady_clock::now() < assigned_by &&
           HttpGet(port_, "/metrics").body.find("prodops_consumer_lag_messages{") ==
               std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::thread producer([&] {
      for (size_t i = kill * chunk; i < (kill + 1) * chunk; i += 100) {
        Produce(i, std::min(i + 100, (kill + 1) * chunk));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    const char* when = "while starting";
    int delay_ms = 0;
    if (while_starting) {
      delay_ms = std::uniform_int_distribution<int>(0, 800)(random);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    } else {
      when = "while consuming";
      const double before = Accounted();  // what its state held at the start
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (std::chrono::steady_clock::now() < deadline &&
             (seen = Accounted()) <= before) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (seen <= before) {
        producer.join();  // a joinable std::thread must not be destroyed
        FAIL() << "no progress; log:\n" << testing::ReadFile(dir_.File("faulty.log"));
      }
      delay_ms = std::uniform_int_distribution<int>(0, 600)(random);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
    daemon.Kill(SIGKILL);
    producer.join();
    ASSERT_EQ(daemon.Wait(10'000), 128 + SIGKILL);
    std::cout << "kill " << kill + 1 << " " << when << ", " << delay_ms << " ms after "
              << seen << " of " << (kill + 1) * chunk << " events were accounted for\n";
  }
  Produce(kKills * chunk, events_.size());
  const std::string after_kills = RunToTheEnd(faulty, dir_.File("faulty.log"));

  // The reference: the same events, one uninterrupted daemon.
  const std::string reference =
      RunToTheEnd(WriteConfig("reference"), dir_.File("ref.log"));

  const std::string expected = EventSamples(reference);
  const std::string actual = EventSamples(after_kills);
  EXPECT_GT(std::count(expected.begin(), expected.end(), '\n'), 200)
      << "the scenario should move many series";
  EXPECT_EQ(actual, expected);
  const testing::Samples reference_samples = ParseExposition(reference);
  const double dropped = reference_samples.at("prodops_window_cache_evictions_total");
  const double read_back = reference_samples.at("prodops_window_cache_store_reads_total");
  EXPECT_GT(dropped, 0);
  EXPECT_GT(read_back, 0);
  std::cout << events_.size() << " events, "
            << std::count(expected.begin(), expected.end(), '\n')
            << " series compared after " << kKills << " kills; the reference run dropped "
            << dropped << " window buckets and read back " << read_back << "\n";
}

}  // namespace
}  // namespace prodops
