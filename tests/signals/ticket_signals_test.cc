// Ticket signals on hand-computed scenarios: each test states the events,
// the pipeline times, and the exact values expected. Times are UTC on
// 2026-03-02; the allowed lateness is 1 h, so order-dependent counters see
// an event once the pipeline time is 1 h past it.
#include "daemon/signals/ticket_signals.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/export/snapshot.h"
#include "gtest/gtest.h"
#include "tests/support/exposition.h"
#include "tests/testing/memory_store.h"

namespace prodops::signals {
namespace {

using prodops::v1::Event;
using prodops::v1::TicketEvent;
using testing::ParseExposition;
using testing::Samples;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay0 = 1'772'409'600'000;  // 2026-03-02T00:00:00Z

struct Spec {
  std::string id;
  std::string ticket;
  int64_t at_ms;
  TicketEvent::Kind kind;
  TicketEvent::Status status = TicketEvent::STATUS_UNSPECIFIED;
  std::string team;
  std::string assignee;
  TicketEvent::Priority priority = TicketEvent::NORMAL;
  TicketEvent::Type type = TicketEvent::QUESTION;
  TicketEvent::Actor actor = TicketEvent::END_USER;
};

Event MakeEvent(const Spec& spec) {
  Event event;
  TicketEvent* t = event.mutable_ticket();
  t->set_event_id(spec.id);
  t->set_ticket_id(spec.ticket);
  t->mutable_occurred_at()->set_seconds(spec.at_ms / 1000);
  t->mutable_occurred_at()->set_nanos(static_cast<int32_t>(spec.at_ms % 1000) * 1'000'000);
  t->set_kind(spec.kind);
  t->set_status(spec.status);
  t->set_team(spec.team);
  t->set_assignee(spec.assignee);
  t->set_priority(spec.priority);
  t->set_type(spec.type);
  t->set_actor(spec.actor);
  t->set_public_(spec.kind == TicketEvent::COMMENT_ADDED);
  return event;
}

Spec Created(std::string id, std::string ticket, int64_t at, std::string team,
             TicketEvent::Priority priority = TicketEvent::NORMAL,
             TicketEvent::Type type = TicketEvent::QUESTION) {
  return {id, ticket, at, TicketEvent::CREATED, TicketEvent::NEW, team, "", priority, type};
}
Spec Status(std::string id, std::string ticket, int64_t at, TicketEvent::Status status,
            std::string team, std::string assignee = "agent") {
  return {id, ticket, at, TicketEvent::STATUS_CHANGED, status, team, assignee};
}
Spec Assigned(std::string id, std::string ticket, int64_t at, std::string team) {
  return {id, ticket, at, TicketEvent::ASSIGNED, TicketEvent::OPEN, team, "agent"};
}
Spec Reply(std::string id, std::string ticket, int64_t at, std::string team,
           TicketEvent::Priority priority = TicketEvent::NORMAL) {
  return {id,        ticket,   at,       TicketEvent::COMMENT_ADDED, TicketEvent::OPEN,
          team,      "agent",  priority, TicketEvent::QUESTION,      TicketEvent::AGENT};
}

window::Aggregates::Options Windows() {
  window::Aggregates::Options options;
  options.windows = {{"1h", kHour, kMinute}, {"1d", 24 * kHour, kHour},
                     {"7d", 168 * kHour, kHour}};
  options.allowed_lateness_ms = kHour;
  return options;
}

std::vector<Spec> DormancySpecs();

class TicketSignalsTest : public ::testing::Test {
 protected:
  TicketSignalsTest() { Reset(); }

  void Reset() {
    signals_.reset();
    aggregates_ = std::make_unique<window::Aggregates>(Windows());
    budget_ = std::make_unique<LabelBudget>(budget_options_, aggregates_.get());
    signals_ = std::make_unique<TicketSignals>(options_, budget_.get(), aggregates_.get());
  }

  // Applies the events in this order, each as of the newest time so far.
  void Feed(const std::vector<Spec>& specs) {
    for (const Spec& spec : specs) {
      as_of_ = std::max(as_of_, spec.at_ms);
      signals_->Apply(MakeEvent(spec), spec.at_ms, as_of_);
    }
  }

  Samples At(int64_t as_of_ms) {
    as_of_ = std::max(as_of_, as_of_ms);
    signals_->Advance(as_of_ms);
    return ParseExposition(Exposition(as_of_ms));
  }

