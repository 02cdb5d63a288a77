#include "daemon/signals/ticket_signals.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/export/snapshot.h"
#include "daemon/signals/product_metrics.h"
#include "daemon/window/encoding.h"

namespace prodops::signals {

using prodops::state::TicketFold;
using prodops::state::TicketRecord;
using prodops::v1::Event;
using prodops::v1::TicketEvent;
using prometheus::MetricType;

namespace {

constexpr std::string_view kSolvedTotal = "prodops_tickets_solved_total";
constexpr std::string_view kReopenedTotal = "prodops_tickets_reopened_total";
constexpr std::string_view kOpen = "prodops_tickets_open";
constexpr std::string_view kUnassignedOpen = "prodops_tickets_unassigned_open";
constexpr std::string_view kOldestOpenAge = "prodops_ticket_oldest_open_age_seconds";
constexpr std::string_view kFirstReplySeconds = "prodops_ticket_first_reply_seconds";
constexpr std::string_view kResolutionSeconds = "prodops_ticket_resolution_seconds";
constexpr std::string_view kSlaBreachesTotal = "prodops_sla_breaches_total";
constexpr std::string_view kReassignmentsTotal = "prodops_ticket_reassignments_total";
constexpr std::string_view kPingpongTotal = "prodops_ticket_pingpong_total";
constexpr std::string_view kFirefightingRatio = "prodops_firefighting_ratio";
constexpr std::string_view kReactiveTickets = "prodops_firefighting_reactive_tickets";
constexpr std::string_view kFirefightingTickets = "prodops_firefighting_tickets";
constexpr std::string_view kSpikeScore = "prodops_firefighting_spike_score";
constexpr std::string_view kSpike = "prodops_firefighting_spike";
constexpr std::string_view kKeyingViolationsTotal =
    "prodops_ticket_keying_violations_total";

constexpr char kTicketPrefix = 't';
constexpr char kIndexPrefix = 'x';
// Family::kMeta keys: the process's commit horizon, and the expiry the
// index was built with.
constexpr std::string_view kHorizonKey = "tickets/horizon";
constexpr std::string_view kIndexMarkerKey = "tickets/index_expiry";
constexpr int64_t kHourMs = 3'600'000;
// Consistency constant of the MAD for normally distributed data.
constexpr double kMadScale = 1.4826;


std::string TypeLabel(const TicketFold& ticket) {
  return EnumLabel(TicketEvent::Type_descriptor(), ticket.type());
}

std::string PriorityLabel(TicketEvent::Priority priority) {
  return EnumLabel(TicketEvent::Priority_descriptor(), priority);
}

std::string BigEndian64(int64_t value) {
  std::string out;
  window::internal::PutFixedBigEndian(static_cast<uint64_t>(value), 8, &out);
  return out;
}

// Tickets are held by state::TaskKey(task, ticket_id): the same id in two
// tasks is two tickets.
using state::TaskKey;
using state::TaskOfKey;
std::string_view IdOfKey(std::string_view key) { return state::OwnKeyOf(key); }

// The store key of ticket `key`'s record.
std::string RecordKey(std::string_view key) {
  return state::StoreKeyOf(key, std::string_view(&kTicketPrefix, 1));
}

// The expiry index key of ticket `id` of `task` (all keys of an expiry
// when `id` is empty). Times before the epoch sort first.
std::string ExpiryIndexKey(state::TaskId task, int64_t expires_ms, std::string_view id) {
  std::string key = state::TaskPrefix(task);
  key.push_back(kIndexPrefix);
  key += BigEndian64(std::max<int64_t>(0, expires_ms));
  key += id;
  return key;
}

constexpr size_t kIndexIdOffset = state::kTaskPrefixBytes + 1 + 8;

void LogReadError(uint64_t* errors, const absl::Status& status) {
  // Rare, and a store that cannot be read fails the next write too (the
  // daemon then reports not ready): log the first of each thousand.
  if ((*errors)++ % 1000 == 0) {
    Log(LogLevel::kError, absl::StrCat("cannot read ticket state: ", status.message()));
  }
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

std::vector<MetricDef> TicketMetricDefs() {
  return {
      {std::string(kSolvedTotal),
       "Tickets that left the backlog (entered SOLVED, or CLOSED from an open status), "
       "counted once the allowed lateness has passed.",
       MetricType::Counter,
       {"ticket_type", "priority", "team"},
       Storage::kCounter},
      {std::string(kReopenedTotal),
       "SOLVED or CLOSED tickets that got an open status again.",
       MetricType::Counter,
       {"team"},
       Storage::kCounter},
      {std::string(kOpen),
       "Tickets not SOLVED or CLOSED (the backlog).",
       MetricType::Gauge,
       {"priority", "team"},
       Storage::kLive},
      {std::string(kUnassignedOpen),
       "Open tickets without an assignee.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kOldestOpenAge),
       "Age of the oldest open ticket (since CREATED, or its first event), as of the "
       "pipeline time.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kFirstReplySeconds),
       "CREATED to the first public AGENT comment.",
       MetricType::Histogram,
       {"team", "priority"},
       Storage::kLive},
      {std::string(kResolutionSeconds),
       "CREATED to the last SOLVED, observed when the solved ticket expires.",
       MetricType::Histogram,
       {"team", "priority"},
       Storage::kLive},
      {std::string(kSlaBreachesTotal),
       "SLA targets that passed with the clock still running (clock: first_reply or "
       "resolution), counted once the allowed lateness has passed.",
       MetricType::Counter,
       {"team", "priority", "clock"},
       Storage::kCounter},
      {std::string(kReassignmentsTotal),
       "Team changes of a ticket after its first team.",
       MetricType::Counter,
       {"team"},
       Storage::kCounter},
      {std::string(kPingpongTotal),
       "Tickets returned to a team they had before.",
       MetricType::Counter,
       {"team"},
       Storage::kCounter},
      {std::string(kFirefightingRatio),
       "Reactive tickets over all tickets created in the trailing window.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kReactiveTickets),
       "Reactive tickets created in the trailing window.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kFirefightingTickets),
       "Tickets created in the trailing window.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kSpikeScore),
       "Robust z-score of reactive tickets created in the last complete UTC hour against "
       "the median and MAD of the baseline hours before it.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kSpike),
       "1 while the firefighting spike score is above the threshold.",
       MetricType::Gauge,
       {"team"},
       Storage::kLive},
      {std::string(kKeyingViolationsTotal),
       "Tickets seen on a second partition while this instance holds their state from "
       "another: ticket events must be keyed by ticket_id. Such a ticket is tracked "
       "twice, once per partition.",
       MetricType::Counter,
       {},
       Storage::kCounter},
  };
}

bool KeepsHourlyBuckets(const window::Aggregates& aggregates, int hours) {
  // The oldest bucket needed ends hours - 1 hours before the current hour's
  // start, which is less than an hour before as_of: a retention of `hours`
  // hours keeps it (see Aggregates::ExpireBefore). Zero if there are no
  // hourly buckets.
  return aggregates.RetentionMs(kHourMs) >= hours * kHourMs;
}

TicketSignals::TicketSignals(TicketOptions options, LabelBudget* budget,
                             window::Aggregates* aggregates)
    : options_(std::move(options)),
      spike_available_(KeepsHourlyBuckets(*aggregates, options_.spike_baseline_hours + 1)),
      budget_(budget),
      aggregates_(aggregates),
      first_reply_(MetricOrDie(kFirstReplySeconds), TicketDurationBuckets()),
      resolution_(MetricOrDie(kResolutionSeconds), TicketDurationBuckets()) {}

absl::Status TicketSignals::Open(const state::StateStore& store) {
  tickets_.clear();
  dirty_.clear();
  evictable_.clear();
  deleted_.clear();
  index_deletes_.clear();
  index_scanned_ms_ = 0;
  tasks_.clear();
  store_ = &store;
  absl::StatusOr<std::string> marker = store.Get(state::Family::kMeta, kIndexMarkerKey);
  if (!marker.ok() && !absl::IsNotFound(marker.status())) return marker.status();
  // As the store was at the start: tasks loaded later, after the marker is
  // written again, are indexed again too.
  indexed_ = marker.ok() && *marker == BigEndian64(options_.closed_ticket_expiry_ms);
  index_marker_dirty_ = !indexed_;
  absl::StatusOr<std::string> horizon = store.Get(state::Family::kMeta, kHorizonKey);
  if (horizon.ok() && horizon->size() == 8) {
    horizon_ms_ = static_cast<int64_t>(window::internal::DecodeFixedBigEndian(*horizon, 8));
  } else if (!horizon.ok() && !absl::IsNotFound(horizon.status())) {
    return horizon.status();
  }
  return absl::OkStatus();
}

absl::Status TicketSignals::LoadTask(state::TaskId task) {
  DropTask(task);
  absl::Status status = store_->Scan(
      state::Family::kTickets, state::TaskPrefix(task) + kTicketPrefix,
      [&](std::string_view record_key, std::string_view value) -> absl::Status {
        TicketRecord record;
        if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          return absl::DataLossError("ticket state: unparsable record");
        }
        Ticket ticket(std::move(record));
        // Another process may have admitted the teams of a task it held.
        budget_->Adopt(BudgetedLabel::kTeam, TeamLabel(ticket.committed().team()));
        budget_->Adopt(BudgetedLabel::kTeam, TeamLabel(ticket.current().team));
        // After the task prefix and the kind.
        std::string key = TaskKey(task, state::OwnKeyOf(record_key).substr(1));
        if (ticket.Dormant()) {
          if (indexed_) return absl::OkStatus();  // kept in the store only
          // Written again with its index entry, then dropped from memory.
          dirty_[key] = true;
        }
        tickets_.emplace(std::move(key), std::move(ticket));
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  tasks_.insert(task);
  // Its expiry index has not been visited yet.
  index_scanned_ms_ = 0;
  return absl::OkStatus();
}

void TicketSignals::DropTask(state::TaskId task) {
  tasks_.erase(task);
  state::EraseTaskEntries(task, &tickets_);
  state::EraseTaskEntries(task, &dirty_);
  state::EraseTaskEntries(task, &deleted_);
  state::EraseTaskEntries(task, &evictable_);
  // Index keys are store keys, which start with the task prefix too.
  index_deletes_.erase(std::remove_if(index_deletes_.begin(), index_deletes_.end(),
                                      [&](const std::string& key) {
                                        return state::TaskOfKey(key) == task;
                                      }),
                       index_deletes_.end());
}

void TicketSignals::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  if (event.payload_case() != Event::kTicket) return;
  const TicketEvent& ticket_event = event.ticket();
  // The one admission of this event's team; every label below (including
  // the counters a late event commits right away) looks it up.
  budget_->Admit(BudgetedLabel::kTeam, TeamLabel(ticket_event.team()));
  // Bring the ticket to where Advance() would have it as of now, so that
  // whether flushes ran in between (they follow the wall clock, also in
  // replay) cannot change how this event is folded, or whether the ticket
  // expired before it came.
  AdvanceHorizon(as_of_ms);
  const state::TaskId task = aggregates_->selected_task();
  tasks_.insert(task);
  const std::string key = TaskKey(task, ticket_event.ticket_id());
  auto it = tickets_.find(key);
  if (it == tickets_.end()) it = Restore(key);
  if (it == tickets_.end()) CheckKeying(task, ticket_event.ticket_id());
  if (it != tickets_.end()) Settle(it);
  // (Settle selects the ticket's task: this event's.)
  Ticket& ticket = tickets_[key];
  const bool had_created = ticket.current().created;
  if (!ticket.Add(ticket_event, occurred_ms, horizon_ms_, options_, this)) return;
  dirty_[key] = true;
  if (ticket_event.kind() == TicketEvent::CREATED && !had_created) {
    CountCreated(ticket_event, occurred_ms, as_of_ms);
  }
}

void TicketSignals::CountCreated(const TicketEvent& event, int64_t occurred_ms,
                                 int64_t as_of_ms) {
  // Windowed counts depend only on each event's own time: no need to wait
  // for the horizon.
  const std::string team = TeamOf(event.team());
  aggregates_->AddCounter(
      SeriesOf(MetricOrDie(kTicketsCreatedTotal),
               {EnumLabel(TicketEvent::Type_descriptor(), event.type()),
                PriorityLabel(event.priority()), team}),
      1);
  aggregates_->AddWindowedCount(SeriesOf(MetricOrDie(kFirefightingTickets), {team}), occurred_ms, 1,
                                as_of_ms);
  if (options_.IsReactive(event.type(), event.priority())) {
    aggregates_->AddWindowedCount(SeriesOf(MetricOrDie(kReactiveTickets), {team}), occurred_ms, 1,
                                  as_of_ms);
  }
}

std::string TicketSignals::TeamOf(const std::string& team) const {
  return std::string(budget_->Lookup(BudgetedLabel::kTeam, TeamLabel(team)));
}

void TicketSignals::AdvanceHorizon(int64_t as_of_ms) {
  const int64_t horizon_ms = as_of_ms - options_.allowed_lateness_ms;
  if (horizon_ms > horizon_ms_) {
    horizon_ms_ = horizon_ms;
    horizon_dirty_ = true;
  }
}

absl::flat_hash_map<std::string, Ticket>::iterator TicketSignals::Settle(
    absl::flat_hash_map<std::string, Ticket>::iterator it) {
  Ticket& ticket = it->second;
  const std::optional<int64_t> due = ticket.NextDueMs(options_);
  if (!due.has_value() || *due > horizon_ms_) return ++it;
  // What committing counts belongs to the ticket's task.
  aggregates_->SelectTask(TaskOfKey(it->first));
  ticket.CommitThrough(horizon_ms_, options_, this);
  dirty_[it->first] = true;
  if (!ticket.Expired(horizon_ms_, options_)) return ++it;
  ObserveResolution(ticket.committed());
  // Its index entry may be in a write that failed and is yet to be retried,
  // out of the scan's sight: delete it after that.
  if (store_ != nullptr) {
    index_deletes_.push_back(ExpiryIndexKey(
        TaskOfKey(it->first), ticket.ExpiresAtMs(options_), IdOfKey(it->first)));
  }
  tickets_.erase(it++);
  return it;
}

void TicketSignals::ObserveResolution(const TicketFold& fold) {
  if (fold.has_created_ms() && fold.has_last_solved_ms()) {
    resolution_.Observe(aggregates_, {TeamOf(fold.team()), PriorityLabel(fold.priority())},
                        fold.last_solved_ms() - fold.created_ms());
  }
}

std::optional<TicketRecord> TicketSignals::ReadStored(const std::string& key) {
  // Not in memory and changed since the last write, or in a write yet to
  // succeed: deleted, whatever the store still holds.
  if (store_ == nullptr || dirty_.contains(key) || deleted_.contains(key)) {
    return std::nullopt;
  }
  absl::StatusOr<std::string> stored =
      store_->Get(state::Family::kTickets, RecordKey(key));
  if (!stored.ok()) {
    if (!absl::IsNotFound(stored.status())) LogReadError(&read_errors_, stored.status());
    return std::nullopt;
  }
  TicketRecord record;
  if (!record.ParseFromString(*stored)) {
    LogReadError(&read_errors_,
                 absl::DataLossError(absl::StrCat("unparsable record of ticket ",
                                                  std::string(IdOfKey(key)))));
    return std::nullopt;
  }
  return record;
}

absl::flat_hash_map<std::string, Ticket>::iterator TicketSignals::Restore(
    const std::string& key) {
  std::optional<TicketRecord> record = ReadStored(key);
  if (!record.has_value()) return tickets_.end();
  // As stored: if the event leaves it dormant it can go again.
  evictable_.insert(key);
  return tickets_.emplace(key, Ticket(std::move(*record))).first;
}

void TicketSignals::CheckKeying(state::TaskId task, std::string_view id) {
  // Only tickets in memory are looked at (open ones, or recently active):
  // reading every other task's stored tickets for each new one would cost
  // a read per task, and a mis-keyed ticket's events come while it is open.
  for (state::TaskId other : tasks_) {
    if (other != task && tickets_.contains(TaskKey(other, id))) {
      aggregates_->AddCounter(SeriesOf(MetricOrDie(kKeyingViolationsTotal), {}), 1);
      return;
    }
  }
}

void TicketSignals::ExpireStored() {
  if (store_ == nullptr || horizon_ms_ < index_scanned_ms_) return;
  std::vector<std::string> due;
  for (state::TaskId task : tasks_) {
    absl::Status status = store_->ScanRange(
        state::Family::kTickets, ExpiryIndexKey(task, index_scanned_ms_, ""),
        ExpiryIndexKey(task, horizon_ms_ + 1, ""),
        [&due](std::string_view key, std::string_view) {
          if (key.size() > kIndexIdOffset) due.emplace_back(key);
          return absl::OkStatus();
        });
    if (!status.ok()) {
      LogReadError(&read_errors_, status);
      return;  // the next Advance scans again
    }
  }
  index_scanned_ms_ = horizon_ms_ + 1;
  for (std::string& index_key : due) {
    const state::TaskId task = TaskOfKey(index_key);
    const std::string key =
        TaskKey(task, std::string_view(index_key).substr(kIndexIdOffset));
    index_deletes_.push_back(std::move(index_key));
    if (tickets_.contains(key)) continue;  // Settle expires those
    std::optional<TicketRecord> record = ReadStored(key);
    if (!record.has_value()) continue;
    const Ticket ticket(std::move(*record));
    // Reopened since, and dormant again: its later entry is not due yet.
    if (!ticket.Expired(horizon_ms_, options_)) continue;
    aggregates_->SelectTask(task);
    ObserveResolution(ticket.committed());
    dirty_[key] = true;  // not in memory: deleted
  }
}

void TicketSignals::Advance(int64_t as_of_ms) {
  AdvanceHorizon(as_of_ms);
  for (auto it = tickets_.begin(); it != tickets_.end();) it = Settle(it);
  ExpireStored();
}

void TicketSignals::CollectChanges(state::WriteSet* changes) {
  for (const auto& [key, unused] : dirty_) {
    std::string record_key = RecordKey(key);
    const auto it = tickets_.find(key);
    if (it == tickets_.end()) {
      changes->Delete(state::Family::kTickets, std::move(record_key));
      if (store_ != nullptr) deleted_.insert(key);
      continue;
    }
    const Ticket& ticket = it->second;
    changes->Put(state::Family::kTickets, std::move(record_key), ticket.Serialize());
    if (store_ != nullptr && ticket.Dormant()) {
      // Advance() expired the dormant tickets due by the horizon, so this
      // entry is later than every one ExpireStored() visited.
      changes->Put(
          state::Family::kTickets,
          ExpiryIndexKey(TaskOfKey(key), ticket.ExpiresAtMs(options_), IdOfKey(key)), "");
      evictable_.insert(key);
    }
  }
  dirty_.clear();
  for (std::string& key : index_deletes_) {
    changes->Delete(state::Family::kTickets, std::move(key));
  }
  index_deletes_.clear();
  if (index_marker_dirty_) {
    changes->Put(state::Family::kMeta, std::string(kIndexMarkerKey),
                 BigEndian64(options_.closed_ticket_expiry_ms));
    index_marker_dirty_ = false;
  }
  if (horizon_dirty_) {
    changes->Put(state::Family::kMeta, std::string(kHorizonKey),
                 BigEndian64(horizon_ms_));
    horizon_dirty_ = false;
  }
}

void TicketSignals::Written() {
  // The write that took every change collected has succeeded: a ticket
  // still dormant, and not changed since it was collected (the pipeline
  // may have gone on while the write ran), is stored as it is in memory.
  for (const std::string& key : evictable_) {
    if (auto it = tickets_.find(key);
        it != tickets_.end() && it->second.Dormant() && !dirty_.contains(key)) {
      tickets_.erase(it);
    }
  }
  evictable_.clear();
  deleted_.clear();
}

size_t TicketSignals::PendingBytes() const {
  // A typical serialized record; exactness does not matter for a budget.
  constexpr size_t kRecordBytes = 256;
  return dirty_.size() * kRecordBytes;
}

void TicketSignals::OnSolved(const TicketFold& ticket) {
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kSolvedTotal), {TypeLabel(ticket),
                                                        PriorityLabel(ticket.priority()),
                                                        TeamOf(ticket.team())}),
                          1);
}

