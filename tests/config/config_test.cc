#include "daemon/config/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace prodops::config {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::prodops::v1::DaemonConfig;

// The full error of parsing `text` as "bad.textproto", or "OK".
std::string ErrorOf(const std::string& text) {
  const absl::StatusOr<DaemonConfig> config = ParseConfig(text, "bad.textproto");
  if (config.ok()) return "OK";
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

constexpr char kKafka[] = "kafka { bootstrap_servers: \"localhost:9092\" }\n";
constexpr char kTopic[] = "topic { name: \"events\" format: JSON content: ENVELOPE }\n";
constexpr char kState[] = "state { dir: \"/tmp/state\" }\n";

std::string Valid() { return std::string(kKafka) + kTopic + kState; }

TEST(ParseConfigTest, FillsEveryDocumentedDefault) {
  const absl::StatusOr<DaemonConfig> config = ParseConfig(Valid(), "min.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  DaemonConfig expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        kafka { bootstrap_servers: "localhost:9092" group_id: "prodopsd" }
        topic { name: "events" format: JSON content: ENVELOPE partitions: 4 }
        state {
          dir: "/tmp/state"
          flush_interval_ms: 1000
          cache_max_bytes: 67108864
          memory_budget_bytes: 268435456
          min_free_disk_bytes: 67108864
          window_cache_bytes: 67108864
          dedup_filter_bytes: 67108864
        }
        ingest {
          max_message_bytes: 1048576
          max_future_seconds: 3600
          dedup_horizon_seconds: 86400
        }
        windows {
          window { name: "1h" length_seconds: 3600 bucket_seconds: 60 }
          window { name: "1d" length_seconds: 86400 bucket_seconds: 3600 }
          window { name: "7d" length_seconds: 604800 bucket_seconds: 3600 }
          allowed_lateness_seconds: 3600
          clock: WALL
        }
        http { listen_address: "127.0.0.1:9464" }
        simulator { enabled: false events_per_second: 200 users: 400 seed: 1 }
      )pb",
      &expected));
  // Each signal set's defaults are checked by its own tests.
  DaemonConfig actual = *config;
  actual.clear_signals();
  EXPECT_TRUE(MessageDifferencer::Equals(actual, expected)) << actual.DebugString();
}

TEST(ParseConfigTest, KeepsValuesThatAreSet) {
  const absl::StatusOr<DaemonConfig> config =
      ParseConfig(R"pb(
                    kafka {
                      embedded_brokers: 1
                      group_id: "g"
                      properties { key: "linger.ms" value: "5" }
                    }
                    topic { name: "t" format: PROTOBUF content: USAGE partitions: 12 }
                    state { dir: "/s" flush_interval_ms: 10 cache_max_bytes: 1024 }
                    windows {
                      window { name: "5m" length_seconds: 300 bucket_seconds: 1 }
                      allowed_lateness_seconds: 60
                    }
                    http { listen_address: "[::1]:0" }
                    simulator { enabled: true events_per_second: 5 users: 3 seed: 42 }
                  )pb",
                  "set.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka().group_id(), "g");
  EXPECT_EQ(config->kafka().properties().at("linger.ms"), "5");
  EXPECT_EQ(config->topic(0).partitions(), 12u);
  EXPECT_EQ(config->state().flush_interval_ms(), 10u);
  EXPECT_EQ(config->state().cache_max_bytes(), 1024u);
  ASSERT_EQ(config->windows().window_size(), 1);
  EXPECT_EQ(config->windows().window(0).name(), "5m");
  EXPECT_EQ(config->windows().allowed_lateness_seconds(), 60u);
  EXPECT_EQ(config->http().listen_address(), "[::1]:0");
  EXPECT_EQ(config->simulator().events_per_second(), 5u);
  EXPECT_EQ(config->simulator().users(), 3u);
  EXPECT_EQ(config->simulator().seed(), 42u);
}