  std::string Exposition(int64_t as_of_ms) {
    std::vector<prometheus::MetricFamily> families;
    CollectStored(*aggregates_, as_of_ms, &families);
    signals_->Collect(as_of_ms, &families);
    exporter::SortFamilies(&families);
    return exporter::SerializeExposition(families);
  }

  // What the pipeline's flush writes, and tells the sets once written.
  void Persist() {
    state::WriteSet changes;
    aggregates_->CollectChanges(&changes);
    budget_->CollectChanges(&changes);
    signals_->CollectChanges(&changes);
    ASSERT_TRUE(store_.Write(changes).ok());
    aggregates_->Written();
    signals_->Written();
  }

  // Restores the state from store_ (or starts it, if empty): from then on
  // dormant tickets are kept in store_ only.
  void Load() {
    ASSERT_TRUE(aggregates_->Load(store_).ok());
    ASSERT_TRUE(budget_->Load(store_).ok());
    ASSERT_TRUE(signals_->Load(store_).ok());
  }

  // DormancySpecs() into a fresh state kept in store_ (a 24 h expiry),
  // flushed 3 h in: T1 and T2 are then in the store only.
  void StoreDormantTickets() {
    options_.closed_ticket_expiry_ms = 24 * kHour;
    Reset();
    as_of_ = 0;
    Load();
    Feed(DormancySpecs());
    At(kDay0 + 3 * kHour);
    Persist();
  }

  // Keys of the tickets family of `kind` ('t' records, 'x' index entries)
  // after their task prefix.
  size_t StoredKeys(char kind) const {
    size_t count = 0;
    for (const auto& [key, value] : store_.Contents(state::Family::kTickets)) {
      if (key.size() > 4 && key[4] == kind) ++count;
    }
    return count;
  }
  bool IndexMarkerStored() const {
    return store_.Contents(state::Family::kMeta).contains("tickets/index_expiry");
  }

  TicketOptions options_;
  LabelBudgetOptions budget_options_;
  testing::MemoryStore store_;
  std::unique_ptr<window::Aggregates> aggregates_;
  std::unique_ptr<LabelBudget> budget_;
  std::unique_ptr<TicketSignals> signals_;
  int64_t as_of_ = 0;
};

// Count of a series, 0 when absent.
double Value(const Samples& samples, const std::string& series) {
  const auto it = samples.find(series);
  return it == samples.end() ? 0 : it->second;
}

TEST_F(TicketSignalsTest, SolveReopenSolveCountsEachTransitionOnceTheLatenessPassed) {
  Feed({Created("e1", "T1", kDay0, "core"),
        Status("e2", "T1", kDay0 + 1 * kHour, TicketEvent::SOLVED, "core"),
        Status("e3", "T1", kDay0 + 2 * kHour, TicketEvent::OPEN, "core"),
        Status("e4", "T1", kDay0 + 3 * kHour, TicketEvent::SOLVED, "core")});
  // Horizon 02:00: the first solve and the reopen are committed.
  Samples at3 = At(kDay0 + 3 * kHour);
  EXPECT_EQ(Value(at3, "prodops_tickets_solved_total{ticket_type=\"question\",priority="
                       "\"normal\",team=\"core\"}"),
            1);
  EXPECT_EQ(Value(at3, "prodops_tickets_reopened_total{team=\"core\"}"), 1);
  // The backlog gauges do not wait: T1 is solved now.
  EXPECT_EQ(testing::SumOf(at3, "prodops_tickets_open"), 0);
  Samples at4 = At(kDay0 + 4 * kHour);
  EXPECT_EQ(Value(at4, "prodops_tickets_solved_total{ticket_type=\"question\",priority="
                       "\"normal\",team=\"core\"}"),
            2);
  EXPECT_EQ(Value(at4, "prodops_tickets_reopened_total{team=\"core\"}"), 1);
}

TEST_F(TicketSignalsTest, EveryArrivalOrderWithinTheLatenessGivesTheSameExposition) {
  // Team a -> b -> a (one ping-pong), a reply, a solve and a reopen, all
  // within 50 minutes; two events share an instant (ordered by event id).
  std::vector<Spec> specs = {
      Created("e1", "T1", kDay0, "a", TicketEvent::HIGH),
      Assigned("e2", "T1", kDay0 + 10 * kMinute, "b"),
      Reply("e3", "T1", kDay0 + 20 * kMinute, "b", TicketEvent::HIGH),
      Assigned("e4", "T1", kDay0 + 20 * kMinute, "a"),
      Status("e5", "T1", kDay0 + 30 * kMinute, TicketEvent::SOLVED, "a"),
      Status("e6", "T1", kDay0 + 50 * kMinute, TicketEvent::OPEN, "a")};
  for (Spec& spec : specs) spec.priority = TicketEvent::HIGH;
  std::sort(specs.begin(), specs.end(),
            [](const Spec& x, const Spec& y) { return x.id < y.id; });
  std::string expected;
  int orders = 0;
  do {
    Reset();
    as_of_ = 0;
    Feed(specs);
    At(kDay0 + 30 * kMinute);  // a flush in the middle commits nothing yet
    At(kDay0 + 3 * kHour);
    const std::string exposition = Exposition(kDay0 + 3 * kHour);
    if (expected.empty()) expected = exposition;
    ASSERT_EQ(exposition, expected) << "order " << orders;
    ++orders;
  } while (std::next_permutation(specs.begin(), specs.end(),
                                 [](const Spec& x, const Spec& y) { return x.id < y.id; }));
  EXPECT_EQ(orders, 720);
  const Samples samples = ParseExposition(expected);
  EXPECT_EQ(Value(samples, "prodops_ticket_reassignments_total{team=\"b\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_reassignments_total{team=\"a\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_pingpong_total{team=\"a\"}"), 1);
  EXPECT_EQ(testing::SumOf(samples, "prodops_ticket_pingpong_total"), 1);
  EXPECT_EQ(Value(samples, "prodops_tickets_reopened_total{team=\"a\"}"), 1);
  // e3 (the reply, team b) sorts before e4 at 00:20: the reply is b's, 1200 s.
  EXPECT_EQ(Value(samples, "prodops_ticket_first_reply_seconds_count{team=\"b\",priority="
                           "\"high\"}"),
            1);
  EXPECT_EQ(Value(samples, "prodops_ticket_first_reply_seconds_sum{team=\"b\",priority="
                           "\"high\"}"),
            1200);
  EXPECT_EQ(Value(samples, "prodops_ticket_first_reply_seconds_bucket{team=\"b\",priority="
                           "\"high\",le=\"900\"}"),
            0);
  EXPECT_EQ(Value(samples, "prodops_ticket_first_reply_seconds_bucket{team=\"b\",priority="
                           "\"high\",le=\"3600\"}"),
            1);
  // Reopened at 00:50, open now: 3 h old.
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"high\",team=\"a\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_oldest_open_age_seconds{team=\"a\"}"), 10800);
}

