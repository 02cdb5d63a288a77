#include "daemon/sim/simulator.h"

#include <algorithm>
#include <array>

namespace prodops::sim {

using prodops::v1::Event;
using prodops::v1::ReleaseEvent;
using prodops::v1::TicketEvent;

namespace {

struct NamedFeature {
  const char* name;
  const char* team;
  double weight;  // share of usage
};

constexpr std::array<NamedFeature, 12> kNamedFeatures = {{
    {"search", "insights", 18},
    {"dashboard", "insights", 16},
    {"reports", "insights", 8},
    {"checkout", "payments", 12},
    {"billing", "payments", 5},
    {"onboarding", "growth", 6},
    {"notifications", "growth", 7},
    {"export", "platform", 4},
    {"integrations", "platform", 4},
    {"api", "platform", 9},
    {"mobile_app", "mobile", 8},
    {"settings", "mobile", 3},
}};
constexpr std::array<const char*, 5> kActions = {"view", "view", "click", "submit",
                                                 "search"};
constexpr const char* kSupportDesk = "support";
// Its tickets go back and forth between it and the desk.
constexpr const char* kPingPongTeam = "mobile";
constexpr double kPingPongShare = 0.33;
// A tenth of the solved tickets are reopened by their user and solved again.
constexpr double kReopenShare = 0.1;
constexpr int64_t kReleaseEveryMs = 180'000;
constexpr int64_t kBurstMs = 90'000;
// The experiment: configured 50/50 (config/demo.textproto), delivered 55/45
// (a sample ratio mismatch); for 2% of the users (two devices, say) a
// quarter of the exposures show the other variant. Its
// goal, a checkout submit, comes only from the experiment's flow: users
// who convert at all (25% of control, 35% of treatment) submit within two
// minutes of half their exposures.
constexpr const char* kExperiment = "new_checkout";
constexpr double kControlShare = 0.55;
constexpr double kLeakyUsers = 0.02;
constexpr double kLeakedExposures = 0.25;
constexpr double kControlConverters = 0.25;
constexpr double kTreatmentConverters = 0.35;
constexpr const char* kGoalFeature = "checkout";
constexpr const char* kGoalAction = "submit";
// Goal events (usage) per exposure: half the exposures of a converter.
constexpr double kGoalsPerExposure = 0.5 * (kControlShare * kControlConverters +
                                            (1 - kControlShare) * kTreatmentConverters);
// A ticket's lifecycle: created, assigned, answered, solved; a ping-pong
// adds two assignments (left out here: one team's), a reopen two steps.
constexpr double kTicketSteps = 4 + 2 * kReopenShare;
constexpr double kReleaseEvents = 1.25;  // a quarter are rolled back

// A uniform number in [0, 1) fixed for (seed, user, salt): splitmix64.
double UserDraw(uint64_t seed, int user, uint64_t salt) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(user) * 0xBF58476D1CE4E5B9ULL +
               salt * 0x94D049BB133111EBULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(uint64_t{1} << 53);
}

void SetTime(int64_t at_ms, google::protobuf::Timestamp* ts) {
  ts->set_seconds(at_ms / 1000);
  ts->set_nanos(static_cast<int32_t>(at_ms % 1000) * 1'000'000);
}

}  // namespace

Simulator::Simulator(SimulatorOptions options)
    : options_(options), starts_(StartsOf(options)), random_(options.seed) {
  std::vector<std::string> named_teams;  // in order of first appearance
  for (const NamedFeature& f : kNamedFeatures) {
    features_.push_back({f.name, f.team, f.weight});
    if (std::find(named_teams.begin(), named_teams.end(), f.team) == named_teams.end()) {
      named_teams.push_back(f.team);
    }
  }
  // The tail: weights falling as 1/rank from the smallest named one, so a
  // few features dominate and most are used now and then.
  for (int i = static_cast<int>(features_.size()); i < options_.features; ++i) {
    const size_t team = static_cast<size_t>(i % std::max(options_.teams, 1));
    features_.push_back(
        {"feature-" + std::to_string(i),
         team < named_teams.size() ? named_teams[team] : "team-" + std::to_string(team),
         3.0 * static_cast<double>(kNamedFeatures.size()) / (i + 1)});
  }
  std::vector<double> weights;
  for (const Feature& f : features_) weights.push_back(f.weight);
  feature_weights_ =
      std::discrete_distribution<int>::param_type(weights.begin(), weights.end());
}