// Protobuf reports some errors at the token after the offending one (the
// colon after an unknown name, the token after a bad enum value); the line
// is what matters to the reader.
TEST(ParseConfigTest, ParseErrorsKeepTheParsersTextAtItsLocation) {
  // Syntax: a scalar field without its colon.
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "topic {\n  name \"events\"\n}\n"),
            "bad.textproto:3:8: Expected \":\", found \"\"events\"\".");
  // Unterminated message.
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "state {\n  dir: \"/tmp\"\n"),
            "bad.textproto:4:1: Expected identifier, got: ");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "state {\n  flush_interval: 5\n}\n"),
            "bad.textproto:3:17: Message type \"prodops.v1.StateConfig\" has no field "
            "named \"flush_interval\".");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "topic { name: \"t\" format: XML }\n"),
            "bad.textproto:2:31: Unknown enumeration value of \"XML\" for field "
            "\"format\".");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "state {\n  flush_interval_ms: -5\n}\n"),
            "bad.textproto:3:22: Expected integer, got: -");
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + kState + "state { dir: \"again\" }\n"),
      "bad.textproto:3:7: Non-repeated field \"state\" is specified multiple times.");
}

TEST(ParseConfigTest, FlushIntervalOutOfRangeOnItsLine) {
  const std::string text = std::string(kKafka) + kTopic +
                           "state {\n"
                           "  dir: \"/tmp/state\"\n"
                           "  flush_interval_ms: 5\n"
                           "}\n";
  EXPECT_EQ(ErrorOf(text),
            "bad.textproto:5:3: state.flush_interval_ms: must be between 10 and 60000, "
            "got 5");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" flush_interval_ms: 60001 }\n"),
            "bad.textproto:3:19: state.flush_interval_ms: must be between 10 and 60000, "
            "got 60001");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" flush_interval_ms: 60000 }\n"),
            "OK");
}

TEST(ParseConfigTest, MemoryBudgetsAndMessageSizeLimitsOnTheirLines) {
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" memory_budget_bytes: 8388607 }\n"),
            "bad.textproto:3:19: state.memory_budget_bytes: must be between 8388608 and "
            "68719476736, got 8388607");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" memory_budget_bytes: 8388608 }\n"),
            "OK");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" window_cache_bytes: 1048575 }\n"),
            "bad.textproto:3:19: state.window_cache_bytes: must be between 1048576 and "
            "68719476736, got 1048575");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" window_cache_bytes: 68719476737 }\n"),
            "bad.textproto:3:19: state.window_cache_bytes: must be between 1048576 and "
            "68719476736, got 68719476737");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" window_cache_bytes: 1048576 }\n"),
            "OK");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" dedup_filter_bytes: 1048575 }\n"),
            "bad.textproto:3:19: state.dedup_filter_bytes: must be between 1048576 and "
            "68719476736, got 1048575");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "state { dir: \"/s\" dedup_filter_bytes: 1048576 }\n"),
            "OK");
  EXPECT_EQ(
      ErrorOf(Valid() + "ingest {\n  max_message_bytes: 1023\n}\n"),
      "bad.textproto:5:3: ingest.max_message_bytes: must be between 1024 and 67108864, "
      "got 1023");
  EXPECT_EQ(
      ErrorOf(Valid() + "ingest { max_message_bytes: 67108865 }\n"),
      "bad.textproto:4:10: ingest.max_message_bytes: must be between 1024 and 67108864, "
      "got 67108865");
  EXPECT_EQ(ErrorOf(Valid() + "ingest { max_message_bytes: 1024 }\n"), "OK");
}