void TicketSignals::OnReopened(const TicketFold& ticket) {
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kReopenedTotal), {TeamOf(ticket.team())}), 1);
}

void TicketSignals::OnReassigned(const TicketFold& ticket, bool returned) {
  const std::string team = TeamOf(ticket.team());
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kReassignmentsTotal), {team}), 1);
  if (returned) aggregates_->AddCounter(SeriesOf(MetricOrDie(kPingpongTotal), {team}), 1);
}

void TicketSignals::OnFirstReply(const TicketFold& ticket, int64_t elapsed_ms) {
  first_reply_.Observe(aggregates_, {TeamOf(ticket.team()), PriorityLabel(ticket.priority())},
                       elapsed_ms);
}

void TicketSignals::OnFirstReplyBreach(const TicketFold& ticket) {
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kSlaBreachesTotal),
                                   {TeamOf(ticket.team()), PriorityLabel(ticket.priority()),
                                    "first_reply"}),
                          1);
}

void TicketSignals::OnResolutionBreach(const TicketFold& ticket) {
  aggregates_->AddCounter(SeriesOf(MetricOrDie(kSlaBreachesTotal),
                                   {TeamOf(ticket.team()), PriorityLabel(ticket.priority()),
                                    "resolution"}),
                          1);
}

void TicketSignals::Collect(int64_t as_of_ms,
                            std::vector<prometheus::MetricFamily>* out) const {
  CollectBacklog(as_of_ms, out);
  out->push_back(first_reply_.Collect(*aggregates_));
  out->push_back(resolution_.Collect(*aggregates_));
  CollectFirefighting(as_of_ms, out);
  CollectSpike(as_of_ms, out);
}