Simulator::Starts Simulator::StartsOf(const SimulatorOptions& options) {
  const double rate = options.events_per_second;
  const EventMix& mix = options.mix;
  if (mix.IsDefault()) {
    return {.usage = rate * 0.85,
            .ticket = rate * 0.005,
            .exposure = rate * 0.05,
            .release = 0};
  }
  // Those that give the configured mix of events: a ticket or an exposure
  // starts several, and exposures start goal events too.
  const double total = mix.usage + mix.ticket + mix.release + mix.exposure;
  const double exposure = rate * mix.exposure / total;
  return {.usage = std::max(0.0, rate * mix.usage / total - exposure * kGoalsPerExposure),
          .ticket = rate * mix.ticket / total / kTicketSteps,
          .exposure = exposure,
          .release = rate * mix.release / total / kReleaseEvents};
}

std::string Simulator::AccountOf(int user) const {
  return "account-" + std::to_string(user / std::max(options_.users_per_account, 1));
}

std::string Simulator::NextEventId() {
  return "sim-" + std::to_string(options_.seed) + "-" + std::to_string(++sequence_);
}

int64_t Simulator::Between(int64_t low_ms, int64_t high_ms) {
  return std::uniform_int_distribution<int64_t>(low_ms, high_ms)(random_);
}

bool Simulator::Chance(double p) { return std::bernoulli_distribution(p)(random_); }

int Simulator::PickFeature() {
  return std::discrete_distribution<int>(feature_weights_)(random_);
}

void Simulator::Schedule(int64_t at_ms, Event event) {
  pending_.push(Scheduled{at_ms, ++sequence_, std::move(event)});
}

void Simulator::StartUsage(int64_t at_ms) {
  Event event;
  auto* usage = event.mutable_usage();
  usage->set_event_id(NextEventId());
  SetTime(at_ms, usage->mutable_occurred_at());
  const int user = static_cast<int>(Between(0, options_.users - 1));
  usage->set_user_id("user-" + std::to_string(user));
  usage->set_account_id(AccountOf(user));
  usage->set_feature(features_[PickFeature()].name);
  usage->set_action(kActions[Between(0, kActions.size() - 1)]);
  // Checkout submits are the experiment's goal: only its flow makes them.
  if (usage->feature() == kGoalFeature && usage->action() == kGoalAction) {
    usage->set_action("click");
  }
  usage->set_release("r" + std::to_string(releases_));
  Schedule(at_ms, std::move(event));
}

