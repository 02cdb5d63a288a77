#pragma once

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "prodops/v1/events.pb.h"

namespace prodops::sim {

struct SimulatorOptions {
  // Average events per second over all kinds. Default: 200.
  double events_per_second = 200;
  // Simulated users (ten per account). Default: 400.
  int users = 400;
  // Default: 1.
  uint64_t seed = 1;
};

// A small product and its support desk, as a stream of events: users use a
// dozen features; tickets are created, routed from the support desk to the
// owning team, answered and solved (the mobile team bounces some back and
// forth); every few minutes a team deploys a release, and the released
// feature draws a burst of incident tickets; an experiment exposes users
// with a skewed split (55/45 against a configured 50/50), and its treatment
// converts (checkout submits after an exposure) a bit more than control.
// Deterministic for a seed and a sequence of calls.
// Not thread-safe.
class Simulator {
 public:
  explicit Simulator(SimulatorOptions options);

  // Appends, in time order, the events that occur in (from_ms, to_ms].
  void Generate(int64_t from_ms, int64_t to_ms, std::vector<prodops::v1::Event>* out);

 private:
  struct Scheduled {
    int64_t at_ms;
    uint64_t sequence;  // ties in time keep creation order
    prodops::v1::Event event;
    bool operator>(const Scheduled& other) const {
      return at_ms != other.at_ms ? at_ms > other.at_ms : sequence > other.sequence;
    }
  };

  void StartUsage(int64_t at_ms);
  void StartTicket(int64_t at_ms, int feature, bool incident);
  void StartRelease(int64_t at_ms);
  void StartExposure(int64_t at_ms);
  void Schedule(int64_t at_ms, prodops::v1::Event event);
  std::string NextEventId();
  int PickFeature();
  int64_t Between(int64_t low_ms, int64_t high_ms);
  bool Chance(double p);

  SimulatorOptions options_;
  std::mt19937_64 random_;
  uint64_t sequence_ = 0;
  uint64_t tickets_ = 0;
  uint64_t releases_ = 0;
  int burst_feature_ = -1;     // feature hit by the latest release
  int64_t burst_until_ms_ = 0;  // incident burst lasts until then
  int64_t next_release_ms_ = -1;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> pending_;
};

}  // namespace prodops::sim