void TicketSignals::CollectBacklog(int64_t as_of_ms,
                                   std::vector<prometheus::MetricFamily>* out) const {
  std::map<std::pair<std::string, std::string>, int64_t> open;  // (priority, team)
  std::map<std::string, int64_t> unassigned;                    // by team
  std::map<std::string, int64_t> oldest_start_ms;               // by team
  for (const auto& [id, ticket] : tickets_) {
    const TicketView& view = ticket.current();
    if (IsDone(view.status)) continue;
    const std::string team = TeamOf(view.team);
    ++open[{PriorityLabel(view.priority), team}];
    if (!view.assigned) ++unassigned[team];
    auto [it, inserted] = oldest_start_ms.try_emplace(team, view.start_ms);
    if (!inserted) it->second = std::min(it->second, view.start_ms);
  }
  auto family = [](std::string_view name) {
    const MetricDef& def = MetricOrDie(name);
    return exporter::MakeFamily(def.name, def.help, def.type);
  };
  prometheus::MetricFamily open_family = family(kOpen);
  for (const auto& [labels, count] : open) {
    exporter::AddSample(&open_family, {"priority", "team"}, {labels.first, labels.second},
                        static_cast<double>(count));
  }
  prometheus::MetricFamily unassigned_family = family(kUnassignedOpen);
  for (const auto& [team, count] : unassigned) {
    // An open team with every ticket assigned reads 0, not absent.
    exporter::AddSample(&unassigned_family, {"team"}, {team}, static_cast<double>(count));
  }
  prometheus::MetricFamily age_family = family(kOldestOpenAge);
  for (const auto& [team, start_ms] : oldest_start_ms) {
    if (!unassigned.contains(team)) {
      exporter::AddSample(&unassigned_family, {"team"}, {team}, 0);
    }
    exporter::AddSample(&age_family, {"team"}, {team},
                        static_cast<double>(std::max<int64_t>(0, as_of_ms - start_ms)) / 1000);
  }
  out->push_back(std::move(open_family));
  out->push_back(std::move(unassigned_family));
  out->push_back(std::move(age_family));
}