void Simulator::StartTicket(int64_t at_ms, int feature, bool incident) {
  const std::string ticket_id = "T-" + std::to_string(options_.seed) + "-" +
                                std::to_string(++tickets_);
  const int user = static_cast<int>(Between(0, options_.users - 1));
  TicketEvent base;
  base.set_ticket_id(ticket_id);
  base.set_account_id(AccountOf(user));
  base.add_features(features_[feature].name);
  base.set_release("r" + std::to_string(releases_));
  if (incident) {
    base.set_type(TicketEvent::INCIDENT);
    base.set_priority(Chance(0.5) ? TicketEvent::URGENT : TicketEvent::HIGH);
  } else {
    const double r = std::uniform_real_distribution<double>(0, 1)(random_);
    base.set_type(r < 0.45   ? TicketEvent::QUESTION
                  : r < 0.7  ? TicketEvent::BUG
                  : r < 0.78 ? TicketEvent::INCIDENT
                  : r < 0.9  ? TicketEvent::FEATURE_REQUEST
                             : TicketEvent::TASK);
    const double q = std::uniform_real_distribution<double>(0, 1)(random_);
    base.set_priority(q < 0.2   ? TicketEvent::LOW
                      : q < 0.8 ? TicketEvent::NORMAL
                      : q < 0.95 ? TicketEvent::HIGH
                                 : TicketEvent::URGENT);
  }
  // Each step of the lifecycle is the ticket as it is after that step.
  auto step = [&](int64_t t, TicketEvent::Kind kind, TicketEvent::Status status,
                  const std::string& team, const std::string& assignee,
                  TicketEvent::Actor actor, bool is_public) {
    Event event;
    TicketEvent* ticket = event.mutable_ticket();
    *ticket = base;
    ticket->set_event_id(NextEventId());
    SetTime(t, ticket->mutable_occurred_at());
    ticket->set_kind(kind);
    ticket->set_status(status);
    ticket->set_team(team);
    ticket->set_assignee(assignee);
    ticket->set_actor(actor);
    ticket->set_public_(is_public);
    Schedule(t, std::move(event));
  };
  const std::string owner = features_[feature].team;
  const std::string agent = owner + "-agent-" + std::to_string(Between(1, 4));
  int64_t t = at_ms;
  step(t, TicketEvent::CREATED, TicketEvent::NEW, kSupportDesk, "", TicketEvent::END_USER,
       true);
  t += Between(5'000, 60'000);
  step(t, TicketEvent::ASSIGNED, TicketEvent::OPEN, owner, agent, TicketEvent::AGENT, false);
  // The mobile team sends a third of its tickets back to the desk, which
  // routes them to mobile again: the ping-pong ownership signals look for.
  if (owner == kPingPongTeam && Chance(kPingPongShare)) {
    t += Between(10'000, 60'000);
    step(t, TicketEvent::ASSIGNED, TicketEvent::OPEN, kSupportDesk, "", TicketEvent::AGENT,
         false);
    t += Between(10'000, 60'000);
    step(t, TicketEvent::ASSIGNED, TicketEvent::OPEN, owner, agent, TicketEvent::AGENT, false);
  }
  t += Between(10'000, 120'000);
  step(t, TicketEvent::COMMENT_ADDED, TicketEvent::PENDING, owner, agent, TicketEvent::AGENT,
       true);
  t += Between(30'000, 300'000);
  step(t, TicketEvent::STATUS_CHANGED, TicketEvent::SOLVED, owner, agent, TicketEvent::AGENT,
       false);
  if (Chance(kReopenShare)) {
    t += Between(60'000, 600'000);
    step(t, TicketEvent::COMMENT_ADDED, TicketEvent::OPEN, owner, agent,
         TicketEvent::END_USER, true);
    t += Between(60'000, 300'000);
    step(t, TicketEvent::STATUS_CHANGED, TicketEvent::SOLVED, owner, agent,
         TicketEvent::AGENT, false);
  }
}