TEST_F(TicketSignalsTest, SlaBreachIsCountedWhenTheTargetPassesNotWhenTheReplyComes) {
  // URGENT: first reply within 1 h, resolution within 4 h.
  Feed({Created("e1", "T1", kDay0, "ops", TicketEvent::URGENT)});
  // Pipeline time 01:59: horizon 00:59, before the 01:00 target.
  EXPECT_EQ(testing::SumOf(At(kDay0 + 119 * kMinute), "prodops_sla_breaches_total"), 0);
  const Samples at2 = At(kDay0 + 2 * kHour);
  EXPECT_EQ(Value(at2, "prodops_sla_breaches_total{team=\"ops\",priority=\"urgent\","
                       "clock=\"first_reply\"}"),
            1);
  // The reply comes later: the breach stays one, the reply time is observed.
  Feed({Reply("e2", "T1", kDay0 + 150 * kMinute, "ops", TicketEvent::URGENT)});
  const Samples at5 = At(kDay0 + 5 * kHour);
  EXPECT_EQ(Value(at5, "prodops_sla_breaches_total{team=\"ops\",priority=\"urgent\","
                       "clock=\"first_reply\"}"),
            1);
  EXPECT_EQ(Value(at5, "prodops_ticket_first_reply_seconds_sum{team=\"ops\",priority="
                       "\"urgent\"}"),
            9000);
  // Resolution target 04:00 passed at horizon 04:00 with the ticket open.
  EXPECT_EQ(Value(at5, "prodops_sla_breaches_total{team=\"ops\",priority=\"urgent\","
                       "clock=\"resolution\"}"),
            1);
}

TEST_F(TicketSignalsTest, AReplyAtTheTargetInstantMeetsIt) {
  Feed({Created("e1", "T1", kDay0, "ops", TicketEvent::URGENT),
        Reply("e2", "T1", kDay0 + kHour, "ops", TicketEvent::URGENT),
        Status("e3", "T1", kDay0 + 2 * kHour, TicketEvent::SOLVED, "ops")});
  EXPECT_EQ(testing::SumOf(At(kDay0 + 10 * kHour), "prodops_sla_breaches_total"), 0);
}