void TicketSignals::CollectFirefighting(int64_t as_of_ms,
                                        std::vector<prometheus::MetricFamily>* out) const {
  const MetricDef& ratio_def = MetricOrDie(kFirefightingRatio);
  const MetricDef& reactive_def = MetricOrDie(kReactiveTickets);
  const MetricDef& tickets_def = MetricOrDie(kFirefightingTickets);
  prometheus::MetricFamily ratio =
      exporter::MakeFamily(ratio_def.name, ratio_def.help, ratio_def.type);
  prometheus::MetricFamily reactive =
      exporter::MakeFamily(reactive_def.name, reactive_def.help, reactive_def.type);
  prometheus::MetricFamily tickets =
      exporter::MakeFamily(tickets_def.name, tickets_def.help, tickets_def.type);
  for (const window::WindowSpec& spec : aggregates_->windows()) {
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_team;  // (reactive, all)
    aggregates_->ForEachWindowedCount(
        spec, as_of_ms, [&](const window::SeriesKey& series, uint64_t count) {
          absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(series);
          if (!parts.ok() || parts->label_values.size() != 1) return;
          if (parts->metric == reactive_def.name) {
            by_team[parts->label_values[0]].first += count;
          } else if (parts->metric == tickets_def.name) {
            by_team[parts->label_values[0]].second += count;
          }
        });
    for (const auto& [team, counts] : by_team) {
      const auto& [reactive_count, all_count] = counts;
      if (all_count == 0) continue;  // cannot happen: every reactive ticket counts in all
      exporter::AddSample(&reactive, {"team", "window"}, {team, spec.name},
                          static_cast<double>(reactive_count));
      exporter::AddSample(&tickets, {"team", "window"}, {team, spec.name},
                          static_cast<double>(all_count));
      exporter::AddSample(&ratio, {"team", "window"}, {team, spec.name},
                          static_cast<double>(reactive_count) / static_cast<double>(all_count));
    }
  }
  out->push_back(std::move(ratio));
  out->push_back(std::move(reactive));
  out->push_back(std::move(tickets));
}

