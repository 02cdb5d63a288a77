// prodops-loadgen: writes a deterministic scenario of product events (the
// daemon's simulator, sim::Simulator) to Kafka topics and/or NDJSON files.
//
// The scenario is a function of --seed, --users, --events-per-second, the
// product's shape (--accounts, --features, --teams, --mix), --start-ms and
// --events alone: the simulator is driven over consecutive
// one-second slices of event time from --start-ms until --events events have
// been routed to a topic. --rate only paces the writing, never the content.
//
// Each event goes to the first --topic whose content carries it (as the
// daemon's embedded simulator does); an event no topic carries is not
// written and does not count towards --events. Messages are keyed by
// sim::PartitionKey, so librdkafka's partitioner spreads them over the
// topic's partitions with one key always on one partition.
//
// --ndjson-dir DIR writes, per topic, DIR/<topic> with the same events as
// prodops.v1.Event envelopes in canonical JSON, one per line: the input of
// `prodopsd replay`, whose topic label is the file's base name.
// --protobuf-dir DIR does the same as length-delimited binary envelopes,
// the input of `prodopsd replay --format protobuf`.
//
// Progress goes to stderr; a one-line JSON summary to stdout.

#include <google/protobuf/util/delimited_message_util.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/decode/decode.h"
#include "daemon/ingest/producer.h"
#include "daemon/sim/encode.h"
#include "daemon/sim/simulator.h"

namespace prodops::loadgen {
namespace {

constexpr const char* kUsage =
    "usage: prodops-loadgen --events N --start-ms MS --topic NAME:FORMAT:CONTENT "
    "[--topic ...]\n"
    "                       [--bootstrap HOST:PORT] [--ndjson-dir DIR] [--protobuf-dir "
    "DIR]\n"
    "                       [--seed S] [--users U] [--events-per-second R] [--rate M]\n"
    "                       [--accounts A] [--features F] [--teams T] [--mix U,T,R,E]\n"
    "                       [--property KEY=VALUE ...]\n"
    "\n"
    "  --events N              events to write (routed to some topic); required\n"
    "  --start-ms MS           event time of the scenario's start, Unix milliseconds;\n"
    "                          required (events occur after it)\n"
    "  --topic NAME:FORMAT:CONTENT\n"
    "                          FORMAT is protobuf or json; CONTENT is envelope, usage,\n"
    "                          ticket, release or exposure; repeatable, at least one\n"
    "  --bootstrap HOST:PORT   Kafka to write to; without it nothing goes to Kafka\n"
    "  --ndjson-dir DIR        also write DIR/<topic>: the events as NDJSON envelopes\n"
    "  --protobuf-dir DIR      also write DIR/<topic>: the events as length-delimited\n"
    "                          binary envelopes\n"
    "  --seed S                simulator seed (default 1)\n"
    "  --users U               simulated users (default 400)\n"
    "  --events-per-second R   event-time density of the scenario (default 200)\n"
    "  --accounts A            accounts the users belong to (default: users / 10)\n"
    "  --features F            features, at least the simulator's 12 named ones\n"
    "                          (default 12)\n"
    "  --teams T               teams owning the features beyond the named ones\n"
    "                          (default 5)\n"
    "  --mix U,T,R,E           shares of usage, ticket, release and exposure events,\n"
    "                          e.g. 90,8,1,1 (default: the simulator's own mix)\n"
    "  --rate M                write at most M messages per wall-clock second\n"
    "                          (default 0: as fast as the broker takes them)\n"
    "  --property KEY=VALUE    librdkafka producer property; repeatable\n"
    "  --flush-timeout-ms T    wait this long for the last deliveries (default 300000)\n"
    "\n"
    "Needs at least one of --bootstrap, --ndjson-dir and --protobuf-dir. Exit codes: 0 "
    "done, 1 failed,\n"
    "2 bad flags. Topics are not created: the broker must auto-create them or have "
    "them.\n";

struct TopicSpec {
  std::string name;
  decode::Format format = decode::Format::kJson;
  decode::Content content = decode::Content::kEnvelope;
};

struct Flags {
  int64_t events = -1;
  std::optional<int64_t> start_ms;
  std::vector<TopicSpec> topics;
  std::string bootstrap;
  std::string ndjson_dir;
  std::string protobuf_dir;
  uint64_t seed = 1;
  int64_t users = 400;
  double events_per_second = 200;
  int64_t accounts = 0;  // 0: one per ten users
  int64_t features = 12;
  int64_t teams = 5;
  sim::EventMix mix;
  double rate = 0;
  int64_t flush_timeout_ms = 300'000;
  ingest::KafkaProperties properties;
};

absl::StatusOr<TopicSpec> ParseTopic(const std::string& spec) {
  const std::vector<std::string> parts = absl::StrSplit(spec, ':');
  if (parts.size() != 3 || parts[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--topic \"", spec,
                     "\": want NAME:FORMAT:CONTENT, e.g. prodops.usage:json:usage"));
  }
  TopicSpec topic{parts[0]};
  if (parts[1] == "protobuf") {
    topic.format = decode::Format::kProtobuf;
  } else if (parts[1] == "json") {
    topic.format = decode::Format::kJson;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--topic \"", spec, "\": format \"", parts[1], "\" is not protobuf or json"));
  }
  static const std::map<std::string, decode::Content> kContents = {
      {"envelope", decode::Content::kEnvelope},
      {"usage", decode::Content::kUsage},
      {"ticket", decode::Content::kTicket},
      {"release", decode::Content::kRelease},
      {"exposure", decode::Content::kExposure}};
  auto it = kContents.find(parts[2]);
  if (it == kContents.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--topic \"", spec, "\": content \"", parts[2],
                     "\" is not envelope, usage, ticket, release or exposure"));
  }
  topic.content = it->second;
  return topic;
}

