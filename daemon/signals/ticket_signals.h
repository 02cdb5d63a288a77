#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "daemon/signals/catalog.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/signal_set.h"
#include "daemon/signals/stored_histogram.h"
#include "daemon/signals/ticket_options.h"
#include "daemon/signals/ticket_state.h"
#include "daemon/window/aggregates.h"

namespace prodops::signals {

// Whether `aggregates` keep hourly buckets for `hours` hours back from any
// time's previous full hour.
bool KeepsHourlyBuckets(const window::Aggregates& aggregates, int hours);

// Ticket lifecycle signals (docs/signals.md): solves, reopens, backlog,
// first-reply and resolution times, SLA breaches, reassignments and
// ping-pong, firefighting ratio and spike.
//
// Tickets are kept per task (the partition their events come from, see
// state::TaskId): a ticket is its task and its ticket_id. Per-ticket state
// (see Ticket) lives in Family::kTickets (task prefix + 't' + ticket_id ->
// TicketRecord); the commit horizon (int64 BE) in Family::kMeta
// "tickets/horizon". Both are written through CollectChanges() with the
// input offsets. What a ticket's events commit is counted in its task's
// Aggregates. An event for a ticket_id that another task holds in memory
// is counted in prodops_ticket_keying_violations_total. Counters and histograms
// live in the shared Aggregates. SOLVED/CLOSED tickets are deleted
// options.closed_ticket_expiry_ms after their last event; open tickets stay.
//
// Memory holds the tickets that can still change without an event of
// their own: open ones, and those with events waiting for the horizon. A
// dormant ticket (Ticket::Dormant: done, nothing pending) leaves memory once
// the write that stored it succeeded (Written), since days may pass before
// it expires and most never reopen. An event for it reads it back (Apply);
// its expiry is found through an index in the same family (task prefix +
// 'x' + expiry ms, uint64 BE, + ticket_id -> ""), scanned up to the horizon
// by Advance(). Index entries are hints: one whose ticket is in memory,
// gone, or no longer due is dropped. Family::kMeta "tickets/index_expiry"
// holds the closed_ticket_expiry_ms the index was built with; a state
// without it, or built with another value, is loaded whole and indexed
// again. Without a store (Open not called)
// everything stays in memory. Advance() visits every ticket in memory:
// O(tickets in memory) per flush.
//
// Team labels go through the shared LabelBudget: each ticket event's team
// is admitted once, in Apply(); every label (counters committed later,
// gauges, histograms) is then looked up, so an overflow counts once per
// event. A ticket's team always comes from an event applied here.
//
// Single-threaded, like the Aggregates it writes to.
class TicketSignals final : public SignalSet, private TicketObserver {
 public:
  // `budget` and `aggregates` must outlive this.
  TicketSignals(TicketOptions options, LabelBudget* budget, window::Aggregates* aggregates);

