#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "daemon/signals/ticket_options.h"
#include "prodops/state/ticket_state.pb.h"
#include "prodops/v1/events.pb.h"

namespace prodops::signals {

// What happened to a ticket, for the counters. Called while the ticket is
// committed (see TicketRecord below), with its fold right after the change.
class TicketObserver {
 public:
  virtual ~TicketObserver() = default;
  // The ticket left the backlog: entered SOLVED, or CLOSED from an open
  // status.
  virtual void OnSolved(const prodops::state::TicketFold& ticket) = 0;
  // A SOLVED or CLOSED ticket got an open status again.
  virtual void OnReopened(const prodops::state::TicketFold& ticket) = 0;
  // The non-empty team changed to another; `returned` when the ticket had
  // that team before (ping-pong).
  virtual void OnReassigned(const prodops::state::TicketFold& ticket, bool returned) = 0;
  // The first public AGENT comment, `elapsed_ms` after CREATED.
  virtual void OnFirstReply(const prodops::state::TicketFold& ticket, int64_t elapsed_ms) = 0;
  // An SLA target passed with its clock still running.
  virtual void OnFirstReplyBreach(const prodops::state::TicketFold& ticket) = 0;
  virtual void OnResolutionBreach(const prodops::state::TicketFold& ticket) = 0;
};

// SOLVED or CLOSED: out of the backlog.
bool IsDone(prodops::v1::TicketEvent::Status status);

// Folds one event into `ticket` (events are "after the event" snapshots:
// status, priority and type when specified, team and assignee always) and
// reports the transitions to `observer` (may be null).
void FoldEvent(const prodops::v1::TicketEvent& event, int64_t occurred_ms,
               prodops::state::TicketFold* ticket, TicketObserver* observer);

// A ticket as of every event seen (committed + pending): what the backlog
// gauges read, kept apart from the folds so that a ticket with pending
// events does not hold a second TicketFold.
struct TicketView {
  static TicketView Of(const prodops::state::TicketFold& fold);

  std::string team;
  int64_t start_ms = 0;  // CREATED, or the first event without one
  prodops::v1::TicketEvent::Status status = prodops::v1::TicketEvent::STATUS_UNSPECIFIED;
  prodops::v1::TicketEvent::Priority priority =
      prodops::v1::TicketEvent::PRIORITY_UNSPECIFIED;
  bool created = false;
  bool assigned = false;
};

// The lifecycle of one ticket, order-independent within the allowed
// lateness.
//
// Events are kept sorted by (occurred_at, event_id) until the commit
// horizon (pipeline time - allowed lateness) passes them; only then are they
// folded into `committed` and their transitions counted. Every event within
// the lateness arrives before the horizon passes it, so the committed
// sequence, and every counter, is the same whatever the arrival order and
// however often the horizon moves. The price: order-dependent counters
// (solved, reopened, reassignments, ping-pong, first reply, SLA breaches)
// lag the pipeline time by the allowed lateness. Gauges use the current
// view (committed + pending) and do not lag.
//
// An event that arrives behind the horizon is folded into `committed` at
// once, in arrival order, and counted: counters stay monotonic, but such an
// event can no longer reorder what was counted before it.
class Ticket {
 public:
  Ticket() = default;
  // A ticket as stored by Serialize().
  explicit Ticket(prodops::state::TicketRecord record);

  // Adds an event; false (nothing changes) if an event with its id is
  // pending already (a retry).
  bool Add(const prodops::v1::TicketEvent& event, int64_t occurred_ms, int64_t horizon_ms,
           const TicketOptions& options, TicketObserver* observer);

  // Commits the pending events and SLA deadlines at or before `horizon_ms`,
  // in time order (a deadline is judged after the events at its instant).
  void CommitThrough(int64_t horizon_ms, const TicketOptions& options,
                     TicketObserver* observer);

  // When CommitThrough or Expired next has work: the earliest pending
  // event, undecided SLA deadline or expiry; nullopt if none.
  std::optional<int64_t> NextDueMs(const TicketOptions& options) const;

  // Done, with nothing pending: only an event (a reopen) or the expiry can
  // change it, and its SLA clocks stop as met (judging them later gives the
  // same counters).
  bool Dormant() const;
  // When a dormant ticket expires: its last event + the closed-ticket expiry.
  int64_t ExpiresAtMs(const TicketOptions& options) const;
  // Dormant, and the horizon is at or past its expiry.
  bool Expired(int64_t horizon_ms, const TicketOptions& options) const;

  // The ticket as of every event seen (committed + pending).
  const TicketView& current() const { return current_; }
  // The events up to the commit horizon, folded.
  const prodops::state::TicketFold& committed() const { return record_.committed(); }
  // The stored form: a serialized TicketRecord.
  std::string Serialize() const;

 private:
  // Judges the undecided SLA clocks whose deadline is before `before_ms`
  // (or at or before, when `inclusive`).
  void JudgeDeadlines(int64_t before_ms, bool inclusive, const TicketOptions& options,
                      TicketObserver* observer);
  // The pending events, parsed.
  prodops::state::TicketRecord ParsePending() const;
  // Stores `pending` (sorted) and refreshes what is derived from it.
  void SetPending(const prodops::state::TicketRecord& pending);
  void RefreshCurrent(const prodops::state::TicketRecord& pending);

  // Only the committed fold: pending events are kept in pending_.
  prodops::state::TicketRecord record_;
  // The pending events, sorted by (occurred_at, event_id), in the wire form
  // of a TicketRecord holding only them. Every ticket event waits here for
  // the allowed lateness, so on a busy desk this is the bulk of the
  // daemon's memory: about 80 bytes an event this way, against some 170 for
  // a struct of the fields folding reads and 400 for a TicketEvent message
  // (its strings and timestamp are allocations of their own).
  std::string pending_;
  // The time of the first pending event (when pending_ is not empty), for
  // NextDueMs, which runs for every ticket on every flush.
  int64_t first_pending_ms_ = 0;
  TicketView current_;
};

// Milliseconds of a TicketEvent's occurred_at.
int64_t OccurredMs(const prodops::v1::TicketEvent& event);

}  // namespace prodops::signals