void Simulator::StartRelease(int64_t at_ms) {
  const int feature = PickFeature();
  Event event;
  ReleaseEvent* release = event.mutable_release();
  release->set_event_id(NextEventId());
  SetTime(at_ms, release->mutable_occurred_at());
  release->set_release("r" + std::to_string(++releases_));
  release->set_kind(ReleaseEvent::DEPLOY);
  release->set_team(features_[feature].team);
  release->add_features(features_[feature].name);
  const std::string name = release->release();
  Schedule(at_ms, event);
  burst_feature_ = feature;
  burst_until_ms_ = at_ms + kBurstMs;
  // Now and then the release is bad enough to be rolled back.
  if (Chance(0.25)) {
    Event rollback = event;
    rollback.mutable_release()->set_event_id(NextEventId());
    rollback.mutable_release()->set_kind(ReleaseEvent::ROLLBACK);
    const int64_t t = at_ms + Between(30'000, kBurstMs);
    SetTime(t, rollback.mutable_release()->mutable_occurred_at());
    Schedule(t, std::move(rollback));
  }
}

void Simulator::StartExposure(int64_t at_ms) {
  Event event;
  auto* exposure = event.mutable_exposure();
  exposure->set_event_id(NextEventId());
  SetTime(at_ms, exposure->mutable_occurred_at());
  const int user = static_cast<int>(Between(0, options_.users - 1));
  exposure->set_user_id("user-" + std::to_string(user));
  exposure->set_account_id(AccountOf(user));
  exposure->set_experiment(kExperiment);
  // Each user has a variant; configured as 50/50, delivered 55/45.
  bool treatment = UserDraw(options_.seed, user, 1) >= kControlShare;
  const bool converter =
      UserDraw(options_.seed, user, 2) < (treatment ? kTreatmentConverters : kControlConverters);
  if (UserDraw(options_.seed, user, 3) < kLeakyUsers && Chance(kLeakedExposures)) {
    treatment = !treatment;  // a multi-variant user
  }
  exposure->set_variant(treatment ? "treatment" : "control");
  const std::string user_id = exposure->user_id();
  const std::string account_id = exposure->account_id();
  Schedule(at_ms, std::move(event));
  if (!converter || !Chance(0.5)) return;
  Event goal;
  auto* usage = goal.mutable_usage();
  usage->set_event_id(NextEventId());
  const int64_t goal_ms = at_ms + Between(5'000, 120'000);
  SetTime(goal_ms, usage->mutable_occurred_at());
  usage->set_user_id(user_id);
  usage->set_account_id(account_id);
  usage->set_feature(kGoalFeature);
  usage->set_action(kGoalAction);
  usage->set_release("r" + std::to_string(releases_));
  Schedule(goal_ms, std::move(goal));
}

void Simulator::Generate(int64_t from_ms, int64_t to_ms, std::vector<Event>* out) {
  // Arrivals of new activity in (from, to]: a Poisson process per kind.
  const double seconds = (to_ms - from_ms) / 1000.0;
  auto arrivals = [&](double per_second) {
    return std::poisson_distribution<int>(per_second * seconds)(random_);
  };
  for (int i = arrivals(starts_.usage); i > 0; --i)
    StartUsage(Between(from_ms + 1, to_ms));
  for (int i = arrivals(starts_.ticket); i > 0; --i) {
    StartTicket(Between(from_ms + 1, to_ms), PickFeature(), /*incident=*/false);
  }
  for (int i = arrivals(starts_.exposure); i > 0; --i) {
    StartExposure(Between(from_ms + 1, to_ms));
  }
  const bool scheduled_releases = options_.mix.IsDefault();
  if (!scheduled_releases) {
    // Releases arrive like the rest; sorted, so that the incident burst
    // follows the latest release.
    std::vector<int64_t> times(arrivals(starts_.release));
    for (int64_t& t : times) t = Between(from_ms + 1, to_ms);
    std::sort(times.begin(), times.end());
    for (const int64_t t : times) StartRelease(t);
  }
  if (burst_until_ms_ > from_ms) {
    for (int i = arrivals(0.3); i > 0; --i) {
      StartTicket(Between(from_ms + 1, std::min(to_ms, burst_until_ms_)), burst_feature_,
                  /*incident=*/true);
    }
  }
  if (scheduled_releases) {
    // The demo's: the first 20 s in, then every three minutes.
    if (next_release_ms_ < 0) next_release_ms_ = from_ms + 20'000;
    for (; next_release_ms_ <= to_ms; next_release_ms_ += kReleaseEveryMs) {
      StartRelease(next_release_ms_);
    }
  }
  while (!pending_.empty() && pending_.top().at_ms <= to_ms) {
    out->push_back(pending_.top().event);
    pending_.pop();
  }
}

}  // namespace prodops::sim
