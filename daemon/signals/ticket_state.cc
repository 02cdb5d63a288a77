#include "daemon/signals/ticket_state.h"

#include <algorithm>
#include <utility>

namespace prodops::signals {

using prodops::state::ClockOutcome;
using prodops::state::TicketFold;
using prodops::state::TicketRecord;
using prodops::v1::TicketEvent;

namespace {

template <typename Repeated>
bool Contains(const Repeated& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// Sort order of pending events; the event id breaks ties between events of
// the same instant so that every arrival order folds them alike.
bool EventBefore(const TicketEvent& a, const TicketEvent& b) {
  return std::make_pair(OccurredMs(a), std::cref(a.event_id())) <
         std::make_pair(OccurredMs(b), std::cref(b.event_id()));
}

void FoldStatus(TicketEvent::Status status, int64_t at_ms, TicketFold* ticket,
                TicketObserver* observer) {
  if (status == TicketEvent::STATUS_UNSPECIFIED) return;  // not part of this event
  const bool was_done = IsDone(ticket->status());
  ticket->set_status(status);
  if (!was_done && IsDone(status)) {
    ticket->set_last_solved_ms(at_ms);
    if (observer != nullptr) observer->OnSolved(*ticket);
  } else if (was_done && !IsDone(status)) {
    ticket->set_reopen_count(ticket->reopen_count() + 1);
    if (observer != nullptr) observer->OnReopened(*ticket);
  }
}

void FoldTeam(const std::string& team, TicketFold* ticket, TicketObserver* observer) {
  ticket->set_team(team);
  // Clearing the team is not a hand-over; the next team is compared with
  // the last real owner.
  if (team.empty() || team == ticket->owner_team()) return;
  const bool first = ticket->owner_team().empty();
  const bool returned = Contains(ticket->teams(), team);
  ticket->set_owner_team(team);
  if (!returned) ticket->add_teams(team);
  if (first) return;
  ticket->set_reassignment_count(ticket->reassignment_count() + 1);
  if (returned) ticket->set_returned_to_team(true);
  if (observer != nullptr) observer->OnReassigned(*ticket, returned);
}

}  // namespace

int64_t OccurredMs(const TicketEvent& event) {
  return event.occurred_at().seconds() * 1000 + event.occurred_at().nanos() / 1'000'000;
}

bool IsDone(TicketEvent::Status status) {
  return status == TicketEvent::SOLVED || status == TicketEvent::CLOSED;
}

TicketView TicketView::Of(const TicketFold& fold) {
  TicketView view;
  view.team = fold.team();
  view.start_ms = fold.has_created_ms() ? fold.created_ms() : fold.first_seen_ms();
  view.status = fold.status();
  view.priority = fold.priority();
  view.created = fold.has_created_ms();
  view.assigned = !fold.assignee().empty();
  return view;
}

void FoldEvent(const TicketEvent& event, int64_t occurred_ms, TicketFold* ticket,
               TicketObserver* observer) {
  const bool first_event = ticket->first_seen_ms() == 0 && ticket->last_event_ms() == 0;
  if (first_event || occurred_ms < ticket->first_seen_ms()) {
    ticket->set_first_seen_ms(occurred_ms);
  }
  ticket->set_last_event_ms(std::max(ticket->last_event_ms(), occurred_ms));
  if (event.kind() == TicketEvent::CREATED && !ticket->has_created_ms()) {
    ticket->set_created_ms(occurred_ms);
  }
  if (event.type() != TicketEvent::TYPE_UNSPECIFIED) ticket->set_type(event.type());
  if (event.priority() != TicketEvent::PRIORITY_UNSPECIFIED) {
    ticket->set_priority(event.priority());
  }
  for (const std::string& feature : event.features()) {
    if (!Contains(ticket->features(), feature)) ticket->add_features(feature);
  }
  ticket->set_assignee(event.assignee());
  if (!event.assignee().empty() && !Contains(ticket->assignees(), event.assignee())) {
    ticket->add_assignees(event.assignee());
  }
  // Team before status, so that a reopen or a solve carries the new team.
  FoldTeam(event.team(), ticket, observer);
  TicketEvent::Status status = event.status();
  if (status == TicketEvent::STATUS_UNSPECIFIED && event.kind() == TicketEvent::CREATED &&
      ticket->status() == TicketEvent::STATUS_UNSPECIFIED) {
    status = TicketEvent::NEW;
  }
  FoldStatus(status, occurred_ms, ticket, observer);
  if (event.kind() == TicketEvent::COMMENT_ADDED && event.actor() == TicketEvent::AGENT &&
      event.public_() && !ticket->has_first_reply_ms()) {
    ticket->set_first_reply_ms(occurred_ms);
    if (observer != nullptr && ticket->has_created_ms()) {
      observer->OnFirstReply(*ticket, std::max<int64_t>(0, occurred_ms - ticket->created_ms()));
    }
  }
}

Ticket::Ticket(TicketRecord record) {
  if (record.has_committed()) {
    record_.mutable_committed()->Swap(record.mutable_committed());
    // Or the left-over empty fold would count as pending.
    record.clear_committed();
  }
  // What is left holds only the pending events, sorted when stored.
  SetPending(record);
}

std::string Ticket::Serialize() const {
  // Serialized messages concatenate into their merge: the committed fold's
  // record followed by the pending events' record is the whole record.
  return record_.SerializeAsString() + pending_;
}

TicketRecord Ticket::ParsePending() const {
  TicketRecord pending;
  // Written by SetPending from a valid message: cannot fail.
  pending.ParseFromString(pending_);
  return pending;
}

void Ticket::SetPending(const TicketRecord& pending) {
  pending_ = pending.SerializeAsString();
  // Most tickets settle for good: give the buffer back.
  if (pending_.empty()) pending_.shrink_to_fit();
  first_pending_ms_ = pending.pending().empty() ? 0 : OccurredMs(pending.pending(0));
  RefreshCurrent(pending);
}

bool Ticket::Add(const TicketEvent& event, int64_t occurred_ms, int64_t horizon_ms,
                 const TicketOptions& options, TicketObserver* observer) {
  TicketRecord pending = ParsePending();
  for (const TicketEvent& other : pending.pending()) {
    if (other.event_id() == event.event_id()) return false;
  }
  if (occurred_ms <= horizon_ms) {
    FoldEvent(event, occurred_ms, record_.mutable_committed(), observer);
    RefreshCurrent(pending);
    return true;
  }
  auto& events = *pending.mutable_pending();
  const auto index =
      std::upper_bound(events.begin(), events.end(), event, EventBefore) - events.begin();
  TicketEvent* kept = events.Add();
  *kept = event;
  // Not read by FoldEvent: the ticket's key, and what other signals took
  // from the event already.
  kept->clear_ticket_id();
  kept->clear_account_id();
  kept->clear_release();
  // Add() appended; rotate the new last element into its sorted place.
  std::rotate(events.begin() + index, events.end() - 1, events.end());
  SetPending(pending);
  return true;
}

void Ticket::CommitThrough(int64_t horizon_ms, const TicketOptions& options,
                           TicketObserver* observer) {
  if (pending_.empty() || first_pending_ms_ > horizon_ms) {
    JudgeDeadlines(horizon_ms, /*inclusive=*/true, options, observer);
    return;
  }
  TicketRecord pending = ParsePending();
  auto& events = *pending.mutable_pending();
  int committed = 0;
  for (; committed < events.size(); ++committed) {
    const TicketEvent& event = events.Get(committed);
    const int64_t at_ms = OccurredMs(event);
    if (at_ms > horizon_ms) break;
    // The ticket's state holds until this event: judge the deadlines before
    // it with that state.
    JudgeDeadlines(at_ms, /*inclusive=*/false, options, observer);
    FoldEvent(event, at_ms, record_.mutable_committed(), observer);
  }
  events.DeleteSubrange(0, committed);
  JudgeDeadlines(horizon_ms, /*inclusive=*/true, options, observer);
  SetPending(pending);
}

void Ticket::JudgeDeadlines(int64_t before_ms, bool inclusive, const TicketOptions& options,
                            TicketObserver* observer) {
  TicketFold* ticket = record_.mutable_committed();
  if (!ticket->has_created_ms()) return;  // no clock without a start
  auto passed = [&](const SlaTargets& targets) {
    const int64_t deadline_ms = ticket->created_ms() + targets.For(ticket->priority());
    return inclusive ? deadline_ms <= before_ms : deadline_ms < before_ms;
  };
  const bool done = IsDone(ticket->status());
  if (ticket->first_reply_clock() == prodops::state::CLOCK_PENDING &&
      passed(options.first_reply_sla)) {
    // Solving a ticket without a reply also stops its first-reply clock.
    const bool stopped = ticket->has_first_reply_ms() || done;
    ticket->set_first_reply_clock(stopped ? prodops::state::CLOCK_MET
                                          : prodops::state::CLOCK_BREACHED);
    if (!stopped && observer != nullptr) observer->OnFirstReplyBreach(*ticket);
  }
  if (ticket->resolution_clock() == prodops::state::CLOCK_PENDING &&
      passed(options.resolution_sla)) {
    ticket->set_resolution_clock(done ? prodops::state::CLOCK_MET
                                      : prodops::state::CLOCK_BREACHED);
    if (!done && observer != nullptr) observer->OnResolutionBreach(*ticket);
  }
}

std::optional<int64_t> Ticket::NextDueMs(const TicketOptions& options) const {
  std::optional<int64_t> due;
  auto consider = [&due](int64_t at_ms) { due = due.has_value() ? std::min(*due, at_ms) : at_ms; };
  if (!pending_.empty()) consider(first_pending_ms_);
  const TicketFold& ticket = record_.committed();
  if (ticket.has_created_ms()) {
    if (ticket.first_reply_clock() == prodops::state::CLOCK_PENDING) {
      consider(ticket.created_ms() + options.first_reply_sla.For(ticket.priority()));
    }
    if (ticket.resolution_clock() == prodops::state::CLOCK_PENDING) {
      consider(ticket.created_ms() + options.resolution_sla.For(ticket.priority()));
    }
  }
  if (Dormant()) consider(ExpiresAtMs(options));
  return due;
}

bool Ticket::Dormant() const {
  return pending_.empty() && IsDone(record_.committed().status());
}

int64_t Ticket::ExpiresAtMs(const TicketOptions& options) const {
  return record_.committed().last_event_ms() + options.closed_ticket_expiry_ms;
}

bool Ticket::Expired(int64_t horizon_ms, const TicketOptions& options) const {
  return Dormant() && ExpiresAtMs(options) <= horizon_ms;
}

void Ticket::RefreshCurrent(const TicketRecord& pending) {
  if (pending.pending().empty()) {
    current_ = TicketView::Of(record_.committed());
    return;
  }
  TicketFold fold = record_.committed();
  for (const TicketEvent& event : pending.pending()) {
    FoldEvent(event, OccurredMs(event), &fold, nullptr);
  }
  current_ = TicketView::Of(fold);
}

int64_t SlaTargets::For(TicketEvent::Priority priority) const {
  switch (priority) {
    case TicketEvent::LOW:
      return low_ms;
    case TicketEvent::HIGH:
      return high_ms;
    case TicketEvent::URGENT:
      return urgent_ms;
    default:
      return normal_ms;
  }
}

bool TicketOptions::IsReactive(TicketEvent::Type type, TicketEvent::Priority priority) const {
  for (const ReactiveRule& rule : reactive) {
    if (rule.type == type && priority >= rule.min_priority) return true;
  }
  return false;
}

}  // namespace prodops::signals
