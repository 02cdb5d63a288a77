// The pipeline on an in-memory store and a manual clock: offsets go out with
// the aggregates they account for, a failed write loses nothing, and the
// state reloads to exactly what was exposed.
#include "daemon/app/pipeline.h"

#include "absl/strings/str_cat.h"
#include "daemon/sim/encode.h"
#include "gtest/gtest.h"
#include "tests/support/exposition.h"
#include "tests/testing/memory_store.h"

namespace prodops::app {
namespace {

using prodops::v1::Event;
using testing::ParseExposition;

constexpr int64_t kT0 = 1'772'368'200'000;  // 2026-03-01T12:30:00Z

// A store whose next `failures` writes fail, then pass through; counts the
// writes that reached the inner store.
class FlakyStore final : public state::StateStore {
 public:
  absl::Status Write(const state::WriteSet& changes) override {
    if (failures > 0) {
      --failures;
      return absl::ResourceExhaustedError("disk full");
    }
    ++writes;
    last_write_families.clear();
    for (const auto& op : changes.ops()) last_write_families.insert(op.family);
    return inner.Write(changes);
  }
  absl::Status Scan(state::Family family, std::string_view prefix,
                    const std::function<absl::Status(std::string_view, std::string_view)>&
                        visit) const override {
    return inner.Scan(family, prefix, visit);
  }
  absl::StatusOr<std::string> Get(state::Family family, std::string_view key) const override {
    return inner.Get(family, key);
  }

  testing::MemoryStore inner;
  int failures = 0;
  int writes = 0;
  std::set<state::Family> last_write_families;
};

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
  EXPECT_TRUE(sim::EncodeEvent(event, decode::Format::kJson, decode::Content::kUsage, &json));
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
  std::string expected;
  {
    testing::MemoryStore reference_store;
    Pipeline reference(Options(), &reference_store, &clock_);
    ASSERT_TRUE(reference.Load().ok());
    Feed(reference, 0, 300);
    ASSERT_TRUE(reference.Flush().ok());
    expected = Exposition(reference);
  }
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
  EXPECT_EQ(samples.at("prodops_events_rejected_total{topic=\"usage\",reason=\"malformed\"}"), 1);
  EXPECT_EQ(
      samples.at("prodops_events_rejected_total{topic=\"usage\",reason=\"missing_event_id\"}"),
      1);
}

}  // namespace
}  // namespace prodops::app
