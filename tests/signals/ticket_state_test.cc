// The stored form of a ticket's state: what a restart reads back must fold
// to the same ticket, pending events included.
#include "daemon/signals/ticket_state.h"

#include "gtest/gtest.h"

namespace prodops::signals {
namespace {

using prodops::state::TicketRecord;
using prodops::v1::TicketEvent;

constexpr int64_t kDay0 = 1'772'409'600'000;  // 2026-03-02T00:00:00Z

TicketEvent MakeEvent(const std::string& id, int64_t at_ms, TicketEvent::Kind kind) {
  TicketEvent event;
  event.set_event_id(id);
  event.mutable_occurred_at()->set_seconds(at_ms / 1000);
  event.mutable_occurred_at()->set_nanos(static_cast<int32_t>(at_ms % 1000) * 1'000'000);
  event.set_ticket_id("T-1");
  event.set_account_id("acme");
  event.set_kind(kind);
  event.set_team("billing");
  event.set_priority(TicketEvent::HIGH);
  event.set_type(TicketEvent::BUG);
  return event;
}

TEST(TicketTest, KeepsWhatFoldingReadsOfPendingEvents) {
  TicketEvent event = MakeEvent("e1", kDay0 + 1234, TicketEvent::COMMENT_ADDED);
  event.mutable_occurred_at()->set_nanos(234'567'891);  // sub-millisecond part kept
  event.set_status(TicketEvent::PENDING);
  event.set_assignee("ana");
  event.set_actor(TicketEvent::AGENT);
  event.set_public_(true);
  event.add_features("checkout");
  event.add_features("search");
  event.set_release("r-7");
  Ticket ticket;
  ASSERT_TRUE(ticket.Add(event, OccurredMs(event), /*horizon_ms=*/kDay0, TicketOptions(),
                         nullptr));

  TicketRecord record;
  ASSERT_TRUE(record.ParseFromString(ticket.Serialize()));
  ASSERT_EQ(record.pending_size(), 1);
  // Only what no fold reads is gone: the ticket's key and the release.
  event.clear_ticket_id();
  event.clear_account_id();
  event.clear_release();
  EXPECT_EQ(record.pending(0).SerializeAsString(), event.SerializeAsString());
}

TEST(TicketTest, RestoresPendingEventsFromItsStoredForm) {
  const TicketOptions options;
  const int64_t horizon_ms = kDay0;  // every event below is pending
  Ticket ticket;
  // Added out of order: the stored form keeps them sorted.
  TicketEvent assigned = MakeEvent("e2", kDay0 + 60'000, TicketEvent::ASSIGNED);
  assigned.set_assignee("ana");
  assigned.set_team("payments");
  ASSERT_TRUE(ticket.Add(assigned, OccurredMs(assigned), horizon_ms, options, nullptr));
  const TicketEvent created = MakeEvent("e1", kDay0 + 1, TicketEvent::CREATED);
  ASSERT_TRUE(ticket.Add(created, OccurredMs(created), horizon_ms, options, nullptr));
  EXPECT_FALSE(ticket.Add(created, OccurredMs(created), horizon_ms, options, nullptr))
      << "a retry of a pending event";

  TicketRecord record;
  ASSERT_TRUE(record.ParseFromString(ticket.Serialize()));
  ASSERT_EQ(record.pending_size(), 2);
  EXPECT_EQ(record.pending(0).event_id(), "e1");
  EXPECT_EQ(record.pending(1).event_id(), "e2");
  EXPECT_FALSE(record.committed().has_created_ms()) << "nothing is committed yet";

  Ticket restored(record);
  EXPECT_EQ(restored.Serialize(), ticket.Serialize());
  EXPECT_TRUE(restored.current().created);
  EXPECT_EQ(restored.current().start_ms, kDay0 + 1);
  EXPECT_EQ(restored.current().team, "payments");
  EXPECT_TRUE(restored.current().assigned);
  EXPECT_EQ(restored.current().status, TicketEvent::NEW);
  EXPECT_EQ(restored.NextDueMs(options), kDay0 + 1);

  // Both commit alike once the horizon passes the events.
  ticket.CommitThrough(kDay0 + 3'600'000, options, nullptr);
  restored.CommitThrough(kDay0 + 3'600'000, options, nullptr);
  EXPECT_EQ(restored.Serialize(), ticket.Serialize());
  EXPECT_EQ(restored.committed().teams_size(), 2);
  EXPECT_EQ(restored.committed().reassignment_count(), 1u);
}

TEST(TicketTest, ASolvedTicketRestoredFromItsStoredFormIsDormantAsBefore) {
  const TicketOptions options;
  Ticket ticket;
  const TicketEvent created = MakeEvent("e1", kDay0, TicketEvent::CREATED);
  TicketEvent solved = MakeEvent("e2", kDay0 + 60'000, TicketEvent::STATUS_CHANGED);
  solved.set_status(TicketEvent::SOLVED);
  for (const TicketEvent& event : {created, solved}) {
    ASSERT_TRUE(
        ticket.Add(event, OccurredMs(event), /*horizon_ms=*/kDay0 - 1, options, nullptr));
  }
  EXPECT_FALSE(ticket.Dormant()) << "events pending";
  ticket.CommitThrough(kDay0 + 60'000, options, nullptr);
  ASSERT_TRUE(ticket.Dormant());
  TicketRecord record;
  ASSERT_TRUE(record.ParseFromString(ticket.Serialize()));
  const Ticket restored(record);
  EXPECT_TRUE(restored.Dormant()) << "nothing pending after a restore either";
  EXPECT_EQ(restored.Serialize(), ticket.Serialize());
  EXPECT_EQ(restored.NextDueMs(options), ticket.NextDueMs(options));
  EXPECT_EQ(restored.ExpiresAtMs(options),
            kDay0 + 60'000 + options.closed_ticket_expiry_ms);
}

}  // namespace
}  // namespace prodops::signals
