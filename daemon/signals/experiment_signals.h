#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "daemon/signals/catalog.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/signal_set.h"
#include "prodops/state/experiment_state.pb.h"

namespace prodops::signals {

// One configured experiment (DaemonConfig.signals.experiment).
struct ExperimentSpec {
  // ExposureEvent.experiment.
  std::string name;
  // The goal: a UsageEvent with this feature and action.
  std::string goal_feature;
  std::string goal_action;
  struct Variant {
    std::string name;
    double weight = 1;  // relative share of the configured split
  };
  // At least two (the config validates it).
  std::vector<Variant> variants;
};

// From DaemonConfig.signals.experiment and windows.allowed_lateness_seconds.
struct ExperimentOptions {
  // Default: none (no experiment tracked).
  std::vector<ExperimentSpec> experiments;
  // Default: 1 h.
  int64_t allowed_lateness_ms = 3'600'000;
  // Exposed users' states kept in memory beyond the ones not yet flushed;
  // the others are read back from the store when needed. Not configurable:
  // a cache size, not a behaviour. Default: 100000 (about 10 MB).
  size_t max_cached_users = 100'000;
};

// Experiments, over all time (not windowed):
//  - prodops_experiment_exposed_users{experiment,variant}: distinct users
//    exposed, each in the variant of their first exposure (by
//    (occurred_at, variant));
//  - prodops_experiment_converted_users{experiment,variant}: those of them
//    with a goal usage event (the experiment's feature and action) that
//    occurred strictly after their first exposure;
//  - prodops_experiment_multi_variant_users{experiment}: exposed users seen
//    in more than one variant (still counted in their first variant only);
//  - prodops_experiment_srm_p_value{experiment}: chi-square goodness-of-fit
//    p-value of the exposed users per configured variant against the
//    configured split (df = variants - 1); users whose first variant is not
//    configured are left out.
// All four are gauges: a late exposure that is earlier than a user's first
// one moves the user (and a conversion) to its variant. Exposures of
// experiments that are not configured are ignored.
//
// Determinism: every value is a function of the events, whatever their
// arrival order, as long as each event arrives within the allowed lateness
// of the pipeline's time. A goal event of a user not yet exposed is kept
// while it is within the lateness (as of the event that reads it); an
// exposure arriving later than that does not see it. Experiment and
// variant labels go through the LabelBudget (past the budget, which values
// are admitted depends on order, as documented there).
//
// State is kept per task (the partition of the events, see
// state::TaskId; the task is the one the shared Aggregates has selected).
// With exposures and usage keyed by account (docs/scaling.md), a user's
// events are all in one task. Collect() adds up every task's counts.
//
// State, Family::kSignals, each key after the task's prefix (persisted
// through CollectChanges, so exactly-once with the input offsets):
//   "experiment/u/" + experiment + "\0" + user_id -> ExperimentUserState,
//     one per exposed user, kept forever; read by point lookups (Get)
//     through a cache of at most max_cached_users flushed entries, plus
//     the entries changed since the last flush;
//   "experiment/p/" + experiment + "\0" + user_id -> ExperimentPendingGoal,
//     goal events of users not exposed, all in memory, dropped once past
//     the lateness: at most the goal users of one lateness (plus a flush
//     interval);
//   "experiment/e/" + experiment -> ExperimentCounts, all in memory (one
//     per experiment, one count per variant label).
// A store read error is logged and the event skipped for that experiment
// (nothing is counted twice; the event may be missed).
//
// Single-threaded. Open() must be called before Apply() for the cache to
// evict; without a store every state stays in memory.
class ExperimentSignals final : public SignalSet {
 public:
  // `budget` and `aggregates` must outlive this; `aggregates` says which
  // task each event is of.
  ExperimentSignals(ExperimentOptions options, LabelBudget* budget,
                    const window::Aggregates* aggregates);

  absl::Status Open(const state::StateStore& store) override;
  absl::Status LoadTask(state::TaskId task) override;
  void DropTask(state::TaskId task) override;
  void Apply(const prodops::v1::Event& event, int64_t occurred_ms, int64_t as_of_ms) override;
  void Advance(int64_t as_of_ms) override;
  void CollectChanges(state::WriteSet* changes) override;
  size_t PendingBytes() const override { return pending_bytes_; }
  void Collect(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const override;

  // Users' states in memory (flushed and not), for tests of the bound.
  size_t CachedUsers() const { return users_.size(); }

 private:
  struct CachedUser {
    prodops::state::ExperimentUserState state;
    bool dirty = false;
  };

  void ApplyExposure(const ExperimentSpec& spec, const prodops::v1::ExposureEvent& exposure,
                     int64_t at_ms, int64_t as_of_ms);
  void ApplyGoal(const ExperimentSpec& spec, const std::string& user_id, int64_t at_ms,
                 int64_t as_of_ms);
  // The user's state from the cache or the store; null if not exposed, or
  // (with `*failed` set) if the store cannot be read.
  CachedUser* FindUser(const std::string& key, bool* failed);
  // Counts the user converted if a goal came after the first exposure.
  void MaybeConvert(const std::string& experiment, prodops::state::ExperimentUserState* user);
  prodops::state::ExperimentCounts& CountsOf(const std::string& experiment);
  void EvictFlushedUsers();

  ExperimentOptions options_;
  LabelBudget* budget_;
  const window::Aggregates* aggregates_;
  const state::StateStore* store_ = nullptr;
  absl::flat_hash_map<std::string, const ExperimentSpec*> by_name_;
  // Keys: see UserKey in the .cc.
  absl::flat_hash_map<std::string, CachedUser> users_;
  absl::flat_hash_map<std::string, int64_t> pending_goals_;  // latest goal ms
  // By task and experiment.
  absl::flat_hash_map<std::string, prodops::state::ExperimentCounts> counts_;
  absl::flat_hash_set<std::string> dirty_users_;    // put; never evicted before
  absl::flat_hash_set<std::string> dirty_pending_;  // put, or delete if gone
  absl::flat_hash_set<std::string> dirty_counts_;
  size_t pending_bytes_ = 0;
  uint64_t read_errors_ = 0;
};

std::vector<MetricDef> ExperimentMetricDefs();
inline constexpr std::string_view kExperimentExposedUsers = "prodops_experiment_exposed_users";
inline constexpr std::string_view kExperimentConvertedUsers =
    "prodops_experiment_converted_users";
inline constexpr std::string_view kExperimentMultiVariantUsers =
    "prodops_experiment_multi_variant_users";
inline constexpr std::string_view kExperimentSrmPValue = "prodops_experiment_srm_p_value";

}  // namespace prodops::signals