absl::Status BadNumber(const std::string& flag, const std::string& value,
                       const std::string& want) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " \"", value, "\" is not ", want));
}

// Parses --`flag`'s `value` into `out`: an integer in [min, max].
absl::Status IntegerFlag(const std::string& flag, const std::string& value, int64_t min,
                         int64_t max, int64_t* out) {
  if (absl::SimpleAtoi(value, out) && *out >= min && *out <= max) return absl::OkStatus();
  if (min == 1 && max == std::numeric_limits<int64_t>::max()) {
    return BadNumber(flag, value, "a positive integer");
  }
  return BadNumber(flag, value, absl::StrCat("an integer in ", min, "..", max));
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return absl::CancelledError("help");
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\""));
    }
    if (i + 1 >= argc)
      return absl::InvalidArgumentError(absl::StrCat(arg, " needs a value"));
    const std::string name = arg.substr(2);
    const std::string value = argv[++i];
    absl::Status status;
    if (name == "events") {
      status = IntegerFlag(name, value, 1, kNoLimit, &flags.events);
    } else if (name == "start-ms") {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(value, &ms) || ms <= 0) {
        return BadNumber(name, value, "positive Unix milliseconds");
      }
      flags.start_ms = ms;
    } else if (name == "topic") {
      absl::StatusOr<TopicSpec> topic = ParseTopic(value);
      if (!topic.ok()) return topic.status();
      for (const TopicSpec& other : flags.topics) {
        if (other.name == topic->name) {
          return absl::InvalidArgumentError(
              absl::StrCat("--topic ", topic->name, " given twice"));
        }
      }
      flags.topics.push_back(*std::move(topic));
    } else if (name == "bootstrap") {
      flags.bootstrap = value;
    } else if (name == "ndjson-dir") {
      flags.ndjson_dir = value;
    } else if (name == "protobuf-dir") {
      flags.protobuf_dir = value;
    } else if (name == "seed") {
      if (!absl::SimpleAtoi(value, &flags.seed))
        return BadNumber(name, value, "an integer");
    } else if (name == "users") {
      status = IntegerFlag(name, value, 1, 100'000'000, &flags.users);
    } else if (name == "events-per-second") {
      if (!absl::SimpleAtod(value, &flags.events_per_second) ||
          !(flags.events_per_second > 0 && flags.events_per_second <= 1e7)) {
        return BadNumber(name, value, "a number in (0, 1e7]");
      }
    } else if (name == "accounts") {
      status = IntegerFlag(name, value, 1, kNoLimit, &flags.accounts);
    } else if (name == "features") {
      status = IntegerFlag(name, value, 12, 1'000'000, &flags.features);
    } else if (name == "teams") {
      status = IntegerFlag(name, value, 1, 1'000'000, &flags.teams);
    } else if (name == "mix") {
      const std::vector<std::string> parts = absl::StrSplit(value, ',');
      double shares[4] = {};
      bool ok = parts.size() == 4;
      for (size_t k = 0; ok && k < parts.size(); ++k) {
        ok = absl::SimpleAtod(parts[k], &shares[k]) && shares[k] >= 0;
      }
      if (!ok || shares[0] + shares[1] + shares[2] + shares[3] <= 0) {
        return BadNumber(name, value, "four shares >= 0, not all zero, e.g. 90,8,1,1");
      }
      flags.mix = {shares[0], shares[1], shares[2], shares[3]};
    } else if (name == "rate") {
      if (!absl::SimpleAtod(value, &flags.rate) || !(flags.rate >= 0)) {
        return BadNumber(name, value, "a number >= 0");
      }
    } else if (name == "flush-timeout-ms") {
      status = IntegerFlag(name, value, 1, kNoLimit, &flags.flush_timeout_ms);
    } else if (name == "property") {
      const size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--property \"", value, "\": want KEY=VALUE"));
      }
      flags.properties[value.substr(0, eq)] = value.substr(eq + 1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
    }
    if (!status.ok()) return status;
  }
  if (flags.events <= 0) return absl::InvalidArgumentError("--events N is required");
  if (flags.accounts > flags.users) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--accounts ", flags.accounts, " is more than --users ", flags.users));
  }
  if (!flags.start_ms.has_value())
    return absl::InvalidArgumentError("--start-ms MS is required");
  if (flags.topics.empty())
    return absl::InvalidArgumentError("at least one --topic is required");
  if (flags.bootstrap.empty() && flags.ndjson_dir.empty() && flags.protobuf_dir.empty()) {
    return absl::InvalidArgumentError(
        "nothing to write: give --bootstrap, --ndjson-dir or --protobuf-dir");
  }
  return flags;
}

