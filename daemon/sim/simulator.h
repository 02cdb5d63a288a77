#pragma once

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "prodops/v1/events.pb.h"

namespace prodops::sim {

// Shares of the events by kind (any scale: they are normalized). All zero:
// the demo's mix, about 92% usage, 2% ticket and 5% exposure events and a
// release every three minutes.
struct EventMix {
  double usage = 0;
  double ticket = 0;
  double release = 0;
  double exposure = 0;
  bool IsDefault() const { return usage + ticket + release + exposure == 0; }
};

struct SimulatorOptions {
  // Average events per second over all kinds. Default: 200.
  double events_per_second = 200;
  // Simulated users. Default: 400.
  int users = 400;
  // Default: 1.
  uint64_t seed = 1;
  // Users per account. Default: 10.
  int users_per_account = 10;
  // Features, at least the demo's dozen named ones (search, checkout, ...,
  // owned by five named teams); beyond them, feature-<i> with Zipf-like
  // usage weights, owned round robin by `teams` teams. Defaults: 12 and 5.
  int features = 12;
  int teams = 5;
  EventMix mix;
};

// A small product and its support desk, as a stream of events: users use a
// dozen features (or more: SimulatorOptions); tickets are created, routed from the
// support desk to the owning team, answered and solved (the mobile team bounces some
// back and forth, and users reopen some); every few minutes a team deploys a release,
// and the released feature draws a burst of incident tickets; an experiment exposes
// users with a skewed split (55/45 against a configured 50/50), and its treatment
// converts (checkout submits after an exposure) a bit more than control.
// Deterministic for a seed and a sequence of calls. Not thread-safe.
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

  // Arrivals per second of new activity of each kind.
  struct Starts {
    double usage;
    double ticket;
    double exposure;
    double release;  // 0 with the demo's mix: its releases follow a schedule
  };

  struct Feature {
    std::string name;
    std::string team;
    double weight;  // share of usage
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

  std::string AccountOf(int user) const;
  static Starts StartsOf(const SimulatorOptions& options);

  const SimulatorOptions options_;
  const Starts starts_;
  std::vector<Feature> features_;
  std::discrete_distribution<int>::param_type feature_weights_;
  std::mt19937_64 random_;
  uint64_t sequence_ = 0;
  uint64_t tickets_ = 0;
  uint64_t releases_ = 0;
  int burst_feature_ = -1;     // feature hit by the latest release
  int64_t burst_until_ms_ = 0;  // incident burst lasts until then
  int64_t next_release_ms_ = -1;  // the demo's release schedule; -1 = not started
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> pending_;
};

}  // namespace prodops::sim