void TicketSignals::CollectSpike(int64_t as_of_ms,
                                 std::vector<prometheus::MetricFamily>* out) const {
  const MetricDef& score_def = MetricOrDie(kSpikeScore);
  const MetricDef& spike_def = MetricOrDie(kSpike);
  prometheus::MetricFamily score =
      exporter::MakeFamily(score_def.name, score_def.help, score_def.type);
  prometheus::MetricFamily spike =
      exporter::MakeFamily(spike_def.name, spike_def.help, spike_def.type);
  if (!spike_available_) {
    out->push_back(std::move(score));
    out->push_back(std::move(spike));
    return;
  }
  // Hours are numbered back from the current, incomplete one: 1 is the last
  // complete hour, 2..baseline+1 the baseline.
  const int hours = options_.spike_baseline_hours;
  const int64_t current_start_ms = window::BucketStart(as_of_ms, kHourMs);
  const window::BucketRange range{current_start_ms - (hours + 1) * kHourMs,
                                  current_start_ms - kHourMs};
  std::map<std::string, std::vector<double>> counts_by_team;  // [0] = last hour
  const std::string& reactive_metric = MetricOrDie(kReactiveTickets).name;
  aggregates_->ForEachBucketCount(
      kHourMs, range,
      [&](int64_t start_ms, const window::SeriesKey& series, uint64_t count) {
        absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(series);
        if (!parts.ok() || parts->metric != reactive_metric ||
            parts->label_values.size() != 1) {
          return;
        }
        std::vector<double>& counts = counts_by_team[parts->label_values[0]];
        counts.resize(hours + 1);
        counts[(current_start_ms - start_ms) / kHourMs - 1] += static_cast<double>(count);
      });
  for (const auto& [team, counts] : counts_by_team) {
    const std::vector<double> baseline(counts.begin() + 1, counts.end());
    const double median = Median(baseline);
    std::vector<double> deviations;
    deviations.reserve(baseline.size());
    for (double count : baseline) deviations.push_back(std::abs(count - median));
    const double scale = std::max(kMadScale * Median(deviations), options_.spike_mad_floor);
    const double value = (counts[0] - median) / scale;
    exporter::AddSample(&score, {"team"}, {team}, value);
    exporter::AddSample(&spike, {"team"}, {team}, value > options_.spike_threshold ? 1 : 0);
  }
  out->push_back(std::move(score));
  out->push_back(std::move(spike));
}

}  // namespace prodops::signals
