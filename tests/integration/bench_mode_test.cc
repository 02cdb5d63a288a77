// prodopsd --exit-when-caught-up, the mode bench/run.sh measures: the daemon
// reads every partition to its end, makes the state durable, exits 0 and
// prints exactly how many messages it consumed. Against librdkafka's mock
// cluster over loopback sockets.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/ingest/mock_cluster.h"
#include "daemon/ingest/producer.h"
#include "daemon/sim/encode.h"
#include "gtest/gtest.h"
#include "prodops/v1/events.pb.h"
#include "tests/integration/mock_kafka.h"
#include "tests/support/daemon_process.h"
#include "tests/support/exposition.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

using prodops::v1::Event;
using prodops::v1::TicketEvent;

constexpr int kTimeoutMs = 90'000;

// How a run of the daemon ended.
struct Outcome {
  int exit_code = -1;  // -1: killed after kTimeoutMs
  std::string out;
  std::string log;
};

// Runs prodopsd with `args` to its end (killing it after kTimeoutMs), stdout
// and stderr to files under `dir`.
Outcome RunToEnd(const std::vector<std::string>& args, const testing::TempDir& dir,
                 const std::string& name) {
  const std::string out_path = dir.File(name + ".out");
  const std::string log_path = dir.File(name + ".log");
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::string binary = testing::DaemonBinary();
    std::vector<char*> argv = {binary.data()};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  Outcome outcome;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      outcome.out = testing::ReadFile(out_path);
      outcome.log = testing::ReadFile(log_path);
      return outcome;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  outcome.out = testing::ReadFile(out_path);
  outcome.log = testing::ReadFile(log_path);
  std::cout
      << name << ": exit " << outcome.exit_code << " after "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
      << " s: " << outcome.out;
  return outcome;
}

// A number field of the one-line JSON summary; -1 if absent.
double Field(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":");
  const size_t at = json.find(key);
  if (at == std::string::npos) return -1;
  const size_t begin = at + key.size();
  const size_t end = json.find_first_of(",}", begin);
  double value = -1;
  if (!absl::SimpleAtod(json.substr(begin, end - begin), &value)) return -1;
  return value;
}

class BenchModeTest : public ::testing::Test {
 protected:
  static constexpr const char* kUsageTopic = "bm.usage";     // protobuf, bare UsageEvent
  static constexpr const char* kTicketTopic = "bm.tickets";  // JSON, bare TicketEvent
  static constexpr const char* kQuietTopic = "bm.quiet";     // stays empty