TEST(ParseConfigTest, WindowClockIsWallOrEventTime) {
  const absl::StatusOr<DaemonConfig> config =
      ParseConfig(Valid() + "windows { clock: EVENT_TIME }\n", "c.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->windows().clock(), prodops::v1::WindowConfig::EVENT_TIME);
  EXPECT_EQ(
      ErrorOf(Valid() + "windows { clock: 7 }\n"),
      "bad.textproto:4:11: windows.clock: unknown value 7; expected WALL or EVENT_TIME");
}

TEST(ParseConfigTest, InputTopicsHaveTheSameNumberOfPartitions) {
  EXPECT_EQ(ErrorOf(Valid() +
                    "topic { name: \"more\" format: JSON content: USAGE partitions: 2 }\n"),
            "bad.textproto:4:50: topic[1].partitions: 2 but \"events\" has 4; input topics "
            "need the same number of partitions");
  EXPECT_EQ(ErrorOf(Valid() +
                    "topic { name: \"more\" format: JSON content: USAGE partitions: 4 }\n"),
            "OK");
}

TEST(ParseConfigTest, ChangelogTopicPrefixIsAValidTopicName) {
  const std::string kafka_and_topic = std::string(kKafka) + kTopic;
  EXPECT_EQ(ErrorOf(kafka_and_topic +
                    "state { dir: \"/tmp/s\" changelog { topic_prefix: \"a b\" } }\n"),
            "bad.textproto:3:35: state.changelog.topic_prefix: \"a b\" has a character "
            "Kafka refuses in topic names; use [a-zA-Z0-9._-]");
  EXPECT_EQ(
      ErrorOf(kafka_and_topic + "state { dir: \"/tmp/s\" changelog { topic_prefix: \"" +
              std::string(201, 'a') + "\" } }\n"),
      "bad.textproto:3:35: state.changelog.topic_prefix: longer than 200 bytes");
  EXPECT_EQ(
      ErrorOf(kafka_and_topic +
              "state { dir: \"/tmp/s\" changelog { topic_prefix: \"prodopsd.v1-a_b\" "
              "replication_factor: 3 } }\n"),
      "OK");
}

TEST(ParseConfigTest, DeadLetterTopicMustNotBeAnInputTopic) {
  EXPECT_EQ(
      ErrorOf(Valid() + "ingest { dead_letter_topic: \"events\" }\n"),
      "bad.textproto:4:10: ingest.dead_letter_topic: \"events\" is an input topic; dead "
      "letters would be read again");
  EXPECT_EQ(ErrorOf(Valid() + "ingest { dead_letter_topic: \"events.dlq\" }\n"), "OK");
}

TEST(ParseConfigTest, OutputTopicMustBeNeitherAnInputNorTheDeadLetterTopic) {
  EXPECT_EQ(ErrorOf(Valid() + "output { topic: \"events\" }\n"),
            "bad.textproto:4:10: output.topic: \"events\" is an input topic");
  EXPECT_EQ(ErrorOf(Valid() +
                    "ingest { dead_letter_topic: \"dlq\" }\noutput { topic: \"dlq\" }\n"),
            "bad.textproto:5:10: output.topic: \"dlq\" is the dead-letter topic");
  EXPECT_EQ(ErrorOf(Valid() + "output { topic: \"prodops.signals\" }\n"), "OK");
}

TEST(ParseConfigTest, StateDirIsRequired) {
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + kTopic + "state {\n  flush_interval_ms: 100\n}\n"),
      "bad.textproto:3:1: state.dir: required");
  // Without a state block the error points at the top of the file.
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic),
            "bad.textproto:1:1: state.dir: required");
}

TEST(ParseConfigTest, TopicRules) {
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kState),
            "bad.textproto:1:1: topic: at least one is required");
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + "topic { format: JSON content: USAGE }\n" + kState),
      "bad.textproto:2:1: topic[0].name: required");
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + kTopic + "\n  topic { name: \"events\" }\n" + kState),
      "bad.textproto:4:11: topic[1].name: \"events\" is already used by topic[0].name");
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + "topic { name: \"t\" content: USAGE }\n" + kState),
      "bad.textproto:2:1: topic[0].format: required: PROTOBUF or JSON");
  EXPECT_EQ(ErrorOf(std::string(kKafka) +
                    "topic { name: \"t\" format: FORMAT_UNSPECIFIED content: USAGE }\n" +
                    kState),
            "bad.textproto:2:19: topic[0].format: required: PROTOBUF or JSON");
  // Text format accepts numbers for proto3's open enums.
  EXPECT_EQ(
      ErrorOf(std::string(kKafka) + "topic { name: \"t\" format: 7 content: USAGE }\n" +
              kState),
      "bad.textproto:2:19: topic[0].format: unknown value 7; expected PROTOBUF or JSON");
  EXPECT_EQ(ErrorOf(std::string(kKafka) + kTopic +
                    "topic {\n  name: \"t\"\n  format: JSON\n}\n" + kState),
            "bad.textproto:3:1: topic[1].content: required: ENVELOPE, USAGE, TICKET, "
            "RELEASE or EXPOSURE");
}

TEST(ParseConfigTest, KafkaRules) {
  EXPECT_EQ(ErrorOf(std::string(kTopic) + kState),
            "bad.textproto:1:1: kafka.bootstrap_servers: required unless "
            "kafka.embedded_brokers is set");
  EXPECT_EQ(ErrorOf(std::string(kTopic) + "kafka {\n  group_id: \"g\"\n}\n" + kState),
            "bad.textproto:2:1: kafka.bootstrap_servers: required unless "
            "kafka.embedded_brokers is set");
  EXPECT_EQ(ErrorOf(std::string(kTopic) + "kafka { embedded_brokers: 8 }\n" + kState),
            "OK");
  EXPECT_EQ(ErrorOf(std::string(kTopic) + "kafka { embedded_brokers: 9 }\n" + kState),
            "bad.textproto:2:9: kafka.embedded_brokers: must be at most 8, got 9");
}

