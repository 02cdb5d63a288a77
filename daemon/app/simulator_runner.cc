#include "daemon/app/simulator_runner.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/sim/encode.h"

namespace prodops::app {

absl::StatusOr<std::unique_ptr<SimulatorRunner>> SimulatorRunner::Start(
    const sim::SimulatorOptions& options, const std::vector<InputTopic>& topics,
    const std::string& bootstrap_servers, const Clock* clock) {
  ingest::ProducerOptions producer_options;
  producer_options.bootstrap_servers = bootstrap_servers;
  producer_options.client_id = "prodopsd-simulator";
  absl::StatusOr<std::unique_ptr<ingest::KafkaProducer>> producer =
      ingest::KafkaProducer::Create(producer_options);
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<SimulatorRunner>(
      new SimulatorRunner(options, topics, *std::move(producer), clock));
}

SimulatorRunner::SimulatorRunner(sim::SimulatorOptions options, std::vector<InputTopic> topics,
                                 std::unique_ptr<ingest::KafkaProducer> producer,
                                 const Clock* clock)
    : simulator_(options),
      topics_(std::move(topics)),
      producer_(std::move(producer)),
      clock_(clock),
      thread_([this] { Loop(); }) {}

SimulatorRunner::~SimulatorRunner() {
  stop_ = true;
  thread_.join();
}

void SimulatorRunner::Loop() {
  std::vector<prodops::v1::Event> events;
  std::string payload;
  int64_t last_ms = clock_->NowMillis();
  uint64_t failures = 0;
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int64_t now_ms = clock_->NowMillis();
    events.clear();
    simulator_.Generate(last_ms, now_ms, &events);
    last_ms = now_ms;
    for (const prodops::v1::Event& event : events) {
      for (const InputTopic& topic : topics_) {
        if (!sim::EncodeEvent(event, topic.format, topic.content, &payload)) continue;
        absl::Status s = producer_->Produce(topic.name, ingest::KafkaProducer::kAnyPartition,
                                            sim::PartitionKey(event), payload);
        if (!s.ok() && failures++ % 1000 == 0) {
          Log(LogLevel::kWarning, absl::StrCat("simulator: ", s.message()));
        }
        break;
      }
    }
    producer_->Poll();
  }
}

}  // namespace prodops::app
