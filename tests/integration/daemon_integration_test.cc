// The daemon as users run it, against librdkafka's mock cluster (real
// sockets on loopback): exact counts, crash recovery, shutdown, readiness
// and start-up failures.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
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
using testing::DaemonProcess;
using testing::HttpGet;
using testing::ParseExposition;
using testing::Samples;
using testing::SumOf;

constexpr int kPartitions = 4;
constexpr const char* kUsageTopic = "it.usage";      // JSON, bare UsageEvent
constexpr const char* kTicketTopic = "it.tickets";   // protobuf, bare TicketEvent
constexpr const char* kEventsTopic = "it.events";    // JSON envelopes

const char* const kFeatures[] = {"search", "checkout", "reports", "billing", "api"};
const char* const kActions[] = {"view", "click", "submit"};

// What the test produced, as the daemon should count it.
struct Expected {
  std::map<std::string, double> series;  // exposition series -> value
  std::map<std::string, std::set<std::string>> users;  // feature -> user ids
  int64_t accepted = 0;
  int64_t rejected = 0;
  int64_t duplicates = 0;
};

class DaemonIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<std::pair<std::string, int>> topics = {{kUsageTopic, kPartitions},
                                                             {kTicketTopic, kPartitions},
                                                             {kEventsTopic, kPartitions}};
    absl::StatusOr<testing::MockKafka> kafka =
        testing::StartMockKafka(3, topics, {{"socket.timeout.ms", "5000"}});
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    cluster_ = std::move(kafka->cluster);
    producer_ = std::move(kafka->producer);
    port_ = testing::FreePort();
    config_path_ = dir_.File("prodopsd.textproto");
    testing::WriteFile(config_path_, Config(dir_.File("state")));
  }

  // Any failure needs the daemon's account of what happened.
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "daemon log:\n" << testing::ReadFile(dir_.File("daemon.log"));
    }
  }

  // `state_extra`: more fields of `state`.
  std::string Config(const std::string& state_dir, const std::string& extra = "",
                     const std::string& state_extra = "") const {
    return absl::StrCat(
        extra, "kafka { bootstrap_servers: \"", cluster_->bootstrap_servers(),
        "\" group_id: \"it\"\n",
        // A killed member leaves the group after this, not the 45 s default;
        // requests stuck on a broker that went away time out in 5 s. The
        // session must end first: a restarted daemon's SyncGroup waits for
        // the killed member, and if it times out and is sent again, the
        // mock cluster of librdkafka 2.0.2 aborts the process (assertion
        // `!member->resp` in rd_kafka_mock_cgrp_member_sync_set).
        "  properties { key: \"session.timeout.ms\" value: \"3000\" }\n",
        "  properties { key: \"heartbeat.interval.ms\" value: \"500\" }\n",
        "  properties { key: \"socket.timeout.ms\" value: \"5000\" }\n}\n",
        "topic { name: \"", kUsageTopic, "\" format: JSON content: USAGE }\n",
        "topic { name: \"", kTicketTopic, "\" format: PROTOBUF content: TICKET }\n",
        "topic { name: \"", kEventsTopic, "\" format: JSON content: ENVELOPE }\n",
        "state { dir: \"", state_dir, "\" flush_interval_ms: 200 ", state_extra, "}\n",
        "http { listen_address: \"127.0.0.1:", port_, "\" }\n");
  }

  std::unique_ptr<DaemonProcess> StartDaemon() {
    return std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--config", config_path_}, dir_.File("daemon.log"));
  }

  void Produce(const char* topic, decode::Format format, decode::Content content,
               const Event& event) {
    std::string payload;
    ASSERT_TRUE(sim::EncodeEvent(event, format, content, &payload));
    ASSERT_TRUE(producer_->Produce(topic, -1, sim::PartitionKey(event), payload).ok());
  }

  void ProduceRaw(const char* topic, const std::string& payload) {
    ASSERT_TRUE(producer_->Produce(topic, -1, "", payload).ok());
  }

  // Produces events [first, last) of a deterministic mix and records what
  // the daemon must count for them. With `duplicate_every` = n, every n-th
  // event is produced a second time, as an envelope with another key (so
  // mostly on another partition), as a retrying producer might.
  void ProduceMix(int first, int last, Expected* expected, int duplicate_every = 0) {
    for (int i = first; i < last; ++i) {
      Event event;
      // Within the last hour, so that every trailing window holds them all.
      const int64_t seconds = start_seconds_ - 1800 + i % 1000;
      if (i % 10 < 7) {  // usage, alternately bare JSON and envelope JSON
        auto* usage = event.mutable_usage();
        usage->set_event_id(absl::StrCat("u-", i));
        usage->mutable_occurred_at()->set_seconds(seconds);
        usage->set_user_id(absl::StrCat("user-", i % 37));
        usage->set_account_id(absl::StrCat("acct-", i % 7));
        usage->set_feature(kFeatures[i % 5]);
        usage->set_action(kActions[i % 3]);
        if (i % 2 == 0) {
          Produce(kUsageTopic, decode::Format::kJson, decode::Content::kUsage, event);
        } else {
          Produce(kEventsTopic, decode::Format::kJson, decode::Content::kEnvelope, event);
        }
        expected->users[kFeatures[i % 5]].insert(usage->user_id());
        expected->users["__all__"].insert(usage->user_id());
        expected->series[absl::StrCat("prodops_usage_events_total{feature=\"",
                                      kFeatures[i % 5], "\",action=\"", kActions[i % 3],
                                      "\"}")] += 1;
      } else {  // tickets in protobuf
        auto* ticket = event.mutable_ticket();
        ticket->set_event_id(absl::StrCat("t-", i));
        ticket->mutable_occurred_at()->set_seconds(seconds);
        ticket->set_ticket_id(absl::StrCat("T", i / 3));
        ticket->set_kind(i % 10 == 7 ? TicketEvent::CREATED : TicketEvent::COMMENT_ADDED);
        ticket->set_type(i % 20 == 7 ? TicketEvent::INCIDENT : TicketEvent::QUESTION);
        ticket->set_priority(TicketEvent::HIGH);
        ticket->set_team(i % 4 == 0 ? "payments" : "growth");
        Produce(kTicketTopic, decode::Format::kProtobuf, decode::Content::kTicket, event);
        if (ticket->kind() == TicketEvent::CREATED) {
          expected->series[absl::StrCat(
              "prodops_tickets_created_total{ticket_type=\"",
              i % 20 == 7 ? "incident" : "question", "\",priority=\"high\",team=\"",
              ticket->team(), "\"}")] += 1;
        }
      }
      ++expected->accepted;
      if (duplicate_every > 0 && i % duplicate_every == 0) {
        std::string payload;
        ASSERT_TRUE(sim::EncodeEvent(event, decode::Format::kJson, decode::Content::kEnvelope,
                                     &payload));
        ASSERT_TRUE(producer_->Produce(kEventsTopic, -1, absl::StrCat("dup-", i), payload).ok());
        ++expected->duplicates;
      }
    }
    ASSERT_TRUE(producer_->Flush(30'000).ok());
  }

  // Waits until the daemon has counted `accepted` and `rejected` messages,
  // in two readings one flush interval apart: anything counted twice would
  // show in the second. Both must have them, because a group member whose
  // session times out while Kafka is away loses its partitions, and their
  // series leave /metrics until they are assigned again.
  Samples WaitForCounts(const Expected& expected, int timeout_ms = 60'000) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto counted = [&expected](const Samples& samples) {
      return SumOf(samples, "prodops_events_ingested_total") >= expected.accepted &&
             SumOf(samples, "prodops_events_rejected_total") >= expected.rejected &&
             SumOf(samples, "prodops_events_duplicate_total") >= expected.duplicates;
    };
    Samples samples;
    while (std::chrono::steady_clock::now() < deadline) {
      samples = ParseExposition(HttpGet(port_, "/metrics").body);
      if (counted(samples)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        samples = ParseExposition(HttpGet(port_, "/metrics").body);
        if (counted(samples)) return samples;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "timed out";  // TearDown prints the daemon's log
    return samples;
  }

  void ExpectExactly(const Samples& samples, const Expected& expected) {
    EXPECT_EQ(SumOf(samples, "prodops_events_ingested_total"), expected.accepted);
    EXPECT_EQ(SumOf(samples, "prodops_events_rejected_total"), expected.rejected);
    EXPECT_EQ(SumOf(samples, "prodops_events_duplicate_total"), expected.duplicates);
    for (const auto& [series, value] : expected.series) {
      auto it = samples.find(series);
      ASSERT_NE(it, samples.end()) << series;
      EXPECT_EQ(it->second, value) << series;
    }
    EXPECT_EQ(SumOf(samples, "prodops_usage_events_total"),
              SumOf(Samples(expected.series.begin(), expected.series.end()),
                    "prodops_usage_events_total"));
    // Sets this small are counted exactly by the distinct counter.
    for (const auto& [feature, users] : expected.users) {
      for (const char* window : {"1h", "1d", "7d"}) {
        const std::string series = absl::StrCat("prodops_active_users{feature=\"", feature,
                                                "\",window=\"", window, "\"}");
        ASSERT_TRUE(samples.contains(series)) << series;
        EXPECT_EQ(samples.at(series), users.size()) << series;
      }
    }
    EXPECT_EQ(SumOf(samples, "prodops_events_late_total"), 0);
  }

  const int64_t start_seconds_ = std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
  testing::TempDir dir_;
  std::unique_ptr<ingest::MockCluster> cluster_;
  std::unique_ptr<ingest::KafkaProducer> producer_;
  int port_ = 0;
  std::string config_path_;
};

TEST_F(DaemonIntegrationTest, CountsAKnownMixExactly) {
  Expected expected;
  ProduceMix(0, 3000, &expected);
  // Bad input: counted, never fatal, offsets advance past it.
  ProduceRaw(kUsageTopic, "{not json");
  ProduceRaw(kUsageTopic, R"({"occurredAt":"2025-10-09T08:00:00Z","feature":"x"})");
  ProduceRaw(kEventsTopic, R"({"ticket":{"eventId":"b1","occurredAt":"2025-10-09T08:00:00Z",)"
                           R"("ticketId":"T1","kind":"EXPLODED"}})");
  ProduceRaw(kTicketTopic, std::string("\xff\xff\xff", 3));
  expected.rejected = 4;
  ASSERT_TRUE(producer_->Flush(10'000).ok());

  auto daemon = StartDaemon();
  const Samples samples = WaitForCounts(expected);
  ExpectExactly(samples, expected);
  EXPECT_EQ(samples.at("prodops_events_rejected_total{topic=\"it.usage\",reason=\"malformed\"}"),
            1);
  EXPECT_EQ(samples.at(
                "prodops_events_rejected_total{topic=\"it.usage\",reason=\"missing_event_id\"}"),
            1);
  EXPECT_EQ(samples.at(
                "prodops_events_rejected_total{topic=\"it.events\",reason=\"unknown_enum\"}"),
            1);
  EXPECT_EQ(samples.at("prodops_build_info{version=\"" PRODOPS_VERSION "\"}"), 1);
  EXPECT_EQ(samples.at("prodops_active_users{feature=\"__all__\",window=\"1h\"}"), 37);

  EXPECT_EQ(HttpGet(port_, "/readyz").status, 200);

  // With nothing left to read or write, a snapshot still follows every
  // flush: the trailing windows move with the clock.
  const auto as_of_ms = [this] {
    const std::string body = HttpGet(port_, "/api/v1/signals").body;
    const size_t at = body.find("\"as_of_ms\":");
    return at == std::string::npos ? int64_t{0} : std::stoll(body.substr(at + 11, 13));
  };
  const int64_t before_ms = as_of_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // > 2 flushes
  EXPECT_GE(as_of_ms(), before_ms + 1000) << "the snapshot stopped at " << before_ms;
  daemon->Kill(SIGTERM);
  EXPECT_EQ(daemon->Wait(10'000), 0);
}

TEST_F(DaemonIntegrationTest, SigkillAndRestartLoseAndDoubleCountNothing) {
  Expected expected;
  ProduceMix(0, 5000, &expected);  // a backlog to start on
  int next = 5000;
  // Produces the next chunk of the mix while a daemon may be consuming.
  auto produce_chunk = [&] {
    ProduceMix(next, next + 200, &expected);
    next += 200;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  double seen = 0;
  for (int round = 0; round < 3; ++round) {
    auto daemon = StartDaemon();
    // Keep events flowing until it makes progress beyond what the previous
    // run stored, and a little longer, then kill it without warning.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const double before = seen;
    while (std::chrono::steady_clock::now() < deadline && seen <= before) {
      produce_chunk();
      seen = SumOf(ParseExposition(HttpGet(port_, "/metrics").body),
                   "prodops_events_ingested_total");
    }
    for (int i = 0; i <= round; ++i) produce_chunk();
    seen = SumOf(ParseExposition(HttpGet(port_, "/metrics").body),
                 "prodops_events_ingested_total");
    daemon->Kill(SIGKILL);
    EXPECT_EQ(daemon->Wait(10'000), 128 + SIGKILL);
    std::cout << "round " << round << ": killed with " << seen << " of " << expected.accepted
              << " produced events visible\n";
    EXPECT_GT(seen, before) << "the daemon made no progress before the kill";
    ProduceMix(next, next + 1000, &expected);  // more to catch up on after the kill
    next += 1000;
  }
  auto daemon = StartDaemon();
  ExpectExactly(WaitForCounts(expected), expected);
}

// A process that finds no state of its own (a new pod, a lost volume)
// takes the tasks over from the changelog that the previous one wrote, and
// reads on from the offsets restored with them: nothing is counted twice
// (nor caught as a duplicate), nothing is lost.
TEST_F(DaemonIntegrationTest, AProcessWithoutLocalStateTakesItOverFromTheChangelog) {
  const std::string changelog = "changelog { topic_prefix: \"it\" }";
  Expected expected;
  ProduceMix(0, 3000, &expected);
  testing::WriteFile(config_path_, Config(dir_.File("state-first"), "", changelog));
  {
    auto first = StartDaemon();
    const Samples samples = WaitForCounts(expected);
    EXPECT_GT(SumOf(samples, "prodops_changelog_records_written_total"), 0);
    EXPECT_EQ(SumOf(samples, "prodops_changelog_records_restored_total"), 0)
        << "the first process had nothing to restore";
    first->Kill(SIGTERM);
    EXPECT_EQ(first->Wait(30'000), 0);
  }
  ProduceMix(3000, 4000, &expected);
  testing::WriteFile(config_path_, Config(dir_.File("state-second"), "", changelog));
  auto second = StartDaemon();
  const Samples samples = WaitForCounts(expected);
  ExpectExactly(samples, expected);
  EXPECT_GT(SumOf(samples, "prodops_changelog_records_restored_total"), 0);
  EXPECT_EQ(SumOf(samples, "prodops_changelog_restores_total"), kPartitions);
  EXPECT_EQ(SumOf(samples, "prodops_changelog_restore_remaining_records"), 0);
}

// Runs a shell command; its standard output.
std::string CommandOutput(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

TEST_F(DaemonIntegrationTest, DuplicatesCountOnceAndRejectsGoToTheDeadLetterTopic) {
  ASSERT_TRUE(cluster_->CreateTopic("it.dlq", 1).ok());
  testing::WriteFile(config_path_,
                     Config(dir_.File("state"),
                            "ingest { dead_letter_topic: \"it.dlq\" max_message_bytes: 4096 }\n"));
  Expected expected;
  ProduceMix(0, 3000, &expected, /*duplicate_every=*/10);
  ASSERT_EQ(expected.duplicates, 300);
  // One message per reason the pipeline itself adds, and two the decoder finds.
  const std::vector<std::pair<const char*, std::string>> bad = {
      {kUsageTopic, "{not json"},
      {kUsageTopic, std::string(4097, ' ')},
      {kUsageTopic, R"({"eventId":"future","occurredAt":"2999-01-01T00:00:00Z",)"
                    R"("userId":"u","feature":"search","action":"view"})"},
      {kTicketTopic, std::string("\xff\xff\xff", 3)},
  };
  for (const auto& [topic, payload] : bad) ProduceRaw(topic, payload);
  expected.rejected = static_cast<int64_t>(bad.size());
  ASSERT_TRUE(producer_->Flush(10'000).ok());

  auto daemon = StartDaemon();
  const Samples samples = WaitForCounts(expected);
  ExpectExactly(samples, expected);
  EXPECT_EQ(samples.at("prodops_events_rejected_total{topic=\"it.usage\",reason=\"too_large\"}"),
            1);
  EXPECT_EQ(samples.at(
                "prodops_events_rejected_total{topic=\"it.usage\",reason=\"out_of_tolerance\"}"),
            1);

  // A real client reads the dead letters: payloads unchanged, the source
  // and the reason in headers.
  const std::string letters = CommandOutput(absl::StrCat(
      "kcat -C -q -e -b ", cluster_->bootstrap_servers(),
      " -t it.dlq -o beginning -f '%h|%S\\n' 2>&1"));
  std::vector<std::string> lines = absl::StrSplit(letters, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), bad.size()) << letters;
  std::multiset<std::string> reasons;
  for (const std::string& line : lines) {
    EXPECT_NE(line.find("prodops.source.topic=it."), std::string::npos) << line;
    EXPECT_NE(line.find("prodops.source.partition="), std::string::npos) << line;
    EXPECT_NE(line.find("prodops.source.offset="), std::string::npos) << line;
    const size_t at = line.find("prodops.reject.reason=");
    ASSERT_NE(at, std::string::npos) << line;
    const size_t end = line.find_first_of(",|", at);
    reasons.insert(line.substr(at + 22, end - at - 22));
  }
  EXPECT_EQ(reasons, (std::multiset<std::string>{"malformed", "malformed", "out_of_tolerance",
                                                 "too_large"}));
  // %S is the payload size: the 4097-byte message arrived whole.
  EXPECT_NE(letters.find("|4097"), std::string::npos) << letters;
}

// Polls /readyz until it answers `status` (or 15 s pass); returns the last.
int WaitForReadyz(int port, int status) {
  int last = 0;
  for (int i = 0; i < 150 && last != status; ++i) {
    last = HttpGet(port, "/readyz").status;
    if (last != status) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

TEST_F(DaemonIntegrationTest, ReportsNotReadyWhileKafkaIsDownAndRecovers) {
  Expected expected;
  ProduceMix(0, 500, &expected);
  auto set_brokers_up = [&](bool up) {
    for (int broker = 1; broker <= 3; ++broker) {
      ASSERT_TRUE(cluster_->SetBrokerUp(broker, up).ok());
    }
  };

  // Kafka unreachable at start: the daemon runs, not ready, and waits.
  set_brokers_up(false);
  auto daemon = StartDaemon();
  EXPECT_EQ(WaitForReadyz(port_, 503), 503);
  std::string reason;
  for (int i = 0; i < 100 && reason != "not ready: no Kafka broker reachable\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reason = HttpGet(port_, "/readyz").body;  // "not ready: starting" until the first flush
  }
  EXPECT_EQ(reason, "not ready: no Kafka broker reachable\n");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(HttpGet(port_, "/readyz").status, 503);
  set_brokers_up(true);
  WaitForCounts(expected);
  EXPECT_EQ(WaitForReadyz(port_, 200), 200);

  // Kafka gone while running, for longer than the group session: not
  // ready; the member loses its partitions, takes them back when Kafka
  // returns, and resumes from its state with nothing lost or counted twice.
  set_brokers_up(false);
  EXPECT_EQ(WaitForReadyz(port_, 503), 503);
  std::this_thread::sleep_for(std::chrono::seconds(4));  // > session.timeout.ms
  set_brokers_up(true);
  ProduceMix(500, 1000, &expected);
  ExpectExactly(WaitForCounts(expected), expected);
  EXPECT_EQ(WaitForReadyz(port_, 200), 200);
  EXPECT_NE(testing::ReadFile(dir_.File("daemon.log")).find("revoked it.usage[0]"),
            std::string::npos);
}

// A full disk under the state directory (every write and sync there fails
// with ENOSPC, through an LD_PRELOAD library): the daemon keeps running,
// says not ready, counts failed flushes, stores no offset, and once the
// disk has room again it resumes with nothing lost, also across a kill.
TEST_F(DaemonIntegrationTest, FullDiskMakesItNotReadyAndLosesNothingWhenSpaceReturns) {
  const std::string flag = dir_.File("disk-full");
  setenv("LD_PRELOAD", PRODOPS_FAIL_WRITES_LIB, 1);
  setenv("PRODOPS_FAIL_WRITES_FLAG", flag.c_str(), 1);
  setenv("PRODOPS_FAIL_WRITES_UNDER", dir_.File("state").c_str(), 1);
  // Sanitized builds: the library comes before the sanitizer's runtime.
  const char* asan = getenv("ASAN_OPTIONS");
  const std::string asan_options =
      absl::StrCat(asan == nullptr ? "" : asan, asan == nullptr ? "" : ":",
                   "verify_asan_link_order=0");
  setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
  Expected expected;
  ProduceMix(0, 500, &expected);
  auto daemon = StartDaemon();
  for (const char* name : {"LD_PRELOAD", "PRODOPS_FAIL_WRITES_FLAG", "PRODOPS_FAIL_WRITES_UNDER"}) {
    unsetenv(name);  // only this daemon, not later children
  }
  WaitForCounts(expected);
  EXPECT_EQ(WaitForReadyz(port_, 200), 200);

  testing::WriteFile(flag, "");
  ProduceMix(500, 1000, &expected);
  EXPECT_EQ(WaitForReadyz(port_, 503), 503);
  const std::string reason = HttpGet(port_, "/readyz").body;
  EXPECT_NE(reason.find("state store writes failing"), std::string::npos) << reason;
  EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_GT(SumOf(ParseExposition(HttpGet(port_, "/metrics").body),
                  "prodops_state_flush_errors_total"),
            0);

  std::remove(flag.c_str());
  ExpectExactly(WaitForCounts(expected), expected);
  EXPECT_EQ(WaitForReadyz(port_, 200), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  daemon->Kill(SIGKILL);
  EXPECT_EQ(daemon->Wait(10'000), 128 + SIGKILL);
  daemon = StartDaemon();
  ProduceMix(1000, 1200, &expected);
  ExpectExactly(WaitForCounts(expected), expected);
}

// Kafka security settings pass through to librdkafka; their values never
// appear in the log, in /metrics or in /api/v1/signals, not even when
// librdkafka refuses one.
TEST_F(DaemonIntegrationTest, SecretsNeverReachTheLogOrTheEndpoints) {
  constexpr char kSecret[] = "s3cr3t-Pa55w0rd";
  // The test's config with `properties` added to its kafka block.
  const auto with_properties = [&](const std::string& properties) {
    return absl::StrReplaceAll(Config(dir_.File("state")),
                               {{"group_id: \"it\"\n", "group_id: \"it\"\n" + properties}});
  };
  // The mock cluster speaks no SASL: the daemon runs, not ready, and logs
  // the authentication trouble.
  testing::WriteFile(
      config_path_,
      with_properties(absl::StrCat(
          "  properties { key: \"security.protocol\" value: \"SASL_PLAINTEXT\" }\n"
          "  properties { key: \"sasl.mechanisms\" value: \"PLAIN\" }\n"
          "  properties { key: \"sasl.username\" value: \"prodopsd\" }\n"
          "  properties { key: \"sasl.password\" value: \"",
          kSecret, "\" }\n")));
  auto daemon = StartDaemon();
  EXPECT_EQ(WaitForReadyz(port_, 503), 503);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const std::string log = testing::ReadFile(dir_.File("daemon.log"));
  EXPECT_NE(log.find("kafka:"), std::string::npos) << "librdkafka's trouble is logged:\n" << log;
  EXPECT_EQ(log.find(kSecret), std::string::npos) << log;
  EXPECT_EQ(HttpGet(port_, "/metrics").body.find(kSecret), std::string::npos);
  EXPECT_EQ(HttpGet(port_, "/api/v1/signals").body.find(kSecret), std::string::npos);
  daemon->Kill(SIGTERM);
  daemon->Wait(30'000);

  // A value librdkafka refuses: the error names the property only.
  testing::WriteFile(config_path_,
                     with_properties(absl::StrCat(
                         "  properties { key: \"security.protocol\" value: \"", kSecret, "\" }\n")));
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"--config", config_path_}, &out, &err), 1);
  EXPECT_NE(err.find("security.protocol"), std::string::npos) << err;
  EXPECT_EQ(err.find(kSecret), std::string::npos) << err;
}

TEST_F(DaemonIntegrationTest, StateDirectoryThatCannotBeOpenedStopsTheStart) {
  testing::WriteFile(dir_.File("not-a-dir"), "x");
  testing::WriteFile(config_path_, Config(dir_.File("not-a-dir")));
  std::string out, err;
  EXPECT_EQ(testing::RunDaemonCommand({"--config", config_path_}, &out, &err), 1);
  EXPECT_NE(err.find(dir_.File("not-a-dir")), std::string::npos) << err;
  EXPECT_NE(err.find("cannot start"), std::string::npos) << err;
}

}  // namespace
}  // namespace prodops