TEST(ParseConfigTest, RefusesPropertiesThatProdopsdOwns) {
  struct Case {
    const char* property;
    const char* hint;
  };
  const Case cases[] = {
      {"group.id", "; use kafka.group_id"},
      {"group.instance.id", "; use kafka.group_instance_id"},
      {"bootstrap.servers", "; use kafka.bootstrap_servers"},
      {"enable.auto.commit", ""},
      {"enable.auto.offset.store", ""},
      {"partition.assignment.strategy", ""},
  };
  for (const Case& c : cases) {
    const std::string text =
        std::string("kafka {\n") +
        "  bootstrap_servers: \"localhost:9092\"\n"
        "  properties { key: \"security.protocol\" value: \"SSL\" }\n"
        "  properties { key: \"" +
        c.property + "\" value: \"x\" }\n" + "}\n" + kTopic + kState;
    EXPECT_EQ(ErrorOf(text),
              std::string("bad.textproto:4:3: kafka.properties[\"") + c.property +
                  "\"]: refused: prodopsd sets this property itself" + c.hint);
  }
}

TEST(ParseConfigTest, WindowRules) {
  const std::string head = std::string(kKafka) + kTopic + kState + "windows {\n";
  const std::string one_hour =
      "  window {\n"
      "    name: \"1h\"\n"
      "    length_seconds: 3600\n"
      "    bucket_seconds: 60\n"
      "  }\n";  // Lines 5 to 9 after `head`.
  auto window = [](const std::string& fields) {
    return "  window {\n" + fields + "  }\n";
  };
  EXPECT_EQ(ErrorOf(head + one_hour + "}\n"), "OK");
  EXPECT_EQ(ErrorOf(head + one_hour +
                    window("    length_seconds: 3600\n    bucket_seconds: 60\n") + "}\n"),
            "bad.textproto:10:3: windows.window[1].name: required");
  EXPECT_EQ(ErrorOf(head + one_hour +
                    window("    name: \"1h\"\n    length_seconds: 60\n"
                           "    bucket_seconds: 60\n") +
                    "}\n"),
            "bad.textproto:11:5: windows.window[1].name: \"1h\" is already used by "
            "windows.window[0].name");
  EXPECT_EQ(ErrorOf(head + window("    name: \"x\"\n    bucket_seconds: 60\n") + "}\n"),
            "bad.textproto:5:3: windows.window[0].length_seconds: required");
  EXPECT_EQ(ErrorOf(head + window("    name: \"x\"\n    length_seconds: 60\n") + "}\n"),
            "bad.textproto:5:3: windows.window[0].bucket_seconds: required");
  EXPECT_EQ(ErrorOf(head +
                    window("    name: \"x\"\n    length_seconds: 90\n"
                           "    bucket_seconds: 60\n") +
                    "}\n"),
            "bad.textproto:7:5: windows.window[0].length_seconds: must be a multiple of "
            "bucket_seconds (60), got 90");
  EXPECT_EQ(
      ErrorOf(head +
              window("    name: \"x\"\n    length_seconds: 14000\n"
                     "    bucket_seconds: 7000\n") +
              "}\n"),
      "bad.textproto:8:5: windows.window[0].bucket_seconds: must divide 86400, got 7000");
}

TEST(ParseConfigTest, ListenAddressIsHostAndPort) {
  struct Case {
    const char* address;
    const char* error;  // Text after the location and path, or "OK".
  };
  const Case cases[] = {
      {"0.0.0.0:9464", nullptr},
      {"localhost:0", nullptr},
      {"[::1]:65535", nullptr},
      {"localhost", "must be host:port, got \"localhost\""},
      {"localhost:", "must be host:port, got \"localhost:\""},
      {":9464", "must be host:port, got \":9464\""},
      {"::1:9464", "must be host:port, got \"::1:9464\""},
      {"localhost:http", "must be host:port, got \"localhost:http\""},
      {"localhost:+80", "must be host:port, got \"localhost:+80\""},
      {"localhost:65536", "port must be between 0 and 65535, got 65536"},
      {"localhost:99999999999", "port must be between 0 and 65535, got 99999999999"},
  };
  for (const Case& c : cases) {
    const std::string text =
        Valid() + "http {\n  listen_address: \"" + c.address + "\"\n}\n";
    EXPECT_EQ(ErrorOf(text),
              c.error == nullptr
                  ? std::string("OK")
                  : std::string("bad.textproto:5:3: http.listen_address: ") + c.error);
  }
}

