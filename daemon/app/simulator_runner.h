#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/app/pipeline.h"
#include "daemon/common/clock.h"
#include "daemon/ingest/producer.h"
#include "daemon/sim/simulator.h"

namespace prodops::app {

// Runs the built-in simulator on its own thread: every 100 ms it generates
// the events of the elapsed wall time and produces each to the first input
// topic that carries its kind, in that topic's format. It only talks to
// Kafka, never to the pipeline's state.
class SimulatorRunner {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SimulatorRunner>> Start(
      const sim::SimulatorOptions& options, const std::vector<InputTopic>& topics,
      const std::string& bootstrap_servers, const Clock* clock);
  ~SimulatorRunner();  // stops and joins

 private:
  SimulatorRunner(sim::SimulatorOptions options, std::vector<InputTopic> topics,
                  std::unique_ptr<ingest::KafkaProducer> producer, const Clock* clock);
  void Loop();

  sim::Simulator simulator_;
  std::vector<InputTopic> topics_;
  std::unique_ptr<ingest::KafkaProducer> producer_;
  const Clock* clock_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace prodops::app