TEST_F(TicketSignalsTest, BacklogGaugesByTeam) {
  Feed({Created("e1", "T1", kDay0, "a"), Created("e2", "T2", kDay0 + kHour, "a"),
        Assigned("e3", "T2", kDay0 + 2 * kHour, "a"),
        Created("e4", "T3", kDay0 + 3 * kHour, "", TicketEvent::LOW)});
  const Samples samples = At(kDay0 + 4 * kHour);
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"normal\",team=\"a\"}"), 2);
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"low\",team=\"__none__\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_tickets_unassigned_open{team=\"a\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_tickets_unassigned_open{team=\"__none__\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_oldest_open_age_seconds{team=\"a\"}"), 14400);
  EXPECT_EQ(Value(samples, "prodops_ticket_oldest_open_age_seconds{team=\"__none__\"}"), 3600);
}

TEST_F(TicketSignalsTest, SolvedTicketExpiresAndItsResolutionIsObservedThen) {
  options_.closed_ticket_expiry_ms = 24 * kHour;
  Reset();
  Feed({Created("e1", "T1", kDay0, "a"),
        Status("e2", "T1", kDay0 + 5 * kHour, TicketEvent::SOLVED, "a")});
  // Expires when the horizon reaches 05:00 + 24 h, i.e. at 06:00 next day.
  Samples before = At(kDay0 + 30 * kHour - 1);
  EXPECT_EQ(signals_->ticket_count(), 1);
  EXPECT_EQ(testing::SumOf(before, "prodops_ticket_resolution_seconds_count"), 0);
  Samples after = At(kDay0 + 30 * kHour);
  EXPECT_EQ(signals_->ticket_count(), 0);
  EXPECT_EQ(Value(after, "prodops_ticket_resolution_seconds_count{team=\"a\",priority="
                         "\"normal\"}"),
            1);
  EXPECT_EQ(Value(after, "prodops_ticket_resolution_seconds_sum{team=\"a\",priority="
                         "\"normal\"}"),
            18000);
  EXPECT_EQ(Value(after, "prodops_ticket_resolution_seconds_bucket{team=\"a\",priority="
                         "\"normal\",le=\"14400\"}"),
            0);
  EXPECT_EQ(Value(after, "prodops_ticket_resolution_seconds_bucket{team=\"a\",priority="
                         "\"normal\",le=\"28800\"}"),
            1);
  Persist();
  EXPECT_EQ(store_.Contents(state::Family::kTickets).count(state::TaskPrefix(0) + "tT1"),
            0);
}

// Tickets that leave memory while solved: T1 is reopened by an event after
// its resolution deadline passed in the store, T2 expires from the store,
// T3 stays open.
std::vector<Spec> DormancySpecs() {
  return {Created("a1", "T1", kDay0, "a", TicketEvent::URGENT),
          Status("a2", "T1", kDay0 + 30 * kMinute, TicketEvent::SOLVED, "a"),
          Created("b1", "T2", kDay0 + 10 * kMinute, "b"),
          Status("b2", "T2", kDay0 + 40 * kMinute, TicketEvent::SOLVED, "b"),
          Created("c1", "T3", kDay0 + 2 * kHour, "a")};
}
std::vector<Spec> ReopenSpecs() {
  return {Status("a3", "T1", kDay0 + 5 * kHour, TicketEvent::OPEN, "a"),
          Assigned("a4", "T1", kDay0 + 6 * kHour, "b"),
          Status("a5", "T1", kDay0 + 7 * kHour, TicketEvent::SOLVED, "b")};
}
constexpr int64_t kDormancyCheckpoints[] = {3 * kHour, 9 * kHour, 31 * kHour, 32 * kHour};

