// prodops-raw-consumer: reads every message of some topics from the
// beginning to their end and does nothing else; the baseline that
// prodopsd's own consumption is measured against (bench/run.sh).
//
//   prodops-raw-consumer --bootstrap HOST:PORT --topic NAME [--topic NAME ...]
//                        [--property KEY=VALUE ...] [--timeout-s S]
//
// It uses the librdkafka API and settings prodopsd's consumer uses
// (rd_kafka_consumer_poll, one message at a time, default fetch settings),
// but assigns every partition itself instead of joining a group, and stops
// when every partition has reported its end. Prints one line of JSON:
// {"events", "bytes", "seconds" (first message to the last end of
// partition), "events_per_second", "run_seconds"}.
//
// librdkafka is used directly, not through daemon/ingest: measuring the
// client without prodopsd's code around it is the point.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr const char* kUsage =
    "usage: prodops-raw-consumer --bootstrap HOST:PORT --topic NAME [--topic NAME ...]\n"
    "                            [--property KEY=VALUE ...] [--timeout-s S]\n";

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string bootstrap;
  std::vector<std::string> topics;
  std::vector<std::pair<std::string, std::string>> properties;
  int timeout_s = 1800;
};

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

int Fail(const std::string& message) {
  std::fprintf(stderr, "prodops-raw-consumer: %s\n", message.c_str());
  return 1;
}

bool ParseFlags(int argc, char** argv, Flags* flags, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      *error = arg + " needs a value";
      return false;
    }
    const std::string value = argv[++i];
    if (arg == "--bootstrap") {
      flags->bootstrap = value;
    } else if (arg == "--topic") {
      flags->topics.push_back(value);
    } else if (arg == "--property") {
      const size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        *error = "--property wants KEY=VALUE, got \"" + value + "\"";
        return false;
      }
      flags->properties.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (arg == "--timeout-s") {
      flags->timeout_s = std::atoi(value.c_str());
      if (flags->timeout_s <= 0) {
        *error = "--timeout-s wants a positive number of seconds";
        return false;
      }
    } else {
      *error = "unknown flag " + arg;
      return false;
    }
  }
  if (flags->bootstrap.empty() || flags->topics.empty()) {
    *error = "--bootstrap and at least one --topic are required";
    return false;
  }
  return true;
}

// The partition count of `topic`, once the cluster knows the topic.
std::optional<int> Partitions(rd_kafka_t* rk, const std::string& topic,
                              std::string* error) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &metadata, 10'000);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    *error = std::string("metadata: ") + rd_kafka_err2str(err);
    return std::nullopt;
  }
  std::optional<int> count;
  if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = metadata->topics[0].partition_cnt;
  } else if (metadata->topic_cnt == 1) {
    *error = topic + ": " + rd_kafka_err2str(metadata->topics[0].err);
  }
  rd_kafka_metadata_destroy(metadata);
  return count;
}

int Run(const Flags& flags) {
  const Clock::time_point run_started = Clock::now();
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> properties = {
      {"bootstrap.servers", flags.bootstrap},
      {"group.id", "prodops-raw-consumer"},  // required by the API; no group is joined
      {"client.id", "prodops-raw-consumer"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},  // how the end is seen
  };
  properties.insert(properties.end(), flags.properties.begin(), flags.properties.end());
  for (const auto& [key, value] : properties) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Fail(key + ": " + errstr);
    }
  }
  rd_kafka_t* raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (raw == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new takes it only on success
    return Fail(errstr);
  }
  KafkaHandle rk(raw);
  rd_kafka_poll_set_consumer(rk.get());

  ListHandle assignment(rd_kafka_topic_partition_list_new(16));
  for (const std::string& topic : flags.topics) {
    std::string error;
    std::optional<int> partitions;
    for (int attempt = 0; attempt < 30 && !partitions.has_value(); ++attempt) {
      partitions = Partitions(rk.get(), topic, &error);
      if (!partitions.has_value()) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (!partitions.has_value()) return Fail("cannot find topic " + topic + ": " + error);
    for (int p = 0; p < *partitions; ++p) {
      rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  const int partitions = assignment->cnt;
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), assignment.get()); err) {
    return Fail(std::string("assign: ") + rd_kafka_err2str(err));
  }

  uint64_t messages = 0;
  uint64_t bytes = 0;
  std::optional<Clock::time_point> first_message;
  std::set<std::pair<std::string, int32_t>> at_end;
  const Clock::time_point deadline = run_started + std::chrono::seconds(flags.timeout_s);
  while (static_cast<int>(at_end.size()) < partitions) {
    if (Clock::now() > deadline)
      return Fail("timed out before the end of every partition");
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.emplace(rd_kafka_topic_name(m->rkt), m->partition);
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "prodops-raw-consumer: %s\n", rd_kafka_message_errstr(m));
    } else {
      if (!first_message.has_value()) first_message = Clock::now();
      ++messages;
      bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  const Clock::time_point done = Clock::now();
  const double seconds =
      first_message.has_value()
          ? std::chrono::duration<double>(done - *first_message).count()
          : 0;
  rk.reset();
  const double run_seconds =
      std::chrono::duration<double>(Clock::now() - run_started).count();
  std::printf(
      "{\"events\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"events_per_second\":%.1f,"
      "\"run_seconds\":%.6f}\n",
      static_cast<unsigned long long>(messages), static_cast<unsigned long long>(bytes),
      seconds, seconds > 0 ? messages / seconds : 0, run_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 &&
      (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    std::fprintf(stderr, "prodops-raw-consumer: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  return Run(flags);
}
