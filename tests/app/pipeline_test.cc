// The pipeline on an in-memory store and a manual clock: offsets go out with
// the aggregates they account for, a failed write loses nothing, and the
// state reloads to exactly what was exposed.
#include "daemon/app/pipeline.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "daemon/sim/encode.h"
#include "gtest/gtest.h"
#include "tests/support/exposition.h"
#include "tests/testing/flaky_store.h"

namespace prodops::app {
namespace {

using prodops::v1::Event;
using prodops::v1::TicketEvent;
using testing::ParseExposition;

constexpr int64_t kT0 = 1'772'368'200'000;  // 2026-03-01T12:30:00Z

using testing::FlakyStore;

PipelineOptions Options() {
  PipelineOptions options;
  options.topics = {{"usage", decode::Format::kJson, decode::Content::kUsage}};
  options.windows.windows = {{"1h", 3'600'000, 60'000}};
  options.windows.allowed_lateness_ms = 3'600'000;
  options.flush_interval_ms = 1000;
  return options;
}

std::string UsageJson(int i, int64_t at_ms) {
  Event event;
  auto* usage = event.mutable_usage();
  usage->set_event_id(absl::StrCat("e", i));
  usage->mutable_occurred_at()->set_seconds(at_ms / 1000);
  usage->set_user_id(absl::StrCat("user", i % 7));
  usage->set_feature(i % 2 ? "search" : "checkout");
  usage->set_action("view");
  std::string json;
  EXPECT_TRUE(
      sim::EncodeEvent(event, decode::Format::kJson, decode::Content::kUsage, &json));
  return json;
}

std::string Exposition(const Pipeline& pipeline) {
  return exporter::SerializeExposition(pipeline.BuildSnapshot({})->families);
}

class PipelineTest : public ::testing::Test {
 protected:
  void Feed(Pipeline& pipeline, int first, int last, int partition = 0) {
    for (int i = first; i < last; ++i) {
      const std::string json = UsageJson(i, kT0 - 60'000 * (i % 30));
      pipeline.ProcessMessage({"usage", partition, i, {}, json});
    }
  }

  // The exposition of messages [0, last) fed to a pipeline of its own.
  std::string ExpositionOf(int last) {
    testing::MemoryStore store;
    Pipeline pipeline(Options(), &store, &clock_);
    EXPECT_TRUE(pipeline.Load().ok());
    Feed(pipeline, 0, last);
    EXPECT_TRUE(pipeline.Flush().ok());
    return Exposition(pipeline);
  }

  ManualClock clock_{kT0};
  FlakyStore store_;
};

TEST_F(PipelineTest, OffsetsAreWrittenInTheSameWriteAsTheAggregates) {
  Pipeline pipeline(Options(), &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  Feed(pipeline, 0, 10);
  ASSERT_TRUE(pipeline.Flush().ok());
  EXPECT_EQ(store_.writes, 1);
  EXPECT_TRUE(store_.last_write_families.contains(state::Family::kOffsets));
  EXPECT_TRUE(store_.last_write_families.contains(state::Family::kCounters));
  EXPECT_TRUE(store_.last_write_families.contains(state::Family::kBuckets));
  EXPECT_EQ(pipeline.NextOffset({"usage", 0}), 10);
  const auto committable = pipeline.TakeCommittableOffsets();
  ASSERT_EQ(committable.size(), 1u);
  EXPECT_EQ(committable[0].second, 10);
  EXPECT_TRUE(pipeline.TakeCommittableOffsets().empty());
}

TEST_F(PipelineTest, ReloadedStateExposesExactlyTheSameValues) {
  std::string before;
  {
    Pipeline pipeline(Options(), &store_, &clock_);
    ASSERT_TRUE(pipeline.Load().ok());
    Feed(pipeline, 0, 500);
    Feed(pipeline, 500, 800, /*partition=*/1);
    ASSERT_TRUE(pipeline.Flush().ok());
    before = Exposition(pipeline);
  }
  Pipeline reloaded(Options(), &store_, &clock_);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(Exposition(reloaded), before);
  EXPECT_EQ(reloaded.NextOffset({"usage", 0}), 500);
  EXPECT_EQ(reloaded.NextOffset({"usage", 1}), 800);
  const auto samples = ParseExposition(before);
  EXPECT_EQ(samples.at("prodops_events_ingested_total{topic=\"usage\"}"), 800);
  EXPECT_EQ(samples.at("prodops_active_users{feature=\"__all__\",window=\"1h\"}"), 7);
}

TEST_F(PipelineTest, MessagesBeforeTheStoredOffsetAreNotCountedAgain) {
  {
    Pipeline pipeline(Options(), &store_, &clock_);
    ASSERT_TRUE(pipeline.Load().ok());
    Feed(pipeline, 0, 100);
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  Pipeline pipeline(Options(), &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  Feed(pipeline, 50, 150);  // 50..99 again, as after a crash before a commit
  ASSERT_TRUE(pipeline.Flush().ok());
  EXPECT_EQ(ParseExposition(Exposition(pipeline))
                .at("prodops_events_ingested_total{topic=\"usage\"}"),
            150);
}

TEST_F(PipelineTest, AFailedWriteLosesNothing) {
  const std::string expected = ExpositionOf(300);
  {
    Pipeline pipeline(Options(), &store_, &clock_);
    ASSERT_TRUE(pipeline.Load().ok());
    store_.failures = 2;
    Feed(pipeline, 0, 100);
    EXPECT_EQ(pipeline.Flush().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(pipeline.TakeCommittableOffsets().empty()) << "nothing durable to commit";
    Feed(pipeline, 100, 200);
    EXPECT_FALSE(pipeline.Flush().ok());
    Feed(pipeline, 200, 300);
    ASSERT_TRUE(pipeline.Flush().ok());
    EXPECT_EQ(pipeline.flush_errors(), 2u);
    EXPECT_EQ(pipeline.TakeCommittableOffsets().back().second, 300);
  }
  Pipeline reloaded(Options(), &store_, &clock_);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(Exposition(reloaded), expected);
}

// FlushMode::kBackground: events go on while the writer thread writes; a
// write's outcome is the next Flush's, and a failed one goes again, ahead
// of what was collected after it. The result is the same state as with
// every flush waiting.
TEST_F(PipelineTest, BackgroundFlushesEndInTheSameStateAndReportFailuresLater) {
  const std::string expected = ExpositionOf(400);
  {
    Pipeline pipeline(Options(), &store_, &clock_);
    ASSERT_TRUE(pipeline.Load().ok());
    store_.failures = 1;  // the first write fails
    Feed(pipeline, 0, 100);
    ASSERT_TRUE(pipeline.Flush(FlushMode::kBackground).ok()) << "it only started";
    EXPECT_TRUE(pipeline.TakeCommittableOffsets().empty());
    Feed(pipeline, 100, 200);  // possibly while it is written
    const absl::Status failed = pipeline.Flush(FlushMode::kBackground);
    EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted) << failed;
    EXPECT_TRUE(pipeline.TakeCommittableOffsets().empty()) << "nothing is durable";
    EXPECT_EQ(pipeline.flush_errors(), 1u);
    EXPECT_FALSE(pipeline.FlushDue()) << "the retry waits for its backoff";
    Feed(pipeline, 200, 300);
    clock_.Advance(1000);
    ASSERT_TRUE(pipeline.FlushDue());
    ASSERT_TRUE(pipeline.Flush(FlushMode::kBackground).ok());  // the retry starts
    Feed(pipeline, 300, 400);
    EXPECT_EQ(Exposition(pipeline), expected) << "memory runs ahead of the store";
    ASSERT_TRUE(pipeline.Flush().ok());  // the retry's outcome, then the rest
    EXPECT_EQ(pipeline.TakeCommittableOffsets().back().second, 400);
    EXPECT_EQ(pipeline.flush_errors(), 1u);
    EXPECT_EQ(store_.writes, 2);
  }
  Pipeline reloaded(Options(), &store_, &clock_);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(Exposition(reloaded), expected);
}

TEST_F(PipelineTest, TheOutcomeOfAWriteInFlightCanBeTakenWithoutWaiting) {
  Pipeline pipeline(Options(), &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  EXPECT_FALSE(pipeline.PollWrite().has_value()) << "none in flight";
  Feed(pipeline, 0, 50);
  ASSERT_TRUE(pipeline.Flush(FlushMode::kBackground).ok());
  EXPECT_TRUE(pipeline.Writing());
  std::optional<absl::Status> outcome;
  while (!(outcome = pipeline.PollWrite()).has_value()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(outcome->ok()) << *outcome;
  EXPECT_FALSE(pipeline.Writing());
  EXPECT_FALSE(pipeline.PollWrite().has_value()) << "taken once";
  EXPECT_EQ(pipeline.TakeCommittableOffsets().back().second, 50);
  EXPECT_EQ(pipeline.flushes(), 1u);
  EXPECT_TRUE(pipeline.WaitForWrite().ok()) << "none in flight";
  // Nothing changed since (the clock stood still): nothing to write, and
  // no write in flight whose end the caller would wait for.
  ASSERT_TRUE(pipeline.Flush(FlushMode::kBackground).ok());
  EXPECT_FALSE(pipeline.Writing());
  EXPECT_EQ(store_.writes, 1);
}

TEST_F(PipelineTest, FlushIsDueAfterTheIntervalOrWhenTheCacheIsFull) {
  PipelineOptions options = Options();
  options.cache_max_bytes = 4096;
  Pipeline pipeline(options, &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  EXPECT_FALSE(pipeline.FlushDue());
  clock_.Advance(999);
  EXPECT_FALSE(pipeline.FlushDue());
  clock_.Advance(1);
  EXPECT_TRUE(pipeline.FlushDue());
  ASSERT_TRUE(pipeline.Flush().ok());
  EXPECT_FALSE(pipeline.FlushDue());
  Feed(pipeline, 0, 2000);
  EXPECT_TRUE(pipeline.FlushDue()) << "more than 4096 bytes of changes are waiting";
}

TEST_F(PipelineTest, BadMessagesAreCountedByReasonAndAdvanceTheOffset) {
  Pipeline pipeline(Options(), &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  pipeline.ProcessMessage({"usage", 0, 0, {}, "{oops"});
  pipeline.ProcessMessage({"usage", 0, 1, {}, R"({"feature":"x"})"});
  EXPECT_EQ(pipeline.NextOffset({"usage", 0}), 2);
  const auto samples = ParseExposition(Exposition(pipeline));
  EXPECT_EQ(
      samples.at("prodops_events_rejected_total{topic=\"usage\",reason=\"malformed\"}"),
      1);
  EXPECT_EQ(
      samples.at(
          "prodops_events_rejected_total{topic=\"usage\",reason=\"missing_event_id\"}"),
      1);
}

TEST_F(PipelineTest, MessagesUpToTheMaximumSizeAreAcceptedOneByteMoreIsRejected) {
  PipelineOptions options = Options();
  options.max_message_bytes = 2048;
  Pipeline pipeline(options, &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  // JSON allows trailing whitespace: the same event padded to the limit.
  std::string at_limit = UsageJson(1, kT0);
  at_limit.resize(2048, ' ');
  std::string over_limit = UsageJson(2, kT0);
  over_limit.resize(2049, ' ');
  pipeline.ProcessMessage({"usage", 0, 0, {}, at_limit});
  pipeline.ProcessMessage({"usage", 0, 1, {}, over_limit});
  EXPECT_EQ(pipeline.NextOffset({"usage", 0}), 2);
  const auto samples = ParseExposition(Exposition(pipeline));
  EXPECT_EQ(samples.at("prodops_events_ingested_total{topic=\"usage\"}"), 1);
  EXPECT_EQ(
      samples.at("prodops_events_rejected_total{topic=\"usage\",reason=\"too_large\"}"),
      1);
}

TEST_F(PipelineTest, EventsTooFarAheadOfOrBehindTheClockAreRejected) {
  PipelineOptions options = Options();
  options.max_future_ms = 3'600'000;
  options.max_age_ms = 30 * 86'400'000LL;
  Pipeline pipeline(options, &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  const int64_t times[] = {
      kT0 + 3'600'000,                 // at the future limit: accepted
      kT0 + 3'601'000,                 // a second beyond: rejected
      kT0 - 30 * 86'400'000LL,         // at the age limit: accepted
      kT0 - 30 * 86'400'000LL - 1000,  // a second older: rejected
      253'402'300'799'000,             // 9999-12-31T23:59:59Z: rejected
  };
  for (int i = 0; i < 5; ++i)
    pipeline.ProcessMessage({"usage", 0, i, {}, UsageJson(i, times[i])});
  const auto samples = ParseExposition(Exposition(pipeline));
  EXPECT_EQ(samples.at("prodops_events_ingested_total{topic=\"usage\"}"), 2);
  EXPECT_EQ(
      samples.at(
          "prodops_events_rejected_total{topic=\"usage\",reason=\"out_of_tolerance\"}"),
      3);
  EXPECT_EQ(samples.at("prodops_last_event_timestamp_seconds{topic=\"usage\"}"),
            (kT0 + 3'600'000) / 1000)
      << "a rejected future event must not move event time";
}

TEST_F(PipelineTest, TenPercentDuplicatesOnOtherPartitionsChangeNoSignal) {
  std::string clean;
  {
    testing::MemoryStore store;
    Pipeline pipeline(Options(), &store, &clock_);
    ASSERT_TRUE(pipeline.Load().ok());
    Feed(pipeline, 0, 1000);
    ASSERT_TRUE(pipeline.Flush().ok());
    clean = Exposition(pipeline);
  }
  std::string with_duplicates;
  {
    testing::MemoryStore store;
    {
      Pipeline pipeline(Options(), &store, &clock_);
      ASSERT_TRUE(pipeline.Load().ok());
      int64_t offset_p1 = 0;
      for (int i = 0; i < 1000; ++i) {
        const std::string json = UsageJson(i, kT0 - 60'000 * (i % 30));
        pipeline.ProcessMessage({"usage", 0, i, {}, json});
        // Every 10th event again on partition 1, some right away, some after
        // a flush (read back from the store), some after a restart.
        if (i % 10 == 3) pipeline.ProcessMessage({"usage", 1, offset_p1++, {}, json});
        if (i % 100 == 50) {
          ASSERT_TRUE(pipeline.Flush().ok());
        }
      }
      ASSERT_TRUE(pipeline.Flush().ok());
    }
    Pipeline restarted(Options(), &store, &clock_);
    ASSERT_TRUE(restarted.Load().ok());
    for (int i = 1000; i < 1010; ++i) {
      const std::string json = UsageJson(i - 1000, kT0 - 60'000 * ((i - 1000) % 30));
      restarted.ProcessMessage({"usage", 2, i, {}, json});
    }
    ASSERT_TRUE(restarted.Flush().ok());
    with_duplicates = Exposition(restarted);
  }
  auto samples = ParseExposition(with_duplicates);
  EXPECT_EQ(samples.at("prodops_events_duplicate_total{topic=\"usage\"}"), 110);
  samples.erase("prodops_events_duplicate_total{topic=\"usage\"}");
  auto expected = ParseExposition(clean);
  expected.erase("prodops_events_duplicate_total{topic=\"usage\"}");
  EXPECT_EQ(samples, expected);
}

// One event of the envelope topic "events".
std::string EventJson(const Event& event) {
  std::string json;
  EXPECT_TRUE(
      sim::EncodeEvent(event, decode::Format::kJson, decode::Content::kEnvelope, &json));
  return json;
}

Event UrgentTicket(TicketEvent::Kind kind, int64_t at_ms) {
  Event event;
  TicketEvent* ticket = event.mutable_ticket();
  ticket->set_event_id(absl::StrCat("t1-", kind));
  ticket->mutable_occurred_at()->set_seconds(at_ms / 1000);
  ticket->set_ticket_id("t1");
  ticket->set_kind(kind);
  ticket->set_status(TicketEvent::OPEN);
  ticket->set_type(TicketEvent::INCIDENT);
  ticket->set_priority(TicketEvent::URGENT);
  ticket->set_team("support");
  if (kind == TicketEvent::COMMENT_ADDED) {
    ticket->set_actor(TicketEvent::AGENT);
    ticket->set_public_(true);
  }
  return event;
}

// Partition 0 runs three hours ahead (a backlog read faster, a slower
// broker) while partition 1 holds an urgent ticket whose reply, ten
// minutes after creation, has not been read yet. The reply met the one-hour
// target: no breach may be counted, however far partition 0 got.
TEST_F(PipelineTest, APartitionReadAheadCannotMakeAnotherOnesEventsLate) {
  auto run = [&](bool report_partitions) {
    testing::MemoryStore store;
    PipelineOptions options = Options();
    options.topics = {{"events", decode::Format::kJson, decode::Content::kEnvelope}};
    options.time_mode = TimeMode::kEventTime;
    options.max_future_ms = 0;
    Pipeline pipeline(options, &store, &clock_);
    EXPECT_TRUE(
        pipeline.Load(report_partitions ? TaskLoading::kOnAssignment : TaskLoading::kAll)
            .ok());
    const ingest::TopicPartition p0{"events", 0};
    const ingest::TopicPartition p1{"events", 1};
    if (report_partitions) {
      pipeline.SetAssigned(p0, true);
      pipeline.SetAssigned(p1, true);
      pipeline.SetEndOffset(p0, 3);
      pipeline.SetEndOffset(p1, 2);
    }
    pipeline.ProcessMessage(
        {"events", 1, 0, {}, EventJson(UrgentTicket(TicketEvent::CREATED, kT0))});
    for (int i = 0; i < 3; ++i) {
      Event usage;
      usage.mutable_usage()->set_event_id(absl::StrCat("u", i));
      usage.mutable_usage()->mutable_occurred_at()->set_seconds(kT0 / 1000 +
                                                                3600 * (i + 1));
      usage.mutable_usage()->set_user_id("user");
      usage.mutable_usage()->set_feature("search");
      usage.mutable_usage()->set_action("view");
      pipeline.ProcessMessage({"events", 0, i, {}, EventJson(usage)});
    }
    EXPECT_TRUE(pipeline.Flush().ok());
    if (report_partitions) {
      // Partition 0 is read to its end; partition 1 is not: the watermark
      // waits at partition 1's newest event.
      EXPECT_EQ(pipeline.Watermark(), kT0);
      EXPECT_TRUE(pipeline.WaitingForInput());
    }
    pipeline.ProcessMessage(
        {"events",
         1,
         1,
         {},
         EventJson(UrgentTicket(TicketEvent::COMMENT_ADDED, kT0 + 600'000))});
    EXPECT_TRUE(pipeline.Flush().ok());
    if (report_partitions) {
      EXPECT_FALSE(pipeline.WaitingForInput());
      EXPECT_EQ(pipeline.Watermark(), kT0 + 3 * 3'600'000);
      // Stored with the state.
      Pipeline reloaded(options, &store, &clock_);
      EXPECT_TRUE(reloaded.Load().ok());
      EXPECT_EQ(reloaded.Watermark(), pipeline.Watermark());
    }
    return testing::SumOf(ParseExposition(Exposition(pipeline)),
                          "prodops_sla_breaches_total");
  };
  EXPECT_EQ(run(/*report_partitions=*/true), 0);
  // Without the partitions' progress (as if they were one file in this
  // order), partition 0's events make the reply late: the breach shows
  // what the watermark prevents.
  EXPECT_EQ(run(/*report_partitions=*/false), 1);
}

// Records dead letters; Drain fails while `fail` is set.
class RecordingSink final : public ingest::DeadLetterSink {
 public:
  void Send(const ingest::Message& message, std::string_view reason) override {
    queued.push_back({std::string(message.payload), message.offset, std::string(reason)});
  }
  absl::Status Drain() override {
    if (fail) return absl::UnavailableError("dead-letter topic unreachable");
    delivered.insert(delivered.end(), queued.begin(), queued.end());
    queued.clear();
    return absl::OkStatus();
  }
  struct Letter {
    std::string payload;
    int64_t offset;
    std::string reason;
    bool operator==(const Letter&) const = default;
  };
  std::vector<Letter> queued;
  std::vector<Letter> delivered;
  bool fail = false;
};

TEST_F(PipelineTest, RejectedMessagesReachTheDeadLetterSinkBeforeTheirOffsetIsStored) {
  RecordingSink sink;
  Pipeline pipeline(Options(), &store_, &clock_, &sink);
  ASSERT_TRUE(pipeline.Load().ok());
  Feed(pipeline, 0, 3);
  pipeline.ProcessMessage({"usage", 0, 3, {}, "{oops"});
  Feed(pipeline, 4, 6);
  ASSERT_EQ(sink.queued.size(), 1u);
  EXPECT_EQ(sink.queued[0], (RecordingSink::Letter{"{oops", 3, "malformed"}));

  sink.fail = true;
  EXPECT_EQ(pipeline.Flush().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_.writes, 0) << "no offset past an undelivered dead letter";
  EXPECT_TRUE(pipeline.TakeCommittableOffsets().empty());
  EXPECT_FALSE(pipeline.FlushDue()) << "retry waits for the backoff";
  clock_.Advance(100);
  EXPECT_TRUE(pipeline.FlushDue());

  sink.fail = false;
  ASSERT_TRUE(pipeline.Flush().ok());
  EXPECT_EQ(store_.writes, 1);
  ASSERT_EQ(sink.delivered.size(), 1u);
  EXPECT_EQ(pipeline.TakeCommittableOffsets().back().second, 6);
  EXPECT_EQ(
      ParseExposition(Exposition(pipeline))
          .at("prodops_events_rejected_total{topic=\"usage\",reason=\"malformed\"}"),
      1);
}

TEST_F(PipelineTest, FailingWritesBackOffAndAskTheSourceToPauseWhenTheCacheIsFull) {
  PipelineOptions options = Options();
  options.cache_max_bytes = 4096;
  Pipeline pipeline(options, &store_, &clock_);
  ASSERT_TRUE(pipeline.Load().ok());
  store_.failures = 100;
  Feed(pipeline, 0, 10);
  EXPECT_FALSE(pipeline.Backlogged());
  clock_.Advance(1000);
  ASSERT_FALSE(pipeline.Flush().ok());
  EXPECT_FALSE(pipeline.Backlogged()) << "failing, but the cache has room";
  // Backoff doubles from 100 ms up to 10 s.
  for (int64_t expected : {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}) {
    clock_.Advance(expected - 1);
    EXPECT_FALSE(pipeline.FlushDue()) << "before " << expected << " ms";
    clock_.Advance(1);
    EXPECT_TRUE(pipeline.FlushDue()) << "after " << expected << " ms";
    ASSERT_FALSE(pipeline.Flush().ok());
  }
  Feed(pipeline, 10, 2000);
  EXPECT_TRUE(pipeline.Backlogged());
  store_.failures = 0;
  clock_.Advance(10'000);
  ASSERT_TRUE(pipeline.Flush().ok());
  EXPECT_FALSE(pipeline.Backlogged());
  EXPECT_EQ(pipeline.TakeCommittableOffsets().back().second, 2000);
  EXPECT_EQ(ParseExposition(Exposition(pipeline))
                .at("prodops_events_ingested_total{topic=\"usage\"}"),
            2000);
}

// A task taken over from another process (restored from the changelog: the
// task families, without that process's own state, its label budgets
// among it) shows its tickets under their teams, not "__other__": the
// teams were admitted where their events were applied.
TEST_F(PipelineTest, ATaskFromAnotherProcessKeepsItsLabels) {
  PipelineOptions options = Options();
  options.topics.push_back({"events", decode::Format::kJson, decode::Content::kEnvelope});
  const ingest::TopicPartition events1{"events", 1};
  {
    Pipeline first(options, &store_, &clock_);
    ASSERT_TRUE(first.Load(TaskLoading::kOnAssignment).ok());
    first.SetAssigned(events1, true);
    first.ProcessMessage(
        {"events", 1, 0, {}, EventJson(UrgentTicket(TicketEvent::CREATED, kT0))});
    ASSERT_TRUE(first.Flush().ok());
  }
  testing::MemoryStore taken_over;
  state::WriteSet restored;
  for (state::Family family : state::kTaskFamilies) {
    ASSERT_TRUE(store_
                    .Scan(family, "",
                          [&](std::string_view key, std::string_view value) {
                            restored.Put(family, std::string(key), std::string(value));
                            return absl::OkStatus();
                          })
                    .ok());
  }
  ASSERT_TRUE(taken_over.Write(restored).ok());
  Pipeline second(options, &taken_over, &clock_);
  ASSERT_TRUE(second.Load(TaskLoading::kOnAssignment).ok());
  second.SetAssigned(events1, true);
  const auto samples = ParseExposition(Exposition(second));
  EXPECT_EQ(samples.at("prodops_tickets_open{priority=\"urgent\",team=\"support\"}"), 1);
  EXPECT_FALSE(
      samples.contains("prodops_tickets_open{priority=\"urgent\",team=\"__other__\"}"));
}

// A release read as a broadcast (every process reads the release topics
// whole) counts the tickets of the tasks held here, though its partition is
// another process's. It is not counted in prodops_releases_total here (the
// holder of its partition counts it), and its offset is the process's,
// written with its state.
TEST_F(PipelineTest, ABroadcastReleaseCountsTheTicketsOfTheTasksHeld) {
  PipelineOptions options = Options();
  options.topics.push_back({"events", decode::Format::kJson, decode::Content::kEnvelope});
  options.topics.push_back(
      {"releases", decode::Format::kJson, decode::Content::kRelease});
  Event deploy;
  prodops::v1::ReleaseEvent* release = deploy.mutable_release();
  release->set_event_id("r1-deploy");
  release->mutable_occurred_at()->set_seconds((kT0 - 600'000) / 1000);
  release->set_release("r1");
  release->set_kind(prodops::v1::ReleaseEvent::DEPLOY);
  release->set_team("payments");
  release->add_features("checkout");
  std::string release_json;
  ASSERT_TRUE(sim::EncodeEvent(deploy, decode::Format::kJson, decode::Content::kRelease,
                               &release_json));
  Event ticket = UrgentTicket(TicketEvent::CREATED, kT0);
  ticket.mutable_ticket()->add_features("checkout");
  const ingest::TopicPartition events1{"events", 1};
  const std::string after = R"(prodops_release_tickets_after{release="r1"})";
  {
    Pipeline pipeline(options, &store_, &clock_);
    ASSERT_TRUE(pipeline.Load(TaskLoading::kOnAssignment).ok());
    pipeline.SetAssigned(events1, true);
    pipeline.ProcessBroadcast({"releases", 0, 0, {}, release_json});
    pipeline.ProcessMessage({"events", 1, 0, {}, EventJson(ticket)});
    const auto samples = ParseExposition(Exposition(pipeline));
    EXPECT_EQ(samples.at(after), 1);
    EXPECT_FALSE(
        samples.contains(R"(prodops_releases_total{team="payments",kind="deploy"})"));
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  Pipeline restarted(options, &store_, &clock_);
  ASSERT_TRUE(restarted.Load(TaskLoading::kOnAssignment).ok());
  EXPECT_EQ(restarted.BroadcastOffset({"releases", 0}), 1);
  EXPECT_EQ(restarted.BroadcastOffset({"releases", 1}), std::nullopt);
  restarted.SetAssigned(events1, true);
  EXPECT_EQ(ParseExposition(Exposition(restarted)).at(after), 1);
}

// A task revoked while its changes could not be written leaves with them:
// its next owner resumes from the offsets stored with what was written, and
// nothing of it is written afterwards (a changelog would refuse it).
TEST_F(PipelineTest, ARevokedTaskTakesItsUnwrittenChangesWithIt) {
  Pipeline pipeline(Options(), &store_, &clock_);
  ASSERT_TRUE(pipeline.Load(TaskLoading::kOnAssignment).ok());
  const ingest::TopicPartition usage0{"usage", 0};
  const ingest::TopicPartition usage1{"usage", 1};
  pipeline.SetAssigned(usage0, true);
  pipeline.SetAssigned(usage1, true);
  Feed(pipeline, 0, 10);
  Feed(pipeline, 10, 20, /*partition=*/1);
  store_.failures = 1;
  EXPECT_FALSE(pipeline.Flush().ok());
  pipeline.SetAssigned(usage1, false);
  clock_.Advance(1000);  // past the retry backoff
  ASSERT_TRUE(pipeline.Flush().ok());
  for (state::Family family : state::kTaskFamilies) {
    absl::StatusOr<std::vector<state::TaskId>> tasks = state::StoredTasks(store_, family);
    ASSERT_TRUE(tasks.ok()) << tasks.status();
    EXPECT_TRUE(tasks->empty() || *tasks == std::vector<state::TaskId>{0})
        << state::FamilyName(family);
  }
  EXPECT_EQ(*state::StoredTasks(store_, state::Family::kOffsets),
            std::vector<state::TaskId>{0});

  // A message that outlived the revoke of its partition is not processed.
  const std::string before = Exposition(pipeline);
  Feed(pipeline, 20, 30, /*partition=*/1);
  EXPECT_EQ(Exposition(pipeline), before);
  EXPECT_EQ(pipeline.NextOffset(usage1), std::nullopt);
}

// A consumer group member holds the tasks of its partitions only: a
// revoked partition's task leaves memory and the exposition after its last
// flush, and comes back from the store, exactly, when it is assigned again.
TEST_F(PipelineTest, AGroupMemberExposesOnlyTheTasksOfItsAssignedPartitions) {
  PipelineOptions options = Options();
  options.topics.push_back({"events", decode::Format::kJson, decode::Content::kEnvelope});
  const ingest::TopicPartition usage0{"usage", 0};
  const ingest::TopicPartition usage1{"usage", 1};
  const ingest::TopicPartition events1{"events", 1};
  const auto value = [](const Pipeline& pipeline, const std::string& series) {
    const auto samples = ParseExposition(Exposition(pipeline));
    const auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  };
  const std::string ingested_usage = "prodops_events_ingested_total{topic=\"usage\"}";
  const std::string open_tickets =
      "prodops_tickets_open{priority=\"urgent\",team=\"support\"}";
  {
    Pipeline pipeline(options, &store_, &clock_);
    ASSERT_TRUE(pipeline.Load(TaskLoading::kOnAssignment).ok());
    for (const auto& tp : {usage0, usage1, events1}) pipeline.SetAssigned(tp, true);
    Feed(pipeline, 0, 30);
    Feed(pipeline, 30, 50, /*partition=*/1);
    pipeline.ProcessMessage(
        {"events", 1, 0, {}, EventJson(UrgentTicket(TicketEvent::CREATED, kT0))});
    ASSERT_TRUE(pipeline.Flush().ok());
    EXPECT_EQ(value(pipeline, ingested_usage), 50);
    EXPECT_EQ(value(pipeline, open_tickets), 1);

    // Task 1 leaves with the last of its partitions.
    pipeline.SetAssigned(usage1, false);
    EXPECT_EQ(value(pipeline, ingested_usage), 50);
    pipeline.SetAssigned(events1, false);
    EXPECT_EQ(value(pipeline, ingested_usage), 30);
    EXPECT_EQ(value(pipeline, open_tickets), -1);
    EXPECT_EQ(pipeline.NextOffset(usage1), std::nullopt);
    EXPECT_EQ(pipeline.aggregates().Tasks(), std::vector<state::TaskId>{0});

    // And comes back from the store as it was.
    pipeline.SetAssigned(usage1, true);
    EXPECT_TRUE(pipeline.status().ok()) << pipeline.status();
    EXPECT_EQ(value(pipeline, ingested_usage), 50);
    EXPECT_EQ(value(pipeline, open_tickets), 1);
    EXPECT_EQ(pipeline.NextOffset(usage1), 50);
    EXPECT_EQ(pipeline.NextOffset(events1), 1);
    // Its ids are held again: a copy is a duplicate.
    pipeline.ProcessMessage({"usage", 1, 50, {}, UsageJson(45, kT0 - 60'000 * 15)});
    EXPECT_EQ(value(pipeline, ingested_usage), 50);
    EXPECT_EQ(value(pipeline, "prodops_events_duplicate_total{topic=\"usage\"}"), 1);
    ASSERT_TRUE(pipeline.Flush().ok());
  }
  // A new member holds nothing until its first assignment, then only its
  // tasks.
  Pipeline member(options, &store_, &clock_);
  ASSERT_TRUE(member.Load(TaskLoading::kOnAssignment).ok());
  EXPECT_EQ(value(member, ingested_usage), -1);
  member.SetAssigned(events1, true);
  EXPECT_EQ(value(member, ingested_usage), 20);
  EXPECT_EQ(value(member, open_tickets), 1);
  EXPECT_EQ(member.NextOffset(usage0), std::nullopt);
  EXPECT_EQ(member.NextOffset(usage1), 51);
}

}  // namespace
}  // namespace prodops::app