// Writes at most `rate` messages per second on average (no limit at 0).
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}
  void Wait(int64_t written) {
    if (rate_ <= 0) return;
    const auto due = start_ + std::chrono::duration<double>(written / rate_);
    std::this_thread::sleep_until(due);
  }

 private:
  double rate_;
  std::chrono::steady_clock::time_point start_;
};

struct TopicStats {
  int64_t written = 0;
  int64_t min_ms = INT64_MAX;
  int64_t max_ms = INT64_MIN;
};

// Opens DIR/<topic> for every topic, truncated; nothing when `dir` is
// empty. False, after saying why, when one cannot be written.
bool OpenFiles(const std::string& dir, const std::vector<TopicSpec>& topics,
               std::vector<std::ofstream>* files) {
  if (dir.empty()) return true;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  for (const TopicSpec& topic : topics) {
    const std::string path = (std::filesystem::path(dir) / topic.name).string();
    files->emplace_back(path, std::ios::binary | std::ios::trunc);
    if (!files->back()) {
      std::cerr << "prodops-loadgen: cannot write " << path << ": "
                << std::strerror(errno) << "\n";
      return false;
    }
  }
  return true;
}

int Run(const Flags& flags) {
  std::unique_ptr<ingest::KafkaProducer> producer;
  if (!flags.bootstrap.empty()) {
    ingest::ProducerOptions options;
    options.bootstrap_servers = flags.bootstrap;
    options.client_id = "prodops-loadgen";
    options.extra_properties = flags.properties;
    absl::StatusOr<std::unique_ptr<ingest::KafkaProducer>> created =
        ingest::KafkaProducer::Create(options);
    if (!created.ok()) {
      std::cerr << "prodops-loadgen: cannot create the Kafka producer: "
                << created.status().message() << "\n";
      return 1;
    }
    producer = *std::move(created);
  }
  std::vector<std::ofstream> ndjson;
  std::vector<std::ofstream> delimited;
  if (!OpenFiles(flags.ndjson_dir, flags.topics, &ndjson) ||
      !OpenFiles(flags.protobuf_dir, flags.topics, &delimited)) {
    return 1;
  }

  sim::SimulatorOptions shape;
  shape.events_per_second = flags.events_per_second;
  shape.users = static_cast<int>(flags.users);
  shape.seed = flags.seed;
  if (flags.accounts > 0) {
    // Rounded up, so that there are at most --accounts of them.
    shape.users_per_account =
        static_cast<int>((flags.users + flags.accounts - 1) / flags.accounts);
  }
  shape.features = static_cast<int>(flags.features);
  shape.teams = static_cast<int>(flags.teams);
  shape.mix = flags.mix;
  sim::Simulator simulator(shape);
  constexpr int64_t kSliceMs = 1000;
  std::vector<TopicStats> stats(flags.topics.size());
  std::vector<prodops::v1::Event> events;
  std::string payload;
  std::string json;
  int64_t written = 0;
  int64_t slice_start = *flags.start_ms;
  int64_t slices_without_events = 0;
  Pacer pacer(flags.rate);
  auto last_progress = std::chrono::steady_clock::now();
  uint64_t produce_errors = 0;
  std::string first_error;

  while (written < flags.events) {
    events.clear();
    simulator.Generate(slice_start, slice_start + kSliceMs, &events);
    slice_start += kSliceMs;
    // A scenario whose topics carry none of the simulator's events would
    // never end.
    if (++slices_without_events > 100'000) {
      std::cerr << "prodops-loadgen: no event routed to any --topic in 100000 s of event "
                   "time\n";
      return 1;
    }
    for (const prodops::v1::Event& event : events) {
      if (written >= flags.events) break;
      size_t t = 0;
      while (t < flags.topics.size() && !sim::Carries(flags.topics[t].content, event))
        ++t;
      if (t == flags.topics.size()) continue;  // no topic takes this kind
      slices_without_events = 0;
      const TopicSpec& topic = flags.topics[t];
      if (producer != nullptr) {
        if (!sim::EncodeEvent(event, topic.format, topic.content, &payload)) {
          std::cerr << "prodops-loadgen: cannot encode an event for " << topic.name
                    << "\n";
          return 1;
        }
        pacer.Wait(written);
        if (absl::Status s =
                producer->Produce(topic.name, ingest::KafkaProducer::kAnyPartition,
                                  sim::PartitionKey(event), payload);
            !s.ok()) {
          if (produce_errors++ == 0) first_error = std::string(s.message());
        }
      }
      if (!ndjson.empty()) {
        json.clear();
        if (!google::protobuf::util::MessageToJsonString(event, &json).ok()) {
          std::cerr << "prodops-loadgen: cannot write an event as JSON\n";
          return 1;
        }
        ndjson[t] << json << '\n';
      }
      if (!delimited.empty() &&
          !google::protobuf::util::SerializeDelimitedToOstream(event, &delimited[t])) {
        std::cerr << "prodops-loadgen: cannot write an event as protobuf\n";
        return 1;
      }
      TopicStats& s = stats[t];
      ++s.written;
      const int64_t ms = decode::OccurredAtMillis(event);
      s.min_ms = std::min(s.min_ms, ms);
      s.max_ms = std::max(s.max_ms, ms);
      ++written;
    }
    if (producer != nullptr) producer->Poll();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress >= std::chrono::seconds(1)) {
      last_progress = now;
      std::cerr << "prodops-loadgen: " << written << "/" << flags.events << " events\n";
    }
  }
  for (std::vector<std::ofstream>* files : {&ndjson, &delimited}) {
    for (std::ofstream& out : *files) {
      out.flush();
      if (!out) {
        std::cerr << "prodops-loadgen: writing the event files failed\n";
        return 1;
      }
    }
  }
  if (producer != nullptr) {
    std::cerr << "prodops-loadgen: " << written
              << " events queued; waiting for delivery\n";
    if (absl::Status s = producer->Flush(static_cast<int>(flags.flush_timeout_ms));
        !s.ok()) {
      std::cerr << "prodops-loadgen: delivery failed: " << s.message() << "\n";
      return 1;
    }
    if (produce_errors > 0) {
      std::cerr << "prodops-loadgen: " << produce_errors
                << " messages not queued; first: " << first_error << "\n";
      return 1;
    }
  }
  std::cerr << "prodops-loadgen: done, " << written << " events\n";
  std::cout << "{\"events\":" << written << ",\"topics\":{";
  for (size_t t = 0; t < flags.topics.size(); ++t) {
    const TopicStats& s = stats[t];
    std::cout << (t > 0 ? "," : "") << "\"" << flags.topics[t].name
              << "\":{\"events\":" << s.written
              << ",\"first_ms\":" << (s.written > 0 ? s.min_ms : 0)
              << ",\"last_ms\":" << (s.written > 0 ? s.max_ms : 0) << "}";
  }
  std::cout << "}}\n";
  return 0;
}

}  // namespace
}  // namespace prodops::loadgen

int main(int argc, char** argv) {
  absl::StatusOr<prodops::loadgen::Flags> flags =
      prodops::loadgen::ParseFlags(argc, argv);
  if (!flags.ok()) {
    if (absl::IsCancelled(flags.status())) {
      std::cout << prodops::loadgen::kUsage;
      return 0;
    }
    std::cerr << "prodops-loadgen: " << flags.status().message() << "\n"
              << prodops::loadgen::kUsage;
    return 2;
  }
  return prodops::loadgen::Run(*flags);
}
