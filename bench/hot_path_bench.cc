// The per-event cost of prodopsd's hot path, without Kafka: decoding a
// message and Pipeline::ProcessMessage (windows, distinct counts, every
// signal set, the write-combining cache), with the flushes the live loop
// makes (every second, or when the cache is full). Events come from the
// daemon's simulator, encoded as bare messages on one topic per kind, as
// bench/run.sh loads them into Kafka.
//
//   BM_Decode/<format>            decode::DecodeEvent alone
//   BM_ProcessMessage/<format>/<store>
//                                 decode + ProcessMessage + flushes, into the
//                                 in-memory store of the test fakes (the
//                                 pipeline alone) or RocksDB in a temporary
//                                 directory (what the daemon does, minus Kafka)
//
// Every ProcessMessage benchmark runs exactly kEvents distinct events once:
// replaying an event would hit the de-duplication and measure a shortcut.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/app/options.h"
#include "daemon/app/pipeline.h"
#include "daemon/common/clock.h"
#include "daemon/common/log.h"
#include "daemon/config/config.h"
#include "daemon/sim/encode.h"
#include "daemon/sim/simulator.h"
#include "daemon/state/rocks_store.h"
#include "tests/testing/memory_store.h"

namespace prodops::bench {
namespace {

constexpr int64_t kEvents = 500'000;
constexpr int kPartitions = 4;
// The simulated product: bench/run.sh's defaults.
sim::SimulatorOptions BenchShape() {
  sim::SimulatorOptions shape;
  shape.events_per_second = 1000;
  shape.users = 100'000;
  shape.users_per_account = 100;  // 1,000 accounts
  shape.features = 500;
  shape.teams = 40;
  shape.mix = {.usage = 90, .ticket = 8, .release = 1, .exposure = 1};
  return shape;
}

struct Topic {
  const char* name;
  const char* content;  // config name
  decode::Content decode_content;
};
constexpr Topic kTopics[] = {
    {"bench.usage", "USAGE", decode::Content::kUsage},
    {"bench.tickets", "TICKET", decode::Content::kTicket},
    {"bench.releases", "RELEASE", decode::Content::kRelease},
    {"bench.exposures", "EXPOSURE", decode::Content::kExposure},
};

struct EncodedMessage {
  int topic = 0;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string payload;
};

decode::Format FormatOf(int64_t arg) {
  return arg == 0 ? decode::Format::kProtobuf : decode::Format::kJson;
}

// kEvents events of the simulated product, ending now, encoded in `format`.
const std::vector<EncodedMessage>& Messages(decode::Format format) {
  static std::map<decode::Format, std::vector<EncodedMessage>> cache;
  std::vector<EncodedMessage>& messages = cache[format];
  if (!messages.empty()) return messages;
  const sim::SimulatorOptions shape = BenchShape();
  sim::Simulator simulator(shape);
  const int64_t now_ms = SystemClock().NowMillis();
  int64_t from_ms =
      now_ms - static_cast<int64_t>(kEvents / shape.events_per_second * 1000) - 600'000;
  int64_t offsets[std::size(kTopics)][kPartitions] = {};
  std::vector<prodops::v1::Event> events;
  while (static_cast<int64_t>(messages.size()) < kEvents) {
    events.clear();
    simulator.Generate(from_ms, from_ms + 1000, &events);
    from_ms += 1000;
    for (const prodops::v1::Event& event : events) {
      if (static_cast<int64_t>(messages.size()) == kEvents) break;
      for (int t = 0; t < static_cast<int>(std::size(kTopics)); ++t) {
        if (!sim::Carries(kTopics[t].decode_content, event)) continue;
        EncodedMessage m;
        m.topic = t;
        m.partition = static_cast<int32_t>(
            std::hash<std::string>()(sim::PartitionKey(event)) % kPartitions);
        m.offset = offsets[t][m.partition]++;
        if (!sim::EncodeEvent(event, format, kTopics[t].decode_content, &m.payload))
          abort();
        messages.push_back(std::move(m));
        break;
      }
    }
  }
  return messages;
}

std::string ConfigText(decode::Format format, const std::string& state_dir) {
  std::string text = absl::StrCat("kafka { bootstrap_servers: \"127.0.0.1:9\" }\n",
                                  "state { dir: \"", state_dir, "\" }\n");
  for (const Topic& topic : kTopics) {
    absl::StrAppend(&text, "topic { name: \"", topic.name, "\" format: ",
                    format == decode::Format::kProtobuf ? "PROTOBUF" : "JSON",
                    " content: ", topic.content, " }\n");
  }
  // The simulator's experiment, as in config/demo.textproto.
  absl::StrAppend(&text,
                  "signals { experiment { name: \"new_checkout\" "
                  "goal { feature: \"checkout\" action: \"submit\" } "
                  "variant { name: \"control\" weight: 1 } "
                  "variant { name: \"treatment\" weight: 1 } } }\n");
  return text;
}

void BM_Decode(benchmark::State& state) {
  const decode::Format format = FormatOf(state.range(0));
  const std::vector<EncodedMessage>& messages = Messages(format);
  prodops::v1::Event event;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const EncodedMessage& m = messages[i];
    const decode::Decoded decoded =
        decode::DecodeEvent(m.payload, format, kTopics[m.topic].decode_content, &event);
    if (!decoded.ok()) state.SkipWithError(decoded.detail.c_str());
    bytes += static_cast<int64_t>(m.payload.size());
    if (++i == messages.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_Decode)->ArgName("json")->Arg(0)->Arg(1);

void BM_ProcessMessage(benchmark::State& state) {
  const decode::Format format = FormatOf(state.range(0));
  const bool rocks = state.range(1) == 1;
  const std::vector<EncodedMessage>& messages = Messages(format);

  char dir_template[] = "/tmp/prodops-hot-path-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    state.SkipWithError("cannot create a temporary directory");
    return;
  }
  const std::string dir = dir_template;
  absl::StatusOr<prodops::v1::DaemonConfig> config =
      config::ParseConfig(ConfigText(format, dir + "/state"), "hot_path_bench");
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  std::unique_ptr<state::StateStore> store;
  if (rocks) {
    absl::StatusOr<std::unique_ptr<state::RocksStore>> opened =
        state::RocksStore::Open(app::ToStoreOptions(*config));
    if (!opened.ok()) {
      state.SkipWithError(std::string(opened.status().message()).c_str());
      return;
    }
    store = *std::move(opened);
  } else {
    store = std::make_unique<testing::MemoryStore>();
  }
  SystemClock clock;
  app::Pipeline pipeline(app::ToPipelineOptions(*config), store.get(), &clock);
  if (!pipeline.Load().ok()) {
    state.SkipWithError("cannot load the state");
    return;
  }
  size_t i = 0;
  int64_t bytes = 0;
  uint64_t flushes = 0;
  for (auto _ : state) {
    const EncodedMessage& m = messages[i++];
    pipeline.ProcessMessage(
        {kTopics[m.topic].name, m.partition, m.offset, {}, m.payload});
    bytes += static_cast<int64_t>(m.payload.size());
    if (pipeline.FlushDue()) {
      if (!pipeline.Flush().ok()) state.SkipWithError("flush failed");
      ++flushes;
    }
  }
  if (!pipeline.Flush().ok()) state.SkipWithError("flush failed");
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
  state.counters["flushes"] = static_cast<double>(flushes);
  store.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}
BENCHMARK(BM_ProcessMessage)
    ->ArgNames({"json", "rocksdb"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Iterations(kEvents)
    ->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace prodops::bench

int main(int argc, char** argv) {
  // The pipeline logs rejects and flush problems; none are expected here.
  prodops::SetMinLogLevel(prodops::LogLevel::kWarning);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