TEST_F(TicketSignalsTest, DormantTicketsLeaveMemoryWithoutChangingAnySignal) {
  options_.closed_ticket_expiry_ms = 24 * kHour;
  // Every signal as of each checkpoint, all tickets in memory (no store).
  Reset();
  std::vector<std::string> expected;
  Feed(DormancySpecs());
  At(kDay0 + 3 * kHour);
  expected.push_back(Exposition(kDay0 + 3 * kHour));
  Feed(ReopenSpecs());
  for (int64_t at : {9 * kHour, 31 * kHour, 32 * kHour}) {
    At(kDay0 + at);
    expected.push_back(Exposition(kDay0 + at));
  }
  EXPECT_EQ(signals_->ticket_count(), 1);  // T3

  // The same with a store and a flush at each checkpoint.
  StoreDormantTickets();
  EXPECT_EQ(Exposition(kDay0 + 3 * kHour), expected[0]);
  EXPECT_EQ(signals_->ticket_count(), 1);  // T1 and T2 are in the store only
  EXPECT_EQ(StoredKeys('t'), 3);
  EXPECT_EQ(StoredKeys('x'), 2);
  Feed(ReopenSpecs());
  EXPECT_EQ(signals_->ticket_count(), 2);  // T1 read back
  for (size_t i = 1; i < std::size(kDormancyCheckpoints); ++i) {
    const int64_t at = kDay0 + kDormancyCheckpoints[i];
    At(at);
    Persist();
    EXPECT_EQ(Exposition(at), expected[i]) << "checkpoint " << i;
  }
  // T2 expired at 00:40 + 24 h, T1 at 07:00 + 24 h: both were observed and
  // deleted, with their index entries.
  const Samples last = ParseExposition(expected.back());
  EXPECT_EQ(testing::SumOf(last, "prodops_ticket_resolution_seconds_count"), 2);
  EXPECT_EQ(Value(last, "prodops_tickets_reopened_total{team=\"a\"}"), 1);
  EXPECT_EQ(Value(last, "prodops_ticket_reassignments_total{team=\"b\"}"), 1);
  // T3's first reply (8 h for normal priority); none for T1 or T2.
  EXPECT_EQ(testing::SumOf(last, "prodops_sla_breaches_total"), 1);
  EXPECT_EQ(signals_->ticket_count(), 1);
  EXPECT_EQ(StoredKeys('t'), 1);
  EXPECT_EQ(StoredKeys('x'), 0);
  EXPECT_EQ(signals_->read_errors(), 0);
}

// The pipeline goes on with events while a write runs (FlushMode::
// kBackground): a dormant ticket collected for the write, then changed
// before the write succeeded, must stay in memory until its new state is
// written too. A late event (older than the horizon) changes a ticket
// without waking it: it is folded at once, and the ticket stays closed.
TEST_F(TicketSignalsTest, ATicketChangedWhileItsWriteRunsStaysInMemory) {
  options_.closed_ticket_expiry_ms = 24 * kHour;
  const Spec late_close = Status("a9", "T1", kDay0 + kHour, TicketEvent::CLOSED, "a");
  Reset();
  std::vector<std::string> expected;  // every ticket in memory, no store
  Feed(DormancySpecs());
  At(kDay0 + 3 * kHour);
  Feed({late_close});
  for (int64_t at : {9 * kHour, 31 * kHour, 32 * kHour}) {
    At(kDay0 + at);
    expected.push_back(Exposition(kDay0 + at));
  }

  Reset();
  as_of_ = 0;
  Load();
  Feed(DormancySpecs());
  At(kDay0 + 3 * kHour);
  state::WriteSet in_flight;  // T1 and T2 dormant: evictable once written
  aggregates_->CollectChanges(&in_flight);
  budget_->CollectChanges(&in_flight);
  signals_->CollectChanges(&in_flight);
  Feed({late_close});  // while it is written
  ASSERT_TRUE(store_.Write(in_flight).ok());
  aggregates_->Written();
  signals_->Written();
  EXPECT_EQ(signals_->ticket_count(), 2) << "T1 changed since: kept; T2 left";
  for (size_t i = 1; i < std::size(kDormancyCheckpoints); ++i) {
    const int64_t at = kDay0 + kDormancyCheckpoints[i];
    At(at);
    Persist();
    EXPECT_EQ(Exposition(at), expected[i - 1]) << "checkpoint " << i;
  }
  EXPECT_EQ(signals_->read_errors(), 0);
}

TEST_F(TicketSignalsTest, ATicketDeletedByAFailedWriteIsNotReadBack) {
  StoreDormantTickets();
  ASSERT_EQ(StoredKeys('x'), 2);
  // T1 and T2 expire from the store; the write that deletes them fails
  // (its changes wait, as the pipeline keeps them for the retry).
  At(kDay0 + 30 * kHour);
  state::WriteSet failed;
  aggregates_->CollectChanges(&failed);
  budget_->CollectChanges(&failed);
  signals_->CollectChanges(&failed);
  // A comment on T2 meanwhile starts a new ticket: T2's old record, still
  // in the store, is not read back and not observed again.
  Feed({Reply("b3", "T2", kDay0 + 30 * kHour, "b")});
  const Samples samples = At(kDay0 + 30 * kHour);
  EXPECT_EQ(testing::SumOf(samples, "prodops_ticket_resolution_seconds_count"), 2);
  EXPECT_EQ(testing::SumOf(samples, "prodops_tickets_solved_total"), 2);
  EXPECT_EQ(signals_->ticket_count(), 2);  // T3 and the new T2
  // The retry writes both batches in order.
  ASSERT_TRUE(store_.Write(failed).ok());
  Persist();
  EXPECT_EQ(StoredKeys('t'), 2);
  EXPECT_EQ(StoredKeys('x'), 0);
}

