#include "daemon/signals/experiment_signals.h"

#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/export/snapshot.h"
#include "daemon/signals/chi_square.h"

namespace prodops::signals {

using prodops::state::ExperimentCounts;
using prodops::state::ExperimentPendingGoal;
using prodops::state::ExperimentUserState;
using prodops::state::ExperimentVariantCounts;
using prodops::v1::Event;
using prodops::v1::ExposureEvent;

namespace {

// Kinds of entry in Family::kSignals, after the task prefix.
constexpr std::string_view kUserPrefix = "experiment/u/";
constexpr std::string_view kPendingPrefix = "experiment/p/";
constexpr std::string_view kCountsPrefix = "experiment/e/";
// Rough bytes of one changed entry beyond its key, for PendingBytes().
constexpr size_t kEntryBytes = 48;

// Users and pending goals are keyed by state::TaskKey(task, experiment +
// "\0" + user_id), counts by state::TaskKey(task, experiment).
std::string UserKey(state::TaskId task, const std::string& experiment,
                    const std::string& user_id) {
  std::string key = state::TaskKey(task, experiment);
  key.push_back('\0');
  key.append(user_id);
  return key;
}

std::string StoreKey(std::string_view prefix, const std::string& key) {
  return state::StoreKeyOf(key, prefix);
}

void AddCounts(const ExperimentCounts& more, ExperimentCounts* into) {
  for (const auto& [label, values] : more.by_label()) {
    ExperimentVariantCounts& sum = (*into->mutable_by_label())[label];
    sum.set_exposed_users(sum.exposed_users() + values.exposed_users());
    sum.set_converted_users(sum.converted_users() + values.converted_users());
  }
  for (const auto& [variant, users] : more.configured_variant_users()) {
    (*into->mutable_configured_variant_users())[variant] += users;
  }
  into->set_multi_variant_users(into->multi_variant_users() + more.multi_variant_users());
}

void Decrement(uint64_t* value) {
  if (*value > 0) --*value;  // never below zero, even on inconsistent stored state
}

bool IsConfigured(const ExperimentSpec& spec, const std::string& variant) {
  for (const ExperimentSpec::Variant& v : spec.variants) {
    if (v.name == variant) return true;
  }
  return false;
}

// Moves `user` from its variant's counts to `sign` > 0: adds, < 0: removes.
void CountUser(const ExperimentSpec& spec, const ExperimentUserState& user, int sign,
               ExperimentCounts* counts) {
  ExperimentVariantCounts& by_label = (*counts->mutable_by_label())[user.variant_label()];
  uint64_t exposed = by_label.exposed_users();
  uint64_t converted = by_label.converted_users();
  uint64_t configured = 0;
  const bool is_configured = IsConfigured(spec, user.first_variant());
  if (is_configured) configured = (*counts->mutable_configured_variant_users())[user.first_variant()];
  if (sign > 0) {
    ++exposed;
    if (user.converted()) ++converted;
    ++configured;
  } else {
    Decrement(&exposed);
    if (user.converted()) Decrement(&converted);
    Decrement(&configured);
  }
  by_label.set_exposed_users(exposed);
  by_label.set_converted_users(converted);
  if (is_configured) (*counts->mutable_configured_variant_users())[user.first_variant()] = configured;
}

}  // namespace

ExperimentSignals::ExperimentSignals(ExperimentOptions options, LabelBudget* budget,
                                     const window::Aggregates* aggregates)
    : options_(std::move(options)), budget_(budget), aggregates_(aggregates) {
  for (const ExperimentSpec& spec : options_.experiments) by_name_[spec.name] = &spec;
}

absl::Status ExperimentSignals::Open(const state::StateStore& store) {
  store_ = &store;
  return absl::OkStatus();
}

absl::Status ExperimentSignals::LoadTask(state::TaskId task) {
  DropTask(task);
  // The entries of `kind` of the task, each with its TaskKey.
  const auto scan = [&](std::string_view kind, const auto& load) {
    const std::string prefix = state::TaskKey(task, kind);
    return store_->Scan(state::Family::kSignals, prefix,
                        [&](std::string_view key, std::string_view value) {
                          return load(state::TaskKey(task, key.substr(prefix.size())),
                                      value);
                        });
  };
  absl::Status status = scan(kCountsPrefix, [&](std::string key, std::string_view value) {
    ExperimentCounts counts;
    if (!counts.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError("experiment signals: unreadable experiment counts");
    }
    // Another process may have admitted the experiments of a task it held.
    budget_->Adopt(BudgetedLabel::kExperiment, state::OwnKeyOf(key));
    counts_[std::move(key)] = std::move(counts);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return scan(kPendingPrefix, [&](std::string key, std::string_view value) {
    ExperimentPendingGoal pending;
    if (!pending.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError("experiment signals: unreadable pending goal");
    }
    pending_goals_[std::move(key)] = pending.latest_goal_ms();
    return absl::OkStatus();
  });
}

void ExperimentSignals::DropTask(state::TaskId task) {
  state::EraseTaskEntries(task, &users_);
  state::EraseTaskEntries(task, &pending_goals_);
  state::EraseTaskEntries(task, &counts_);
  state::EraseTaskEntries(task, &dirty_users_);
  state::EraseTaskEntries(task, &dirty_pending_);
  state::EraseTaskEntries(task, &dirty_counts_);
}

void ExperimentSignals::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  if (event.payload_case() == Event::kExposure) {
    const auto spec = by_name_.find(event.exposure().experiment());
    if (spec != by_name_.end()) {
      ApplyExposure(*spec->second, event.exposure(), occurred_ms, as_of_ms);
    }
  } else if (event.payload_case() == Event::kUsage) {
    for (const ExperimentSpec& spec : options_.experiments) {
      if (event.usage().feature() == spec.goal_feature &&
          event.usage().action() == spec.goal_action) {
        ApplyGoal(spec, event.usage().user_id(), occurred_ms, as_of_ms);
      }
    }
  }
}

ExperimentSignals::CachedUser* ExperimentSignals::FindUser(const std::string& key,
                                                           bool* failed) {
  *failed = false;
  if (auto it = users_.find(key); it != users_.end()) return &it->second;
  if (store_ == nullptr) return nullptr;
  absl::StatusOr<std::string> stored =
      store_->Get(state::Family::kSignals, StoreKey(kUserPrefix, key));
  if (absl::IsNotFound(stored.status())) return nullptr;
  CachedUser user;
  if (!stored.ok() || !user.state.ParseFromString(*stored)) {
    // Skipping is safe from double counting; the event may be missed.
    *failed = true;
    if (read_errors_++ < 10 || read_errors_ % 1000 == 0) {
      Log(LogLevel::kError,
          absl::StrCat("experiment signals: cannot read a user's state (event skipped): ",
                       stored.ok() ? "unparsable value" : stored.status().ToString()));
    }
    return nullptr;
  }
  return &(users_[key] = std::move(user));
}

ExperimentCounts& ExperimentSignals::CountsOf(const std::string& experiment) {
  std::string key = state::TaskKey(aggregates_->selected_task(), experiment);
  pending_bytes_ += kCountsPrefix.size() + key.size() + kEntryBytes;
  dirty_counts_.insert(key);
  return counts_[std::move(key)];
}

void ExperimentSignals::ApplyExposure(const ExperimentSpec& spec, const ExposureEvent& exposure,
                                      int64_t at_ms, int64_t as_of_ms) {
  budget_->Admit(BudgetedLabel::kExperiment, spec.name);
  const std::string variant_label(budget_->Admit(BudgetedLabel::kVariant, exposure.variant()));
  const std::string& variant = exposure.variant();
  const std::string key =
      UserKey(aggregates_->selected_task(), spec.name, exposure.user_id());
  bool failed = false;
  CachedUser* user = FindUser(key, &failed);
  if (failed) return;
  if (user == nullptr) {
    user = &users_[key];
    ExperimentUserState& state = user->state;
    state.set_first_exposure_ms(at_ms);
    state.set_first_variant(variant);
    state.set_variant_label(variant_label);
    // Goals that came first; only within the lateness, so that the outcome
    // does not depend on when Advance() dropped them.
    if (auto pending = pending_goals_.find(key); pending != pending_goals_.end()) {
      if (pending->second > as_of_ms - options_.allowed_lateness_ms) {
        state.set_latest_goal_ms(pending->second);
      }
      pending_goals_.erase(pending);
      dirty_pending_.insert(key);
    }
    CountUser(spec, state, +1, &CountsOf(spec.name));
  } else {
    ExperimentUserState& state = user->state;
    const bool other_variant = variant != state.first_variant();
    const bool earlier = at_ms < state.first_exposure_ms() ||
                         (at_ms == state.first_exposure_ms() && variant < state.first_variant());
    if (!earlier && (!other_variant || state.multi_variant())) return;  // nothing new
    ExperimentCounts& counts = CountsOf(spec.name);
    if (other_variant && !state.multi_variant()) {
      state.set_multi_variant(true);
      counts.set_multi_variant_users(counts.multi_variant_users() + 1);
    }
    if (earlier) {
      if (other_variant) {
        CountUser(spec, state, -1, &counts);
        state.set_first_variant(variant);
        state.set_variant_label(variant_label);
        CountUser(spec, state, +1, &counts);
      }
      state.set_first_exposure_ms(at_ms);
    }
  }
  MaybeConvert(spec.name, &user->state);
  user->dirty = true;
  dirty_users_.insert(key);
  pending_bytes_ += kUserPrefix.size() + key.size() + kEntryBytes;
}

void ExperimentSignals::ApplyGoal(const ExperimentSpec& spec, const std::string& user_id,
                                  int64_t at_ms, int64_t as_of_ms) {
  const std::string key = UserKey(aggregates_->selected_task(), spec.name, user_id);
  // A pending goal means the user is not exposed: no store read needed.
  if (auto pending = pending_goals_.find(key); pending != pending_goals_.end()) {
    if (at_ms > pending->second) {
      pending->second = at_ms;
      dirty_pending_.insert(key);
      pending_bytes_ += kPendingPrefix.size() + key.size() + kEntryBytes;
    }
    return;
  }
  bool failed = false;
  CachedUser* user = FindUser(key, &failed);
  if (failed) return;
  if (user == nullptr) {
    // An exposure that could make this goal count arrives within the
    // lateness, or is not waited for.
    if (at_ms <= as_of_ms - options_.allowed_lateness_ms) return;
    pending_goals_[key] = at_ms;
    dirty_pending_.insert(key);
    pending_bytes_ += kPendingPrefix.size() + key.size() + kEntryBytes;
    return;
  }
  ExperimentUserState& state = user->state;
  if (state.converted() || (state.has_latest_goal_ms() && state.latest_goal_ms() >= at_ms)) {
    return;
  }
  state.set_latest_goal_ms(at_ms);
  MaybeConvert(spec.name, &state);
  user->dirty = true;
  dirty_users_.insert(key);
  pending_bytes_ += kUserPrefix.size() + key.size() + kEntryBytes;
}

void ExperimentSignals::MaybeConvert(const std::string& experiment, ExperimentUserState* user) {
  if (user->converted() || !user->has_latest_goal_ms() ||
      user->latest_goal_ms() <= user->first_exposure_ms()) {
    return;
  }
  user->set_converted(true);
  user->clear_latest_goal_ms();  // no longer needed: conversion is for good
  ExperimentVariantCounts& by_label =
      (*CountsOf(experiment).mutable_by_label())[user->variant_label()];
  by_label.set_converted_users(by_label.converted_users() + 1);
}

void ExperimentSignals::Advance(int64_t as_of_ms) {
  const int64_t horizon_ms = as_of_ms - options_.allowed_lateness_ms;
  for (auto it = pending_goals_.begin(); it != pending_goals_.end();) {
    if (it->second <= horizon_ms) {
      dirty_pending_.insert(it->first);
      pending_goals_.erase(it++);
    } else {
      ++it;
    }
  }
}

// Evicts flushed users down to half the cache, each only once the store
// returns its current value: a flush whose write failed is retried by the
// pipeline, and until then the store holds an older value.
void ExperimentSignals::EvictFlushedUsers() {
  if (store_ == nullptr || users_.size() <= options_.max_cached_users) return;
  const size_t target = options_.max_cached_users / 2;
  for (auto it = users_.begin(); it != users_.end() && users_.size() > target;) {
    if (!it->second.dirty) {
      absl::StatusOr<std::string> stored =
          store_->Get(state::Family::kSignals, StoreKey(kUserPrefix, it->first));
      if (stored.ok() && *stored == it->second.state.SerializeAsString()) {
        users_.erase(it++);
        continue;
      }
    }
    ++it;
  }
}

void ExperimentSignals::CollectChanges(state::WriteSet* changes) {
  // First: what was collected before has been written (or not) by now.
  EvictFlushedUsers();
  for (const std::string& key : dirty_users_) {
    CachedUser& user = users_.at(key);  // dirty users are never evicted
    changes->Put(state::Family::kSignals, StoreKey(kUserPrefix, key),
                 user.state.SerializeAsString());
    user.dirty = false;
  }
  dirty_users_.clear();
  for (const std::string& key : dirty_pending_) {
    const auto it = pending_goals_.find(key);
    if (it == pending_goals_.end()) {
      changes->Delete(state::Family::kSignals, StoreKey(kPendingPrefix, key));
    } else {
      ExperimentPendingGoal pending;
      pending.set_latest_goal_ms(it->second);
      changes->Put(state::Family::kSignals, StoreKey(kPendingPrefix, key),
                   pending.SerializeAsString());
    }
  }
  dirty_pending_.clear();
  for (const std::string& key : dirty_counts_) {
    changes->Put(state::Family::kSignals, StoreKey(kCountsPrefix, key),
                 counts_.at(key).SerializeAsString());
  }
  dirty_counts_.clear();
  pending_bytes_ = 0;
}

void ExperimentSignals::Collect(int64_t as_of_ms,
                                std::vector<prometheus::MetricFamily>* out) const {
  const MetricDef& exposed_def = MetricOrDie(kExperimentExposedUsers);
  const MetricDef& converted_def = MetricOrDie(kExperimentConvertedUsers);
  const MetricDef& multi_def = MetricOrDie(kExperimentMultiVariantUsers);
  const MetricDef& srm_def = MetricOrDie(kExperimentSrmPValue);
  prometheus::MetricFamily exposed =
      exporter::MakeFamily(exposed_def.name, exposed_def.help, exposed_def.type);
  prometheus::MetricFamily converted =
      exporter::MakeFamily(converted_def.name, converted_def.help, converted_def.type);
  prometheus::MetricFamily multi =
      exporter::MakeFamily(multi_def.name, multi_def.help, multi_def.type);
  prometheus::MetricFamily srm = exporter::MakeFamily(srm_def.name, srm_def.help, srm_def.type);
  // Every task's counts, by experiment.
  std::map<std::string, ExperimentCounts> totals;
  for (const auto& [key, counts] : counts_) {
    AddCounts(counts, &totals[std::string(state::OwnKeyOf(key))]);
  }
  // By label values: experiments past the budget share "__other__".
  std::map<std::pair<std::string, std::string>, ExperimentVariantCounts> variants;
  std::map<std::string, uint64_t> multi_variant;
  for (const ExperimentSpec& spec : options_.experiments) {
    const auto counts = totals.find(spec.name);
    if (counts == totals.end()) continue;
    const std::string experiment(budget_->Lookup(BudgetedLabel::kExperiment, spec.name));
    bool any = false;
    for (const auto& [label, values] : counts->second.by_label()) {
      if (values.exposed_users() == 0) continue;
      any = true;
      ExperimentVariantCounts& sum = variants[{experiment, label}];
      sum.set_exposed_users(sum.exposed_users() + values.exposed_users());
      sum.set_converted_users(sum.converted_users() + values.converted_users());
    }
    if (!any) continue;
    multi_variant[experiment] += counts->second.multi_variant_users();
    if (experiment == kOtherLabel) continue;  // a mix of experiments: no single split
    std::vector<double> observed;
    std::vector<double> weights;
    for (const ExperimentSpec::Variant& variant : spec.variants) {
      const auto users = counts->second.configured_variant_users().find(variant.name);
      observed.push_back(users == counts->second.configured_variant_users().end()
                             ? 0.0
                             : static_cast<double>(users->second));
      weights.push_back(variant.weight);
    }
    const double p_value = ChiSquareGoodnessOfFitPValue(observed, weights);
    if (!std::isnan(p_value)) exporter::AddSample(&srm, {"experiment"}, {experiment}, p_value);
  }
  for (const auto& [labels, values] : variants) {
    exporter::AddSample(&exposed, {"experiment", "variant"}, {labels.first, labels.second},
                        static_cast<double>(values.exposed_users()));
    exporter::AddSample(&converted, {"experiment", "variant"}, {labels.first, labels.second},
                        static_cast<double>(values.converted_users()));
  }
  for (const auto& [experiment, users] : multi_variant) {
    exporter::AddSample(&multi, {"experiment"}, {experiment}, static_cast<double>(users));
  }
  out->push_back(std::move(exposed));
  out->push_back(std::move(converted));
  out->push_back(std::move(multi));
  out->push_back(std::move(srm));
}

std::vector<MetricDef> ExperimentMetricDefs() {
  using prometheus::MetricType;
  return {
      {std::string(kExperimentExposedUsers),
       "Distinct users exposed to the experiment (ExposureEvent), over all time, each in the "
       "variant of their first exposure.",
       MetricType::Gauge, {"experiment", "variant"}, Storage::kLive},
      {std::string(kExperimentConvertedUsers),
       "Exposed users with a goal usage event (the experiment's feature and action) after "
       "their first exposure, by the variant of that exposure.",
       MetricType::Gauge, {"experiment", "variant"}, Storage::kLive},
      {std::string(kExperimentMultiVariantUsers),
       "Exposed users seen in more than one variant (counted in their first variant only).",
       MetricType::Gauge, {"experiment"}, Storage::kLive},
      {std::string(kExperimentSrmPValue),
       "Sample ratio mismatch: chi-square goodness-of-fit p-value of the exposed users per "
       "configured variant against the configured split (df = variants - 1).",
       MetricType::Gauge, {"experiment"}, Storage::kLive},
  };
}

}  // namespace prodops::signals
