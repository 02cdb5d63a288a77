#include "daemon/signals/release_signals.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "daemon/common/big_endian.h"
#include "daemon/export/snapshot.h"
#include "daemon/signals/product_metrics.h"
#include "daemon/window/buckets.h"

namespace prodops::signals {

using prodops::state::FeatureHourState;
using prodops::state::ReleaseState;
using prodops::state::ReleaseTaskCounts;
using prodops::v1::Event;
using prodops::v1::ReleaseEvent;
using prodops::v1::TicketEvent;

namespace {

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kBaselineHours = 168;
// ROLLBACK/HOTFIX times kept per release: the first few decide.
constexpr int kMaxUndos = 8;
constexpr std::string_view kReleasePrefix = "release/r/";
constexpr std::string_view kHourPrefix = "release/h/";
constexpr std::string_view kCountsPrefix = "release/c/";
constexpr uint64_t kSignBit = uint64_t{1} << 63;
constexpr size_t kHourKeyTail = 9;  // '\0' + 8-byte hour

std::string ReleaseKey(const std::string& name) {
  return std::string(kReleasePrefix) + name;
}

// The store key (Family::kSignals) of an hour of `task_feature`, a
// state::TaskKey(task, feature label). Flipping the sign bit makes byte
// order equal numeric order.
std::string HourKey(const std::string& task_feature, int64_t hour_ms) {
  std::string key = state::StoreKeyOf(task_feature, kHourPrefix);
  key.push_back('\0');
  const uint64_t biased = static_cast<uint64_t>(hour_ms) ^ kSignBit;
  PutFixedBigEndian(biased, 8, &key);
  return key;
}

// Releases frozen by an older version carry the process's counts instead
// of counts per task.
bool FrozenWithProcessCounts(const ReleaseState& release) {
  return release.tickets_after() != 0 || release.tickets_before() != 0;
}

}  // namespace

ReleaseSignals::ReleaseSignals(ReleaseOptions options, LabelBudget* budget,
                               window::Aggregates* aggregates)
    : options_(options), budget_(budget), aggregates_(aggregates) {}

absl::Status ReleaseSignals::Open(const state::StateStore& store) {
  store_ = &store;
  return store.Scan(
      state::Family::kMeta, kReleasePrefix,
      [&](std::string_view key, std::string_view value) {
        ReleaseState release;
        if (!release.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("release signals: unreadable release state");
        }
        const std::string name(key.substr(kReleasePrefix.size()));
        Index(name, release);
        releases_[name] = std::move(release);
        return absl::OkStatus();
      });
}

absl::Status ReleaseSignals::LoadTask(state::TaskId task) {
  DropTask(task);
  const std::string prefix = state::TaskKey(task, kHourPrefix);
  absl::Status status = store_->Scan(
      state::Family::kSignals, prefix, [&](std::string_view key, std::string_view value) {
        FeatureHourState hour;
        if (key.size() < prefix.size() + kHourKeyTail ||
            !hour.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("release signals: unreadable ticket hour state");
        }
        const std::string_view feature =
            key.substr(prefix.size(), key.size() - prefix.size() - kHourKeyTail);
        const uint64_t biased = DecodeFixedBigEndian(key.substr(key.size() - 8), 8);
        hours_[state::TaskKey(task, feature)][static_cast<int64_t>(biased ^ kSignBit)] =
            hour;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  const std::string counts_prefix = state::TaskKey(task, kCountsPrefix);
  status = store_->Scan(
      state::Family::kSignals, counts_prefix,
      [&](std::string_view key, std::string_view value) {
        ReleaseTaskCounts counts;
        if (!counts.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("release signals: unreadable release counts");
        }
        // Kept even for a release this process does not know (yet: a
        // release topic it could not read at start), so that they are
        // there when it does; Forget deletes them with the release.
        frozen_counts_[state::TaskKey(task, key.substr(counts_prefix.size()))] = counts;
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  tasks_.insert(task);
  // Releases frozen here but not by the task's last owner (its watermark
  // was behind): their counts come from the task's hours, which outlive
  // the freeze.
  for (const auto& [name, release] : releases_) {
    if (release.frozen()) FreezeTask(task, name, release);
  }
  return absl::OkStatus();
}

void ReleaseSignals::DropTask(state::TaskId task) {
  tasks_.erase(task);
  state::EraseTaskEntries(task, &hours_);
  state::EraseTaskEntries(task, &dirty_hours_);
  state::EraseTaskEntries(task, &frozen_counts_);
  state::EraseTaskEntries(task, &dirty_counts_);
}

void ReleaseSignals::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  if (event.payload_case() == Event::kRelease) ApplyRelease(event.release(), occurred_ms);
  if (event.payload_case() == Event::kTicket && event.ticket().kind() == TicketEvent::CREATED) {
    ApplyTicket(event.ticket(), occurred_ms);
  }
}

void ReleaseSignals::ApplyBroadcast(const Event& event, int64_t occurred_ms) {
  if (event.payload_case() != Event::kRelease) return;
  UpdateRelease(event.release(), occurred_ms, /*from_task=*/false);
}

void ReleaseSignals::ApplyRelease(const ReleaseEvent& event, int64_t at_ms) {
  aggregates_->AddCounter(
      SeriesOf(MetricOrDie(kReleasesTotal),
               {budget_->Admit(BudgetedLabel::kTeam, TeamLabel(event.team())),
                EnumLabel(ReleaseEvent::Kind_descriptor(), event.kind())}),
      1);
  UpdateRelease(event, at_ms, /*from_task=*/true);
}

std::string_view ReleaseSignals::Label(BudgetedLabel label, std::string_view value,
                                       bool from_task) {
  if (from_task) return budget_->Admit(label, value);
  budget_->Adopt(label, value);
  return budget_->Lookup(label, value);
}

void ReleaseSignals::UpdateRelease(const ReleaseEvent& event, int64_t at_ms,
                                   bool from_task) {
  ReleaseState& release = releases_[event.release()];
  if (release.frozen()) return;  // its windows are closed
  Unindex(event.release(), release);
  bool changed = false;
  if (event.kind() == ReleaseEvent::DEPLOY) {
    // The earliest DEPLOY defines the release, whatever the arrival order.
    // Read from its task after the broadcast, the same DEPLOY defines it
    // again, so that its labels pass through the budget as a task's.
    if (!release.deployed() || at_ms < release.deploy_ms() ||
        (from_task && at_ms == release.deploy_ms())) {
      release.set_deployed(true);
      release.set_deploy_ms(at_ms);
      // A task's event has admitted its team already (ApplyRelease): it is
      // looked up, not counted again.
      const std::string_view team = TeamLabel(event.team());
      if (!from_task) budget_->Adopt(BudgetedLabel::kTeam, team);
      release.set_team(std::string(budget_->Lookup(BudgetedLabel::kTeam, team)));
      release.clear_features();
      for (const std::string& feature : event.features()) {
        const std::string label(Label(BudgetedLabel::kFeature, feature, from_task));
        if (std::find(release.features().begin(), release.features().end(), label) ==
            release.features().end()) {
          release.add_features(label);
        }
      }
      changed = true;
    }
  } else if (release.undo_ms_size() < kMaxUndos &&
             std::find(release.undo_ms().begin(), release.undo_ms().end(), at_ms) ==
                 release.undo_ms().end()) {
    release.add_undo_ms(at_ms);
    changed = true;
  }
  if (changed) {
    MarkRelease(event.release());
    pending_bytes_ += release.ByteSizeLong();
  }
  // A failure is counted in a task (the one whose event completes it); a
  // broadcast event's task may be another process's.
  if (from_task) CheckFailure(event.release(), &release);
  Index(event.release(), release);
}

void ReleaseSignals::Index(const std::string& name, const ReleaseState& release) {
  if (!release.deployed() || release.failed() || release.frozen()) return;
  for (const std::string& feature : release.features()) {
    open_by_feature_[feature].insert(name);
  }
}

void ReleaseSignals::Unindex(const std::string& name, const ReleaseState& release) {
  for (const std::string& feature : release.features()) {
    const auto it = open_by_feature_.find(feature);
    if (it == open_by_feature_.end()) continue;
    it->second.erase(name);
    if (it->second.empty()) open_by_feature_.erase(it);
  }
}

void ReleaseSignals::ApplyTicket(const TicketEvent& ticket, int64_t at_ms) {
  const int64_t hour_ms = window::BucketStart(at_ms, kHourMs);
  if (hour_ms + kHourMs <= hours_cutoff_ms_) return;  // older than any window needs
  std::vector<std::string_view> labels;
  for (const std::string& feature : ticket.features()) {
    const std::string_view label = budget_->Lookup(BudgetedLabel::kFeature, feature);
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  }
  const bool incident = ticket.type() == TicketEvent::INCIDENT;
  const state::TaskId task = aggregates_->selected_task();
  tasks_.insert(task);
  for (std::string_view label : labels) {
    std::string key = state::TaskKey(task, label);
    FeatureHourState& hour = hours_[key][hour_ms];
    hour.set_tickets(hour.tickets() + 1);
    if (incident) {
      const bool first = hour.incidents() == 0;
      hour.set_incidents(hour.incidents() + 1);
      if (first || at_ms < hour.first_incident_ms()) hour.set_first_incident_ms(at_ms);
      if (first || at_ms > hour.last_incident_ms()) hour.set_last_incident_ms(at_ms);
    }
    pending_bytes_ += kHourPrefix.size() + key.size() + kHourKeyTail + 32;
    dirty_hours_.emplace(std::move(key), hour_ms);
  }
  if (!incident) return;
  // Copied: a release that fails leaves the index.
  std::vector<std::string> open;
  for (std::string_view label : labels) {
    const auto it = open_by_feature_.find(absl::string_view(label.data(), label.size()));
    if (it != open_by_feature_.end())
      open.insert(open.end(), it->second.begin(), it->second.end());
  }
  for (const std::string& name : open) {
    ReleaseState& release = releases_.at(name);
    if (release.failed()) continue;  // about two of the ticket's features
    CheckFailure(name, &release);
    if (release.failed()) Unindex(name, release);
  }
}

void ReleaseSignals::CheckFailure(const std::string& name, ReleaseState* release) {
  if (!release->deployed() || release->failed() || release->frozen()) return;
  const int64_t begin = release->deploy_ms();
  const int64_t end = begin + options_.impact_ms;
  const bool undone = std::any_of(release->undo_ms().begin(), release->undo_ms().end(),
                                  [&](int64_t t) { return t >= begin && t < end; });
  if (!undone && !IncidentWithin(*release)) return;
  release->set_failed(true);
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kChangeFailuresTotal), {release->team()}), 1);
  MarkRelease(name);
}

// Exact with hourly summaries because the window is at least an hour long:
// an hour that straddles its start ends inside it, so an incident at or
// after the start is the hour's last one; one that straddles its end
// starts inside it, so an incident before the end is its first one.
bool ReleaseSignals::IncidentWithin(const ReleaseState& release) const {
  const int64_t begin = release.deploy_ms();
  const int64_t end = begin + options_.impact_ms;
  bool within = false;
  for (state::TaskId task : tasks_) {
    ForEachHours(release, task, [&](const Hours& hours) {
      for (auto it = hours.lower_bound(window::BucketStart(begin, kHourMs));
           !within && it != hours.end() && it->first < end; ++it) {
        const FeatureHourState& hour = it->second;
        if (hour.incidents() == 0) continue;
        within = it->first < begin           ? hour.last_incident_ms() >= begin
                 : it->first + kHourMs > end ? hour.first_incident_ms() < end
                                             : true;
      }
    });
  }
  return within;
}

void ReleaseSignals::ForEachHours(const ReleaseState& release, state::TaskId task,
                                  const std::function<void(const Hours&)>& visit) const {
  for (const std::string& feature : release.features()) {
    const auto by_feature = hours_.find(state::TaskKey(task, feature));
    if (by_feature != hours_.end()) visit(by_feature->second);
  }
}

uint64_t ReleaseSignals::TicketsInHours(const ReleaseState& release, state::TaskId task,
                                        int64_t from_ms, int64_t to_ms) const {
  uint64_t tickets = 0;
  ForEachHours(release, task, [&](const Hours& hours) {
    for (auto it = hours.lower_bound(from_ms); it != hours.end() && it->first < to_ms;
         ++it) {
      tickets += it->second.tickets();
    }
  });
  return tickets;
}

ReleaseSignals::Counts ReleaseSignals::TaskCounts(state::TaskId task,
                                                  const std::string& name,
                                                  const ReleaseState& release) const {
  if (const auto it = frozen_counts_.find(state::TaskKey(task, name));
      it != frozen_counts_.end()) {
    return {it->second.tickets_after(), it->second.tickets_before()};
  }
  const int64_t hour_ms = window::BucketStart(release.deploy_ms(), kHourMs);
  return {TicketsInHours(release, task, hour_ms, hour_ms + options_.impact_ms),
          TicketsInHours(release, task, hour_ms - kBaselineHours * kHourMs, hour_ms)};
}

ReleaseSignals::Counts ReleaseSignals::HeldCounts(const std::string& name,
                                                  const ReleaseState& release) const {
  if (FrozenWithProcessCounts(release)) {
    return {release.tickets_after(), release.tickets_before()};
  }
  Counts sum;
  for (state::TaskId task : tasks_) {
    const Counts counts = TaskCounts(task, name, release);
    sum.after += counts.after;
    sum.before += counts.before;
  }
  return sum;
}

void ReleaseSignals::FreezeTask(state::TaskId task, const std::string& name,
                                const ReleaseState& release) {
  if (!release.deployed() || FrozenWithProcessCounts(release)) return;
  std::string key = state::TaskKey(task, name);
  if (frozen_counts_.contains(key)) return;
  const Counts counts = TaskCounts(task, name, release);
  ReleaseTaskCounts& frozen = frozen_counts_[key];
  frozen.set_tickets_after(counts.after);
  frozen.set_tickets_before(counts.before);
  pending_bytes_ += key.size() + kCountsPrefix.size() + 16;
  dirty_counts_.insert(std::move(key));
}

void ReleaseSignals::Forget(const std::string& name) {
  for (state::TaskId task : tasks_) {
    std::string key = state::TaskKey(task, name);
    if (frozen_counts_.erase(key) > 0) dirty_counts_.insert(std::move(key));
  }
  MarkRelease(name);
  releases_.erase(name);
}

void ReleaseSignals::ForgetOldestReleases() {
  // Only frozen releases: an open one can still fail or gain tickets, and
  // forgetting it would make the result depend on how far one partition ran
  // ahead of another. A frozen release with recent_releases frozen ones
  // deployed after it is never exposed again.
  std::vector<std::pair<int64_t, std::string_view>> frozen;
  for (const auto& [name, release] : releases_) {
    if (release.deployed() && release.frozen()) frozen.emplace_back(release.deploy_ms(), name);
  }
  if (frozen.size() <= options_.recent_releases) return;
  std::sort(frozen.begin(), frozen.end());
  std::vector<std::string> forget;
  for (size_t i = 0; i + options_.recent_releases < frozen.size(); ++i) {
    forget.emplace_back(frozen[i].second);
  }
  for (const std::string& name : forget) Forget(name);
}

void ReleaseSignals::Advance(int64_t as_of_ms) {
  const int64_t settled_ms = as_of_ms - options_.allowed_lateness_ms;
  for (auto it = releases_.begin(); it != releases_.end();) {
    ReleaseState& release = it->second;
    if (!release.deployed()) {
      // A ROLLBACK or HOTFIX whose DEPLOY did not come within lateness.
      const bool pending = std::any_of(release.undo_ms().begin(), release.undo_ms().end(),
                                       [&](int64_t t) { return t > settled_ms; });
      if (!pending) {
        MarkRelease(it->first);
        releases_.erase(it++);
        continue;
      }
    } else if (!release.frozen() && release.deploy_ms() + options_.impact_ms <= settled_ms) {
      for (state::TaskId task : tasks_) FreezeTask(task, it->first, release);
      Unindex(it->first, release);
      release.set_frozen(true);
      MarkRelease(it->first);
    }
    ++it;
  }
  ForgetOldestReleases();
  // After freezing: the releases just frozen read the hours dropped here.
  // Baseline and impact hours of every release not yet frozen, plus the
  // hour a DEPLOY can start inside of, and one for rounding.
  const int64_t cutoff_ms =
      settled_ms - options_.impact_ms - (kBaselineHours + 2) * kHourMs;
  if (cutoff_ms > hours_cutoff_ms_) {
    hours_cutoff_ms_ = cutoff_ms;
    for (auto& [feature, hours] : hours_) {
      for (auto it = hours.begin(); it != hours.end() && it->first + kHourMs <= cutoff_ms;) {
        dirty_hours_.emplace(feature, it->first);
        it = hours.erase(it);
      }
    }
    absl::erase_if(hours_, [](const auto& entry) { return entry.second.empty(); });
  }
}

void ReleaseSignals::CollectChanges(state::WriteSet* changes) {
  for (const std::string& name : dirty_releases_) {
    const auto it = releases_.find(name);
    if (it == releases_.end()) {
      changes->Delete(state::Family::kMeta, ReleaseKey(name));
    } else {
      changes->Put(state::Family::kMeta, ReleaseKey(name), it->second.SerializeAsString());
    }
  }
  dirty_releases_.clear();
  for (const auto& [task_feature, hour_ms] : dirty_hours_) {
    const auto by_feature = hours_.find(task_feature);
    const auto hour = by_feature == hours_.end() ? Hours::const_iterator()
                                                 : by_feature->second.find(hour_ms);
    if (by_feature == hours_.end() || hour == by_feature->second.end()) {
      changes->Delete(state::Family::kSignals, HourKey(task_feature, hour_ms));
    } else {
      changes->Put(state::Family::kSignals, HourKey(task_feature, hour_ms),
                   hour->second.SerializeAsString());
    }
  }
  dirty_hours_.clear();
  for (const std::string& task_release : dirty_counts_) {
    const std::string key = state::StoreKeyOf(task_release, kCountsPrefix);
    if (const auto it = frozen_counts_.find(task_release); it != frozen_counts_.end()) {
      changes->Put(state::Family::kSignals, key, it->second.SerializeAsString());
    } else {
      changes->Delete(state::Family::kSignals, key);
    }
  }
  dirty_counts_.clear();
  pending_bytes_ = 0;
}

void ReleaseSignals::Collect(int64_t as_of_ms,
                             std::vector<prometheus::MetricFamily>* out) const {
  const auto family = [](std::string_view name) {
    const MetricDef& def = MetricOrDie(name);
    return exporter::MakeFamily(def.name, def.help, def.type);
  };
  prometheus::MetricFamily lift = family(kReleaseTicketLift);
  prometheus::MetricFamily after_family = family(kReleaseTicketsAfter);
  prometheus::MetricFamily before_family = family(kReleaseTicketsBefore);
  prometheus::MetricFamily time = family(kReleaseTimestamp);
  prometheus::MetricFamily window = family(kReleaseImpactWindow);
  const double impact_hours = static_cast<double>(options_.impact_ms) / kHourMs;
  exporter::AddSample(&window, {}, {}, options_.impact_ms / 1000.0);
  // The recent_releases latest DEPLOYs (ties by name), whatever else is kept.
  std::vector<std::pair<int64_t, const std::string*>> recent;
  for (const auto& [name, release] : releases_) {
    if (release.deployed()) recent.emplace_back(release.deploy_ms(), &name);
  }
  const size_t shown = std::min(recent.size(), options_.recent_releases);
  std::partial_sort(recent.begin(), recent.begin() + static_cast<ptrdiff_t>(shown),
                    recent.end(), [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first
                                                : *a.second > *b.second;
                    });
  recent.resize(shown);
  for (const auto& [deploy_ms, name_ptr] : recent) {
    const std::string& name = *name_ptr;
    const ReleaseState& release = releases_.at(name);
    const Counts counts = HeldCounts(name, release);
    const double baseline_rate =
        static_cast<double>(std::max<uint64_t>(counts.before, 1)) / kBaselineHours;
    exporter::AddSample(&lift, {"release"}, {name},
                        static_cast<double>(counts.after) / impact_hours / baseline_rate);
    exporter::AddSample(&after_family, {"release"}, {name}, static_cast<double>(counts.after));
    exporter::AddSample(&before_family, {"release"}, {name},
                        static_cast<double>(counts.before));
    exporter::AddSample(&time, {"release"}, {name}, release.deploy_ms() / 1000.0);
  }
  for (prometheus::MetricFamily* f : {&lift, &after_family, &before_family, &time, &window}) {
    out->push_back(std::move(*f));
  }
}

std::vector<MetricDef> ReleaseMetricDefs() {
  using prometheus::MetricType;
  return {
      {std::string(kReleasesTotal), "Release events (ReleaseEvent), by team and kind.",
       MetricType::Counter, {"team", "kind"}, Storage::kCounter},
      {std::string(kChangeFailuresTotal),
       "Releases followed within the impact window by a ROLLBACK or HOTFIX of the same "
       "release or an INCIDENT ticket about one of their features; each release once.",
       MetricType::Counter, {"team"}, Storage::kCounter},
      {std::string(kReleaseTicketLift),
       "Ticket rate about the release's features in the impact hours from its DEPLOY hour "
       "over the rate in the 168 hours before (zero baseline counts as one ticket), in the "
       "partitions this process holds; most recent releases only.",
       MetricType::Gauge, {"release"}, Storage::kLive},
      {std::string(kReleaseTicketsAfter),
       "Tickets created about the release's features in the impact hours from its DEPLOY "
       "hour, in the partitions this process holds; most recent releases only.",
       MetricType::Gauge, {"release"}, Storage::kLive},
      {std::string(kReleaseTicketsBefore),
       "Tickets created about the release's features in the 168 hours before its DEPLOY "
       "hour, in the partitions this process holds; most recent releases only.",
       MetricType::Gauge, {"release"}, Storage::kLive},
      {std::string(kReleaseImpactWindow),
       "Length of a release's impact window (signals.releases.impact_hours).",
       MetricType::Gauge, {}, Storage::kLive},
      {std::string(kReleaseTimestamp), "Time of the release's earliest DEPLOY.",
       MetricType::Gauge, {"release"}, Storage::kLive},
  };
}

}  // namespace prodops::signals