TEST(ParseConfigTest, SimulatorNeedsTheEmbeddedCluster) {
  EXPECT_EQ(ErrorOf(Valid() + "simulator {\n  users: 10\n  enabled: true\n}\n"),
            "bad.textproto:6:3: simulator.enabled: requires kafka.embedded_brokers > 0");
  EXPECT_EQ(ErrorOf(std::string("kafka { embedded_brokers: 1 }\n") + kTopic + kState +
                    "simulator { enabled: true }\n"),
            "OK");
}

TEST(ParseConfigTest, ReportsTheFirstFailingRuleInFileOrder) {
  // Both the topic and the state are wrong; the topic comes first.
  EXPECT_EQ(ErrorOf(std::string(kKafka) + "topic { name: \"t\" }\nstate { }\n"),
            "bad.textproto:2:1: topic[0].format: required: PROTOBUF or JSON");
}

class LoadConfigFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("config_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(LoadConfigFileTest, MissingFile) {
  const std::string path = (dir_ / "missing.textproto").string();
  const absl::StatusOr<DaemonConfig> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(), path + ": cannot read: No such file or directory");
}

TEST_F(LoadConfigFileTest, Directory) {
  const absl::StatusOr<DaemonConfig> config = LoadConfigFile(dir_.string());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(), dir_.string() + ": cannot read: Is a directory");
}

TEST_F(LoadConfigFileTest, ErrorsNameThePathAsGiven) {
  const std::string path =
      Write("bad.textproto", std::string(kKafka) + kTopic + "state {}\n");
  const absl::StatusOr<DaemonConfig> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), path + ":3:1: state.dir: required");
}

TEST_F(LoadConfigFileTest, LoadsAValidFile) {
  const absl::StatusOr<DaemonConfig> config =
      LoadConfigFile(Write("ok.textproto", Valid()));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->topic(0).name(), "events");
}

// Every shipped example must load; a broken example is a broken first run.
TEST(ShippedConfigTest, EveryFileInConfigLoads) {
  std::vector<std::string> loaded;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(PRODOPS_SOURCE_DIR) + "/config")) {
    if (entry.path().extension() != ".textproto") continue;
    const absl::StatusOr<DaemonConfig> config = LoadConfigFile(entry.path().string());
    EXPECT_TRUE(config.ok()) << config.status();
    loaded.push_back(entry.path().filename().string());
  }
  EXPECT_GE(loaded.size(), 2u);
}

TEST(ShippedConfigTest, DemoRunsTheSimulatorOnTheEmbeddedCluster) {
  const absl::StatusOr<DaemonConfig> config =
      LoadConfigFile(std::string(PRODOPS_SOURCE_DIR) + "/config/demo.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka().embedded_brokers(), 3u);
  EXPECT_TRUE(config->simulator().enabled());
  ASSERT_EQ(config->topic_size(), 4);
  EXPECT_EQ(config->state().dir(), "/tmp/prodopsd-demo/state");
  EXPECT_EQ(config->windows().window_size(), 3);
}

}  // namespace
}  // namespace prodops::config