TEST_F(TicketSignalsTest, RestartLeavesDormantTicketsInTheStore) {
  StoreDormantTickets();
  Reset();
  Load();
  EXPECT_EQ(signals_->ticket_count(), 1);  // T3
  as_of_ = kDay0 + 3 * kHour;
  Feed(ReopenSpecs());
  EXPECT_EQ(signals_->ticket_count(), 2);
  At(kDay0 + 9 * kHour);
  Persist();
  const Samples samples = At(kDay0 + 32 * kHour);
  EXPECT_EQ(Value(samples, "prodops_tickets_reopened_total{team=\"a\"}"), 1);
  // T1 (team b since a4; its events' snapshots make it normal) and T2.
  EXPECT_EQ(Value(samples,
                  "prodops_ticket_resolution_seconds_count{team=\"b\",priority="
                  "\"normal\"}"),
            2);
  EXPECT_EQ(signals_->ticket_count(), 1);
}

TEST_F(TicketSignalsTest, StateWithoutTheExpiryIndexIsLoadedWholeAndIndexedOnce) {
  options_.closed_ticket_expiry_ms = 24 * kHour;
  Reset();  // no Load: everything in memory, no index written
  Feed(DormancySpecs());
  At(kDay0 + 3 * kHour);
  Persist();
  EXPECT_EQ(StoredKeys('x'), 0);
  EXPECT_FALSE(IndexMarkerStored());
  Reset();
  Load();
  EXPECT_EQ(signals_->ticket_count(), 3);
  Persist();
  EXPECT_EQ(signals_->ticket_count(), 1);
  EXPECT_EQ(StoredKeys('x'), 2);
  EXPECT_TRUE(IndexMarkerStored());
  // Another expiry setting builds the index again.
  options_.closed_ticket_expiry_ms = 48 * kHour;
  Reset();
  Load();
  EXPECT_EQ(signals_->ticket_count(), 3);
  Persist();
  EXPECT_EQ(signals_->ticket_count(), 1);
  // The entries of the old setting are due first; they find T1 and T2 not
  // yet expired and go, so each expires once, at 48 h.
  Samples samples = At(kDay0 + 32 * kHour);
  Persist();
  EXPECT_EQ(testing::SumOf(samples, "prodops_ticket_resolution_seconds_count"), 0);
  EXPECT_EQ(StoredKeys('x'), 2);
  samples = At(kDay0 + 50 * kHour);
  Persist();
  EXPECT_EQ(testing::SumOf(samples, "prodops_ticket_resolution_seconds_count"), 2);
  EXPECT_EQ(StoredKeys('x'), 0);
  EXPECT_EQ(StoredKeys('t'), 1);
}

// A ticket belongs to the task of its events' partition: its record and
// what it commits are stored under that task. The same ticket_id from
// another task is another ticket, and a keying violation.
TEST_F(TicketSignalsTest, TicketsAreKeptPerTaskAndASecondTaskIsAKeyingViolation) {
  Load();
  aggregates_->SelectTask(1);
  Feed({Created("e1", "T1", kDay0, "a"),
        Status("e2", "T1", kDay0 + kMinute, TicketEvent::SOLVED, "a")});
  Samples samples = At(kDay0 + 2 * kHour);  // past the lateness: solved counts
  EXPECT_EQ(Value(samples, "prodops_ticket_keying_violations_total"), 0);
  aggregates_->SelectTask(2);
  Feed({Created("e3", "T1", kDay0 + 2 * kHour, "a"),
        Created("e4", "T2", kDay0 + 2 * kHour, "a")});
  samples = At(kDay0 + 2 * kHour);
  EXPECT_EQ(Value(samples, "prodops_ticket_keying_violations_total"), 1);
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"normal\",team=\"a\"}"), 2);
  Persist();
  std::set<std::string> records;
  std::set<std::string> index_entries;
  for (const auto& [key, value] : store_.Contents(state::Family::kTickets)) {
    (key[4] == 't' ? records : index_entries).insert(key);
  }
  EXPECT_EQ(records, (std::set<std::string>{state::TaskPrefix(1) + "tT1",
                                            state::TaskPrefix(2) + "tT1",
                                            state::TaskPrefix(2) + "tT2"}));
  // The solved ticket is dormant: its expiry is indexed in its task.
  ASSERT_EQ(index_entries.size(), 1u);
  EXPECT_EQ(index_entries.begin()->substr(0, 5), state::TaskPrefix(1) + "x");
  // The solve was committed by Advance while task 2 was selected last; it
  // is still task 1's.
  const std::string solved =
      window::MakeSeriesKey("prodops_tickets_solved_total", {"question", "normal", "a"});
  EXPECT_TRUE(store_.Contents(state::Family::kCounters)
                  .contains(state::TaskPrefix(1) + "c" + solved));
  EXPECT_FALSE(store_.Contents(state::Family::kCounters)
                   .contains(state::TaskPrefix(2) + "c" + solved));
}

