#include "daemon/app/cli.h"

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/app/daemon.h"
#include "daemon/app/replay.h"
#include "daemon/common/log.h"
#include "daemon/config/config.h"
#include "google/protobuf/stubs/logging.h"

namespace prodops::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage:\n"
    "  prodopsd --config FILE [--group-instance-id ID] [--exit-when-caught-up]\n"
    "                                         run the daemon; the id overrides\n"
    "                                         kafka.group_instance_id; with the\n"
    "                                         switch, exit once every partition is\n"
    "                                         read to its end and print a JSON line\n"
    "                                         with events/s\n"
    "  prodopsd check-config FILE             validate a config file\n"
    "  prodopsd replay --config FILE --input EVENTS [--input MORE]\n"
    "                  [--format json|protobuf] [--state-dir DIR]\n"
    "                                         run the pipeline over files of events\n"
    "                                         (NDJSON, or length-delimited binary\n"
    "                                         protobuf) and print the final exposition\n"
    "  prodopsd --version\n";

std::atomic<bool> stop_requested{false};

void OnStopSignal(int) { stop_requested.store(true); }

// protobuf logs an ERROR line for every message with invalid UTF-8 in a
// string field. Such messages are rejected and counted already; a bad
// producer must not flood the log, so protobuf's lines are debug output.
void LogFromProtobuf(google::protobuf::LogLevel level, const char* file, int line,
                     const std::string& message) {
  Log(level == google::protobuf::LOGLEVEL_FATAL ? LogLevel::kError : LogLevel::kDebug,
      absl::StrCat("protobuf ", file, ":", line, ": ", message));
}

int UsageError(const std::string& message) {
  std::cerr << "prodopsd: " << message << "\n" << kUsage;
  return kExitUsage;
}

// Parses "--name VALUE" pairs; repeated names keep every value.
bool ParseFlags(const std::vector<std::string>& args, size_t first,
                std::map<std::string, std::vector<std::string>>* flags,
                std::string* error) {
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      *error = absl::StrCat("unexpected argument \"", arg, "\"");
      return false;
    }
    if (i + 1 >= args.size()) {
      *error = absl::StrCat(arg, " needs a value");
      return false;
    }
    (*flags)[arg.substr(2)].push_back(args[++i]);
  }
  return true;
}

absl::StatusOr<prodops::v1::DaemonConfig> LoadConfig(const std::string& path) {
  return config::LoadConfigFile(path);
}

int CheckConfig(const std::string& path) {
  absl::StatusOr<prodops::v1::DaemonConfig> config = LoadConfig(path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return kExitUsage;
  }
  std::cout << path << ": OK\n";
  return kExitOk;
}

int Replay(const std::map<std::string, std::vector<std::string>>& flags) {
  for (const auto& [name, values] : flags) {
    if (name != "config" && name != "input" && name != "state-dir" && name != "format") {
      return UsageError(absl::StrCat("unknown flag --", name));
    }
  }
  if (!flags.contains("config") || flags.at("config").size() != 1) {
    return UsageError("replay needs exactly one --config FILE");
  }
  if (!flags.contains("input"))
    return UsageError("replay needs at least one --input FILE");
  absl::StatusOr<prodops::v1::DaemonConfig> config = LoadConfig(flags.at("config")[0]);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return kExitUsage;
  }
  ReplayOptions options;
  options.inputs = flags.at("input");
  if (flags.contains("format")) {
    const std::string& format = flags.at("format").back();
    if (format == "protobuf") {
      options.format = decode::Format::kProtobuf;
    } else if (format != "json") {
      return UsageError(absl::StrCat("--format \"", format, "\": want json or protobuf"));
    }
  }
  if (flags.contains("state-dir")) options.state_dir = flags.at("state-dir").back();
  if (absl::Status s = RunReplay(*config, options, std::cout); !s.ok()) {
    std::cerr << "prodopsd replay: " << s.message() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

// glibc's malloc keeps much of what the daemon frees, which is what sets
// its peak RSS (docs/performance.md, "Peak RSS"): fetch buffers, memtable
// blocks and flush batches are freed every second, and by default the
// mmap threshold grows to the largest of them, so they all come from (and
// stay in) the heap. A fixed 256 KiB threshold maps and unmaps them on
// their own, and two arenas stop librdkafka's and RocksDB's threads from
// each holding free memory of their own. An operator's MALLOC_* environment
// variables win over these.
void TuneMalloc() {
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  }
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
}