  [[nodiscard]] absl::Status Open(const state::StateStore& store) override;
  [[nodiscard]] absl::Status LoadTask(state::TaskId task) override;
  void DropTask(state::TaskId task) override;
  void Apply(const prodops::v1::Event& event, int64_t occurred_ms, int64_t as_of_ms) override;
  void Advance(int64_t as_of_ms) override;
  void CollectChanges(state::WriteSet* changes) override;
  void Written() override;
  size_t PendingBytes() const override;
  void Collect(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const override;

  // Tickets in memory (for tests and memory accounting).
  size_t ticket_count() const { return tickets_.size(); }
  // Stored tickets that could not be read back (each logged; the event
  // then starts the ticket afresh).
  uint64_t read_errors() const { return read_errors_; }

 private:
  // TicketObserver: counters of committed transitions.
  void OnSolved(const prodops::state::TicketFold& ticket) override;
  void OnReopened(const prodops::state::TicketFold& ticket) override;
  void OnReassigned(const prodops::state::TicketFold& ticket, bool returned) override;
  void OnFirstReply(const prodops::state::TicketFold& ticket, int64_t elapsed_ms) override;
  void OnFirstReplyBreach(const prodops::state::TicketFold& ticket) override;
  void OnResolutionBreach(const prodops::state::TicketFold& ticket) override;

  void CountCreated(const prodops::v1::TicketEvent& event, int64_t occurred_ms,
                    int64_t as_of_ms);
  void CollectBacklog(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const;
  void CollectFirefighting(int64_t as_of_ms,
                           std::vector<prometheus::MetricFamily>* out) const;
  void CollectSpike(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const;
  // The team label of `team` (a ticket's team, "" = none), through the
  // label budget: every team label goes through here.
  std::string TeamOf(const std::string& team) const;
  // Moves the commit horizon to as_of - lateness if that is later.
  void AdvanceHorizon(int64_t as_of_ms);
  // Commits the ticket's events up to the horizon and drops it if it has
  // expired; returns the next iterator. Apply settles a ticket before adding
  // an event to it, so the outcome never depends on when flushes happen.
  absl::flat_hash_map<std::string, Ticket>::iterator Settle(
      absl::flat_hash_map<std::string, Ticket>::iterator it);
  // The resolution of a ticket that expires: its last solve is final.
  void ObserveResolution(const prodops::state::TicketFold& fold);
  // The stored record of the ticket `key` (task prefix + ticket_id), which
  // is not in memory; nullopt if there is none (or it was deleted since, or
  // cannot be read).
  std::optional<prodops::state::TicketRecord> ReadStored(const std::string& key);
  // Reads the ticket `key` back from the store into memory if it is kept
  // there only; tickets_.end() if it is not (or cannot be read).
  absl::flat_hash_map<std::string, Ticket>::iterator Restore(const std::string& key);
  // Counts a keying violation if another task holds ticket `id` in memory.
  void CheckKeying(state::TaskId task, std::string_view id);
  // Expires the tickets kept only in the store whose expiry is at or before
  // the horizon, through the expiry index.
  void ExpireStored();

  const TicketOptions options_;
  // Whether the Aggregates keep the hourly buckets the spike baseline needs.
  const bool spike_available_;
  LabelBudget* budget_;
  window::Aggregates* aggregates_;
  const StoredHistogram first_reply_;
  const StoredHistogram resolution_;
  // By task prefix + ticket_id.
  absl::flat_hash_map<std::string, Ticket> tickets_;
  // The tasks held (loaded, or seen since Open).
  absl::flat_hash_set<state::TaskId> tasks_;
  // Tickets changed or deleted since the last CollectChanges().
  absl::flat_hash_map<std::string, bool> dirty_;
  // Tickets deleted by writes not yet known to have succeeded: the store
  // may still hold them (a failed write is retried later), so they must not
  // be read back. Cleared by Written().
  absl::flat_hash_set<std::string> deleted_;
  // Where dormant tickets are kept; null until Open().
  const state::StateStore* store_ = nullptr;
  // Dormant tickets collected for a write (or read back unchanged): Written()
  // drops them from memory.
  absl::flat_hash_set<std::string> evictable_;
  // Expiry index entries visited by ExpireStored(), deleted by the next
  // CollectChanges().
  std::vector<std::string> index_deletes_;
  // Index entries with an earlier expiry have been visited (new entries are
  // always later: a dormant ticket due by the horizon expires instead).
  int64_t index_scanned_ms_ = 0;
  // Whether the index was built with closed_ticket_expiry_ms when the store
  // was opened; if not, loaded tasks are indexed again.
  bool indexed_ = false;
  // Whether the next CollectChanges() writes the index's 'i' entry.
  bool index_marker_dirty_ = false;
  uint64_t read_errors_ = 0;
  // Events at or before it are late (folded on arrival); it only grows.
  int64_t horizon_ms_ = std::numeric_limits<int64_t>::min();
  bool horizon_dirty_ = false;
};

// The catalog entries of the ticket signals (appended by MakeCatalog).
std::vector<MetricDef> TicketMetricDefs();

// Upper bounds of the first-reply and resolution histograms, in seconds:
// 1 min, 5 min, 15 min, 1 h, 4 h, 8 h, 1 d, 3 d, 7 d.
inline const std::vector<double>& TicketDurationBuckets() {
  static const std::vector<double> kBounds = {60,    300,   900,    3600,  14400,
                                              28800, 86400, 259200, 604800};
  return kBounds;
}

}  // namespace prodops::signals