TEST_F(TicketSignalsTest, StateSurvivesARestartWithPendingEvents) {
  Feed({Created("e1", "T1", kDay0, "a"), Assigned("e2", "T1", kDay0 + 10 * kMinute, "b")});
  At(kDay0 + 20 * kMinute);
  Persist();
  Reset();
  ASSERT_TRUE(aggregates_->Load(store_).ok());
  ASSERT_TRUE(signals_->Load(store_).ok());
  // A retry of e2 after the restart is recognized; a late-enough
  // reassignment back to a is a ping-pong.
  Feed({Assigned("e2", "T1", kDay0 + 10 * kMinute, "b"),
        Assigned("e3", "T1", kDay0 + 30 * kMinute, "a")});
  const Samples samples = At(kDay0 + 2 * kHour);
  EXPECT_EQ(Value(samples, "prodops_ticket_reassignments_total{team=\"b\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_pingpong_total{team=\"a\"}"), 1);
}

TEST_F(TicketSignalsTest, FirefightingRatioPerWindow) {
  Feed({Created("e1", "T1", kDay0 + 10 * kHour, "a", TicketEvent::LOW, TicketEvent::INCIDENT),
        Created("e2", "T2", kDay0 + 11 * kHour, "a", TicketEvent::HIGH, TicketEvent::BUG),
        Created("e3", "T3", kDay0 + 11 * kHour, "a", TicketEvent::NORMAL, TicketEvent::BUG),
        Created("e4", "T4", kDay0 + 11 * kHour + kMinute, "a")});
  const Samples samples = At(kDay0 + 11 * kHour + 30 * kMinute);
  // 1h window (11:31 back to 10:31...): T2, T3, T4; T1 at 10:00 is out.
  EXPECT_EQ(Value(samples, "prodops_firefighting_reactive_tickets{team=\"a\",window=\"1h\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_firefighting_tickets{team=\"a\",window=\"1h\"}"), 3);
  EXPECT_DOUBLE_EQ(Value(samples, "prodops_firefighting_ratio{team=\"a\",window=\"1h\"}"),
                   1.0 / 3);
  EXPECT_EQ(Value(samples, "prodops_firefighting_ratio{team=\"a\",window=\"1d\"}"), 0.5);
}

TEST_F(TicketSignalsTest, SpikeScoreUsesTheLastCompleteUtcHour) {
  // Baseline: one reactive ticket in each of 2 of the 168 hours (median 0,
  // MAD 0, so the floor of 1 is the scale).
  std::vector<Spec> specs = {
      Created("b1", "B1", kDay0 - 50 * kHour, "a", TicketEvent::LOW, TicketEvent::INCIDENT),
      Created("b2", "B2", kDay0 - 20 * kHour, "a", TicketEvent::LOW, TicketEvent::INCIDENT)};
  // Four in the hour 11:00-12:00, one at 10:59:59.999 (baseline), one at
  // 12:00:00 (the current, incomplete hour).
  for (int i = 0; i < 4; ++i) {
    specs.push_back(Created("x" + std::to_string(i), "X" + std::to_string(i),
                            kDay0 + 11 * kHour + i * kMinute, "a", TicketEvent::LOW,
                            TicketEvent::INCIDENT));
  }
  specs.push_back(Created("y", "Y", kDay0 + 11 * kHour - 1, "a", TicketEvent::LOW,
                          TicketEvent::INCIDENT));
  specs.push_back(Created("z", "Z", kDay0 + 12 * kHour, "a", TicketEvent::LOW,
                          TicketEvent::INCIDENT));
  Feed(specs);
  const Samples samples = At(kDay0 + 12 * kHour + 30 * 1000);
  EXPECT_EQ(Value(samples, "prodops_firefighting_spike_score{team=\"a\"}"), 4);
  EXPECT_EQ(Value(samples, "prodops_firefighting_spike{team=\"a\"}"), 1);
  // An hour later the last complete hour holds only Z: (1 - 0) / 1.
  const Samples later = At(kDay0 + 13 * kHour);
  EXPECT_EQ(Value(later, "prodops_firefighting_spike_score{team=\"a\"}"), 1);
  EXPECT_EQ(Value(later, "prodops_firefighting_spike{team=\"a\"}"), 0);
}