// `group_instance_id`, if set, replaces the config's.
int RunDaemon(const std::string& path,
              const std::optional<std::string>& group_instance_id,
              bool exit_when_caught_up) {
  TuneMalloc();
  absl::StatusOr<prodops::v1::DaemonConfig> config = LoadConfig(path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return kExitUsage;
  }
  if (group_instance_id.has_value()) {
    config->mutable_kafka()->set_group_instance_id(*group_instance_id);
  }
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
  Log(LogLevel::kInfo,
      absl::StrCat("prodopsd ", PRODOPS_VERSION, " starting with ", path));
  absl::StatusOr<std::unique_ptr<Daemon>> daemon = Daemon::Start(*config);
  if (!daemon.ok()) {
    Log(LogLevel::kError, absl::StrCat("cannot start: ", daemon.status().message()));
    return kExitFailure;
  }
  Daemon::RunOptions run_options;
  run_options.exit_when_caught_up = exit_when_caught_up;
  absl::StatusOr<Daemon::RunSummary> summary =
      (*daemon)->Run(stop_requested, run_options);
  if (!summary.ok()) {
    Log(LogLevel::kError, std::string(summary.status().message()));
    return kExitFailure;
  }
  if (exit_when_caught_up) {
    // One line of JSON on stdout (logs go to stderr), for benchmark scripts.
    const double rate = summary->seconds > 0 ? summary->messages / summary->seconds : 0;
    char line[200];
    std::snprintf(line, sizeof(line),
                  "{\"events\":%llu,\"seconds\":%.6f,\"events_per_second\":%.1f,"
                  "\"run_seconds\":%.6f}\n",
                  static_cast<unsigned long long>(summary->messages), summary->seconds,
                  rate, summary->run_seconds);
    std::cout << line;
  }
  return kExitOk;
}

}  // namespace

int RunCommandLine(int argc, char** argv) {
  google::protobuf::SetLogHandler(LogFromProtobuf);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return UsageError("nothing to do");
  if (args[0] == "--version") {
    std::cout << "prodopsd " << PRODOPS_VERSION << "\n";
    return kExitOk;
  }
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  if (args[0] == "check-config") {
    if (args.size() != 2) return UsageError("check-config needs exactly one FILE");
    return CheckConfig(args[1]);
  }
  std::map<std::string, std::vector<std::string>> flags;
  std::string error;
  const bool is_replay = args[0] == "replay";
  if (is_replay) {
    if (!ParseFlags(args, 1, &flags, &error)) return UsageError(error);
    return Replay(flags);
  }
  // The daemon's one switch without a value; the rest are "--name VALUE".
  std::vector<std::string> valued;
  bool exit_when_caught_up = false;
  for (const std::string& arg : args) {
    if (arg == "--exit-when-caught-up") {
      exit_when_caught_up = true;
    } else {
      valued.push_back(arg);
    }
  }
  if (!ParseFlags(valued, 0, &flags, &error)) return UsageError(error);
  for (const auto& [name, values] : flags) {
    if (name != "config" && name != "group-instance-id") {
      return UsageError(absl::StrCat("unknown flag --", name));
    }
    if (values.size() != 1) return UsageError(absl::StrCat("--", name, " given twice"));
  }
  if (!flags.contains("config")) {
    return UsageError("the daemon takes exactly one --config FILE");
  }
  std::optional<std::string> group_instance_id;
  if (flags.contains("group-instance-id")) {
    group_instance_id = flags.at("group-instance-id")[0];
    if (group_instance_id->empty()) return UsageError("--group-instance-id is empty");
  }
  return RunDaemon(flags.at("config")[0], group_instance_id, exit_when_caught_up);
}

}  // namespace prodops::app