  void SetUp() override {
    absl::StatusOr<testing::MockKafka> kafka = testing::StartMockKafka(
        3, {{kUsageTopic, 4}, {kTicketTopic, 4}, {kQuietTopic, 4}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    cluster_ = std::move(kafka->cluster);
    producer_ = std::move(kafka->producer);
    port_ = testing::FreePort();
    config_path_ = dir_.File("prodopsd.textproto");
    testing::WriteFile(config_path_, Config());
  }

  std::string Config() const {
    return absl::StrCat(
        "kafka { bootstrap_servers: \"", cluster_->bootstrap_servers(),
        "\" group_id: \"bench-mode\"\n",
        // A run that follows another joins the group without waiting the
        // default 45 s for the previous member's session to end.
        "  properties { key: \"session.timeout.ms\" value: \"6000\" }\n",
        "  properties { key: \"heartbeat.interval.ms\" value: \"1000\" }\n}\n",
        "topic { name: \"", kUsageTopic, "\" format: PROTOBUF content: USAGE }\n",
        "topic { name: \"", kTicketTopic, "\" format: JSON content: TICKET }\n",
        "topic { name: \"", kQuietTopic, "\" format: JSON content: ENVELOPE }\n",
        "state { dir: \"", dir_.File("state"), "\" }\n",
        "http { listen_address: \"127.0.0.1:", port_, "\" }\n");
  }

  // Produces usage events [first, last) (every fifth one a ticket event
  // instead) and waits until the cluster has them all.
  void Produce(int first, int last) {
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    std::string payload;
    for (int i = first; i < last; ++i) {
      Event event;
      if (i % 5 == 4) {
        TicketEvent* ticket = event.mutable_ticket();
        ticket->set_event_id(absl::StrCat("t-", i));
        ticket->mutable_occurred_at()->set_seconds(now_s - 600 + i % 300);
        ticket->set_ticket_id(absl::StrCat("T", i));
        ticket->set_kind(TicketEvent::CREATED);
        ticket->set_type(TicketEvent::QUESTION);
        ticket->set_team("growth");
        ASSERT_TRUE(sim::EncodeEvent(event, decode::Format::kJson,
                                     decode::Content::kTicket, &payload));
        ASSERT_TRUE(
            producer_->Produce(kTicketTopic, -1, sim::PartitionKey(event), payload).ok());
      } else {
        auto* usage = event.mutable_usage();
        usage->set_event_id(absl::StrCat("u-", i));
        usage->mutable_occurred_at()->set_seconds(now_s - 600 + i % 300);
        usage->set_user_id(absl::StrCat("user-", i % 101));
        usage->set_account_id(absl::StrCat("acct-", i % 13));
        usage->set_feature(i % 2 == 0 ? "search" : "reports");
        usage->set_action("view");
        ASSERT_TRUE(sim::EncodeEvent(event, decode::Format::kProtobuf,
                                     decode::Content::kUsage, &payload));
        ASSERT_TRUE(
            producer_->Produce(kUsageTopic, -1, sim::PartitionKey(event), payload).ok());
      }
    }
    ASSERT_TRUE(producer_->Flush(30'000).ok());
  }

  Outcome RunBenchMode(const std::string& name) {
    return RunToEnd({"--config", config_path_, "--exit-when-caught-up"}, dir_, name);
  }

  testing::TempDir dir_;
  std::unique_ptr<ingest::MockCluster> cluster_;
  std::unique_ptr<ingest::KafkaProducer> producer_;
  int port_ = 0;
  std::string config_path_;
};

TEST_F(BenchModeTest, ExitsOnceCaughtUpWithTheExactCountAndDurableState) {
  Produce(0, 5000);
  // Bad input is consumed and counted too: its offset advances.
  ASSERT_TRUE(
      producer_->Produce(kUsageTopic, -1, "", std::string("\xff\xff\xff", 3)).ok());
  ASSERT_TRUE(producer_->Produce(kTicketTopic, -1, "", "{not json").ok());
  ASSERT_TRUE(producer_->Flush(30'000).ok());

  const Outcome first = RunBenchMode("first");
  ASSERT_EQ(first.exit_code, 0) << first.log;
  EXPECT_EQ(Field(first.out, "events"), 5002) << first.out;
  const double seconds = Field(first.out, "seconds");
  EXPECT_GT(seconds, 0) << first.out;
  EXPECT_GT(Field(first.out, "run_seconds"), seconds) << first.out;
  EXPECT_NEAR(Field(first.out, "events_per_second"), 5002 / seconds,
              0.1 + 5002 / seconds * 1e-3)
      << first.out;

  // Everything read is in the state: a second run has nothing to do.
  const Outcome again = RunBenchMode("again");
  ASSERT_EQ(again.exit_code, 0) << again.log;
  EXPECT_EQ(Field(again.out, "events"), 0) << again.out;

  // Only what was produced since.
  Produce(5000, 5250);
  const Outcome more = RunBenchMode("more");
  ASSERT_EQ(more.exit_code, 0) << more.log;
  EXPECT_EQ(Field(more.out, "events"), 250) << more.out;

  // And the counts those runs left in the state are exact.
  testing::DaemonProcess daemon({"--config", config_path_}, dir_.File("daemon.log"));
  // The tasks' state is loaded when the group assigns their partitions
  // (all at once to a lone member); nothing is left to consume, so the
  // first snapshot that has them is the state as loaded.
  testing::Samples samples;
  for (int i = 0;
       i < 300 && testing::SumOf(samples, "prodops_events_ingested_total") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    samples = testing::ParseExposition(testing::HttpGet(port_, "/metrics").body);
  }
  EXPECT_EQ(testing::SumOf(samples, "prodops_events_ingested_total"), 5250)
      << testing::ReadFile(dir_.File("daemon.log"));
  EXPECT_EQ(testing::SumOf(samples, "prodops_events_rejected_total"), 2);
  EXPECT_EQ(testing::SumOf(samples, "prodops_tickets_created_total"), 1050);
  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(10'000), 0);
}

TEST(BenchModeEmbeddedTest, EmptyEmbeddedTopicsEndAtOnceWithZeroEvents) {
  testing::TempDir dir;
  const std::string config = dir.File("embedded.textproto");
  testing::WriteFile(config, absl::StrCat("kafka { embedded_brokers: 1 }\n"
                                          "topic { name: \"e.usage\" format: PROTOBUF "
                                          "content: USAGE partitions: 2 }\n"
                                          "topic { name: \"e.tickets\" format: JSON "
                                          "content: TICKET partitions: 2 }\n"
                                          "state { dir: \"",
                                          dir.File("state"),
                                          "\" }\n"
                                          "http { listen_address: \"127.0.0.1:0\" }\n"
                                          "simulator { enabled: false }\n"));
  const Outcome outcome =
      RunToEnd({"--config", config, "--exit-when-caught-up"}, dir, "run");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.log;
  EXPECT_EQ(Field(outcome.out, "events"), 0) << outcome.out;
  EXPECT_EQ(Field(outcome.out, "seconds"), 0) << outcome.out;
}

}  // namespace
}  // namespace prodops