// Sets TZ for its lifetime; the previous value (or none) comes back after.
class ScopedTimeZone {
 public:
  explicit ScopedTimeZone(const char* tz) {
    const char* previous = std::getenv("TZ");
    if (previous != nullptr) previous_ = previous;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTimeZone() {
    if (previous_.has_value()) {
      setenv("TZ", previous_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> previous_;
};

// Hours are UTC hours whatever the machine's time zone: on the night Central
// Europe falls back (2026-10-25, 01:00Z), 00:30Z and 01:30Z are both 02:30
// local time, yet fall in two hours. TZ is a POSIX rule, so no zone data is
// needed for the zone to be in force. No code here reads local time; this
// keeps it so.
TEST_F(TicketSignalsTest, HoursAreUtcHoursAcrossADaylightSavingChange) {
  const ScopedTimeZone central_europe("CET-1CEST,M3.5.0,M10.5.0/3");
  constexpr int64_t kFallBack = 1'792'886'400'000 + kHour;  // 2026-10-25T01:00:00Z
  Feed({Created("d1", "D1", kFallBack - 30 * kMinute, "a", TicketEvent::LOW,
                TicketEvent::INCIDENT),
        Created("d2", "D2", kFallBack + 30 * kMinute, "a", TicketEvent::LOW,
                TicketEvent::INCIDENT)});
  // At 02:00:30Z the last complete hour, 01:00-02:00Z, holds D2 only; D1 is
  // one of the 168 baseline hours (median 0, MAD 0: the floor of 1).
  const Samples samples = At(kFallBack + kHour + 30 * 1000);
  EXPECT_EQ(Value(samples, "prodops_firefighting_spike_score{team=\"a\"}"), 1);
  EXPECT_EQ(
      Value(samples, "prodops_firefighting_reactive_tickets{team=\"a\",window=\"1d\"}"),
      2);
}

TEST_F(TicketSignalsTest, TeamsBeyondTheLabelBudgetFoldIntoOtherAndAreCounted) {
  budget_options_.team = 2;
  Reset();
  // a and b take the budget; c and d are folded. Each event of a folded
  // team counts one overflow, whatever number of series it labels.
  Feed({Created("e1", "T1", kDay0, "a"), Created("e2", "T2", kDay0 + kMinute, "b"),
        Created("e3", "T3", kDay0 + 2 * kMinute, "c", TicketEvent::LOW, TicketEvent::INCIDENT),
        Assigned("e4", "T1", kDay0 + 3 * kMinute, "c"),
        Assigned("e5", "T2", kDay0 + 4 * kMinute, "d"),
        Assigned("e6", "T2", kDay0 + 5 * kMinute, "b"),
        Status("e7", "T3", kDay0 + 6 * kMinute, TicketEvent::SOLVED, "c")});
  const Samples samples = At(kDay0 + 2 * kHour);
  EXPECT_EQ(Value(samples, "prodops_label_overflow_total{label=\"team\"}"), 4);
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"normal\",team=\"__other__\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_tickets_open{priority=\"normal\",team=\"b\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_oldest_open_age_seconds{team=\"__other__\"}"),
            7200);
  EXPECT_EQ(Value(samples, "prodops_ticket_reassignments_total{team=\"__other__\"}"), 2);
  EXPECT_EQ(Value(samples, "prodops_ticket_reassignments_total{team=\"b\"}"), 1);
  EXPECT_EQ(Value(samples, "prodops_ticket_pingpong_total{team=\"b\"}"), 1);
  // e7's snapshot (a Status spec) makes T3 a NORMAL QUESTION.
  EXPECT_EQ(Value(samples, "prodops_tickets_solved_total{ticket_type=\"question\",priority="
                           "\"normal\",team=\"__other__\"}"),
            1);
  EXPECT_EQ(Value(samples, "prodops_firefighting_reactive_tickets{team=\"__other__\","
                           "window=\"1d\"}"),
            1);
  for (const auto& [series, value] : samples) {
    EXPECT_EQ(series.find("team=\"c\""), std::string::npos) << series;
    EXPECT_EQ(series.find("team=\"d\""), std::string::npos) << series;
  }
}

}  // namespace
}  // namespace prodops::signals