namespace prodops::config {
namespace {

TEST(ReleaseAndBudgetConfigTest, FillsDefaults) {
  const absl::StatusOr<DaemonConfig> config = ParseConfig(Valid(), "min.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->signals().releases().impact_hours(), 24);
  EXPECT_EQ(config->signals().releases().recent_releases(), 20);
  const prodops::v1::LabelBudgetConfig& budgets = config->signals().label_budgets();
  EXPECT_EQ(budgets.team(), 200);
  EXPECT_EQ(budgets.feature(), 500);
  EXPECT_EQ(budgets.release(), 100);
  EXPECT_EQ(budgets.experiment(), 50);
  EXPECT_EQ(budgets.variant(), 20);
}

TEST(ReleaseAndBudgetConfigTest, KeepsValuesThatAreSet) {
  const absl::StatusOr<DaemonConfig> config =
      ParseConfig(Valid() +
                      "signals { releases { impact_hours: 168 recent_releases: 1000 }\n"
                      "  label_budgets { team: 1 feature: 100000 } }\n",
                  "set.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->signals().releases().impact_hours(), 168);
  EXPECT_EQ(config->signals().releases().recent_releases(), 1000);
  EXPECT_EQ(config->signals().label_budgets().team(), 1);
  EXPECT_EQ(config->signals().label_budgets().feature(), 100000);
}

TEST(ReleaseAndBudgetConfigTest, RefusesOutOfRangeValuesNamingTheField) {
  EXPECT_EQ(
      ErrorOf(Valid() + "signals { releases { impact_hours: 169 } }\n"),
      "bad.textproto:4:22: signals.releases.impact_hours: must be between 1 and 168, "
      "got 169");
  EXPECT_EQ(
      ErrorOf(Valid() + "signals { releases {\n  recent_releases: 1001 } }\n"),
      "bad.textproto:5:3: signals.releases.recent_releases: must be between 1 and 1000, "
      "got 1001");
  EXPECT_EQ(
      ErrorOf(Valid() + "signals {\n  label_budgets { variant: 100001 }\n}\n"),
      "bad.textproto:5:19: signals.label_budgets.variant: must be between 1 and 100000, "
      "got 100001");
}

}  // namespace
}  // namespace prodops::config

namespace prodops::config {
namespace {

TEST(TicketConfigTest, FillsDefaults) {
  const absl::StatusOr<DaemonConfig> config = ParseConfig(Valid(), "min.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  prodops::v1::TicketSignalsConfig expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        first_reply_sla {
          low_seconds: 86400
          normal_seconds: 28800
          high_seconds: 14400
          urgent_seconds: 3600
        }
        resolution_sla {
          low_seconds: 604800
          normal_seconds: 259200
          high_seconds: 86400
          urgent_seconds: 14400
        }
        reactive { type: INCIDENT }
        reactive { type: BUG min_priority: HIGH }
        spike { baseline_hours: 168 mad_floor: 1 threshold: 3.5 }
        closed_ticket_expiry_seconds: 345600
      )pb",
      &expected));
  EXPECT_TRUE(MessageDifferencer::Equals(config->signals().tickets(), expected))
      << config->signals().tickets().DebugString();
}

TEST(TicketConfigTest, KeepsValuesThatAreSetAndDefaultsTheRest) {
  const absl::StatusOr<DaemonConfig> config =
      ParseConfig(Valid() +
                      "signals { tickets {\n"
                      "  first_reply_sla { urgent_seconds: 600 }\n"
                      "  reactive { type: TASK min_priority: URGENT }\n"
                      "  spike { threshold: 5 }\n"
                      "  closed_ticket_expiry_seconds: 60\n"
                      "} }\n",
                  "set.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  const prodops::v1::TicketSignalsConfig& tickets = config->signals().tickets();
  EXPECT_EQ(tickets.first_reply_sla().urgent_seconds(), 600);
  EXPECT_EQ(tickets.first_reply_sla().high_seconds(), 14400);
  ASSERT_EQ(tickets.reactive_size(), 1);  // a list that is set replaces the default
  EXPECT_EQ(tickets.reactive(0).type(), prodops::v1::TicketEvent::TASK);
  EXPECT_EQ(tickets.reactive(0).min_priority(), prodops::v1::TicketEvent::URGENT);
  EXPECT_EQ(tickets.spike().threshold(), 5);
  EXPECT_EQ(tickets.spike().baseline_hours(), 168);
  EXPECT_EQ(tickets.closed_ticket_expiry_seconds(), 60);
}

TEST(TicketConfigTest, RefusesBadRulesNamingTheField) {
  EXPECT_EQ(
      ErrorOf(Valid() + "signals { tickets {\n  reactive { min_priority: HIGH }\n} }\n"),
      "bad.textproto:5:3: signals.tickets.reactive[0].type: required: QUESTION, "
      "INCIDENT, BUG, FEATURE_REQUEST or TASK");
  EXPECT_EQ(
      ErrorOf(Valid() + "signals { tickets {\n  reactive { type: BUG }\n"
                        "  reactive { type: BUG min_priority: 9 }\n} }\n"),
      "bad.textproto:6:24: signals.tickets.reactive[1].min_priority: unknown value 9; "
      "expected LOW, NORMAL, HIGH or URGENT");
  EXPECT_EQ(ErrorOf(Valid() + "signals { tickets {\n  spike { mad_floor: -0.5 }\n} }\n"),
            "bad.textproto:5:11: signals.tickets.spike.mad_floor: must be > 0, got -0.5");
}

}  // namespace
}  // namespace prodops::config

namespace prodops::config {
namespace {

// signals { experiment { ... } } with `body` inside, opening on line 4.
std::string WithExperiment(const std::string& body) {
  return Valid() + "signals {\n  experiment {\n" + body + "  }\n}\n";
}

constexpr char kGoal[] = "    goal { feature: \"checkout\" action: \"submit\" }\n";
constexpr char kSplit[] =
    "    variant { name: \"control\" weight: 1 }\n"
    "    variant { name: \"treatment\" weight: 1 }\n";

TEST(ExperimentConfigTest, KeepsTheExperimentsAsWritten) {
  const absl::StatusOr<DaemonConfig> config =
      ParseConfig(WithExperiment(std::string("    name: \"new_checkout\"\n") + kGoal +
                                 "    variant { name: \"control\" weight: 55 }\n"
                                 "    variant { name: \"treatment\" weight: 45 }\n"),
                  "set.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->signals().experiment_size(), 1);
  const prodops::v1::ExperimentConfig& experiment = config->signals().experiment(0);
  EXPECT_EQ(experiment.name(), "new_checkout");
  EXPECT_EQ(experiment.goal().feature(), "checkout");
  EXPECT_EQ(experiment.goal().action(), "submit");
  ASSERT_EQ(experiment.variant_size(), 2);
  EXPECT_EQ(experiment.variant(0).name(), "control");
  EXPECT_EQ(experiment.variant(0).weight(), 55);
  EXPECT_EQ(experiment.variant(1).weight(), 45);
}

TEST(ExperimentConfigTest, RefusesBadExperimentsNamingTheField) {
  const std::string name = "    name: \"x\"\n";
  EXPECT_EQ(ErrorOf(WithExperiment(std::string(kGoal) + kSplit)),
            "bad.textproto:5:3: signals.experiment[0].name: required");
  EXPECT_EQ(
      ErrorOf(Valid() + "signals {\n  experiment { name: \"x\"\n" + kGoal + kSplit +
              "  }\n  experiment {\n    name: \"x\"\n" + kGoal + kSplit + "  }\n}\n"),
      "bad.textproto:11:5: signals.experiment[1].name: \"x\" is already used by "
      "signals.experiment[0].name");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kSplit)),
            "bad.textproto:5:3: signals.experiment[0].goal.feature: required");
  EXPECT_EQ(
      ErrorOf(WithExperiment(name + "    goal { feature: \"checkout\" }\n" + kSplit)),
      "bad.textproto:7:5: signals.experiment[0].goal.action: required");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kGoal +
                                   "    variant { name: \"control\" weight: 1 }\n")),
            "bad.textproto:5:3: signals.experiment[0].variant: at least two are "
            "required, got 1");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kGoal + kSplit +
                                   "    variant { name: \"control\" weight: 2 }\n")),
            "bad.textproto:10:15: signals.experiment[0].variant[2].name: \"control\" is "
            "already "
            "used by signals.experiment[0].variant[0].name");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kGoal +
                                   "    variant { name: \"control\" weight: 1 }\n" +
                                   "    variant { name: \"treatment\" }\n")),
            "bad.textproto:9:5: signals.experiment[0].variant[1].weight: must be finite "
            "and > 0, "
            "got 0");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kGoal +
                                   "    variant { name: \"control\" weight: -1 }\n" +
                                   "    variant { name: \"treatment\" weight: 1 }\n")),
            "bad.textproto:8:31: signals.experiment[0].variant[0].weight: must be finite "
            "and > 0, "
            "got -1");
  EXPECT_EQ(ErrorOf(WithExperiment(name + kGoal +
                                   "    variant { name: \"control\" weight: inf }\n" +
                                   "    variant { name: \"treatment\" weight: 1 }\n")),
            "bad.textproto:8:31: signals.experiment[0].variant[0].weight: must be finite "
            "and > 0, "
            "got inf");
}

}  // namespace
}  // namespace prodops::config
