// The signal feed through the pipeline: a window's series go out when the
// watermark closes it, changed series again with the next revision when a
// late event comes, every series a last time once the allowed lateness has
// passed; nothing is sent twice across a restart, and nothing is lost when
// the output fails.
#include "daemon/app/signal_feed.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "daemon/app/pipeline.h"
#include "daemon/sim/encode.h"
#include "gtest/gtest.h"
#include "prodops/v1/signal_update.pb.h"
#include "tests/testing/flaky_store.h"

namespace prodops::app {
namespace {

using prodops::v1::Event;
using prodops::v1::SignalUpdate;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kNoon = 1'772'366'400'000;  // 2026-03-01T12:00:00Z

// Records what is sent; Drain fails while `fail` is set.
class RecordingOutbox final : public ingest::Outbox {
 public:
  void Send(std::string key, std::string payload, ingest::MessageHeaders) override {
    SignalUpdate update;
    EXPECT_TRUE(update.ParseFromString(payload));
    queued.emplace_back(std::move(key), std::move(update));
  }
  absl::Status Drain(const std::vector<std::pair<ingest::TopicPartition, int64_t>>&) override {
    if (fail) return absl::UnavailableError("output topic unreachable");
    delivered.insert(delivered.end(), queued.begin(), queued.end());
    queued.clear();
    return absl::OkStatus();
  }
  // The delivered updates of `key`, in order.
  std::vector<SignalUpdate> Of(const std::string& key) const {
    std::vector<SignalUpdate> out;
    for (const auto& [k, update] : delivered) {
      if (k == key) out.push_back(update);
    }
    return out;
  }
  std::vector<std::pair<std::string, SignalUpdate>> queued;
  std::vector<std::pair<std::string, SignalUpdate>> delivered;
  bool fail = false;
};

PipelineOptions Options() {
  PipelineOptions options;
  options.topics = {{"usage", decode::Format::kJson, decode::Content::kUsage}};
  options.windows.windows = {{"1h", 3'600'000, kMinute}};
  options.windows.allowed_lateness_ms = 30 * kMinute;
  options.time_mode = TimeMode::kEventTime;
  options.max_future_ms = 0;
  return options;
}

class SignalFeedTest : public ::testing::Test {
 protected:
  void Use(Pipeline& pipeline, const std::string& user, int64_t at_ms) {
    Event event;
    auto* usage = event.mutable_usage();
    usage->set_event_id(absl::StrCat(user, "@", at_ms));
    usage->mutable_occurred_at()->set_seconds(at_ms / 1000);
    usage->set_user_id(user);
    usage->set_feature("search");
    usage->set_action("view");
    std::string json;
    ASSERT_TRUE(
        sim::EncodeEvent(event, decode::Format::kJson, decode::Content::kUsage, &json));
    pipeline.ProcessMessage({"usage", 0, offset_++, {}, json});
  }

  const std::string kSearchUsers = SignalFeed::UpdateKey(
      "prodops_active_users{feature=\"search\",window=\"1h\"}", kNoon);
  const std::string kSearchAdoption = SignalFeed::UpdateKey(
      "prodops_feature_adoption_ratio{feature=\"search\",window=\"1h\"}", kNoon);
  ManualClock clock_{kNoon};
  testing::MemoryStore store_;
  RecordingOutbox out_;
  int64_t offset_ = 0;
};

TEST_F(SignalFeedTest, ClosedWindowThenRevisionThenFinalAcrossARestart) {
  {
    Pipeline pipeline(Options(), &store_, &clock_, nullptr, &out_);
    ASSERT_TRUE(pipeline.Load().ok());
    Use(pipeline, "u0", kNoon + 10 * kMinute);
    Use(pipeline, "u1", kNoon + 20 * kMinute);
    Use(pipeline, "u2", kNoon + 30 * kMinute);
    ASSERT_TRUE(pipeline.Flush().ok());
    EXPECT_TRUE(out_.delivered.empty()) << "12:00-13:00 is still open";

    // 13:05: the window closes; every series labeled window="1h" goes out.
    Use(pipeline, "u3", kNoon + 65 * kMinute);
    ASSERT_TRUE(pipeline.Flush().ok());
    ASSERT_EQ(out_.Of(kSearchUsers).size(), 1u);
    const SignalUpdate closed = out_.Of(kSearchUsers)[0];
    EXPECT_EQ(closed.signal(), "prodops_active_users");
    EXPECT_EQ(closed.labels().at("feature"), "search");
    EXPECT_FALSE(closed.labels().contains("window"));
    EXPECT_EQ(closed.window(), "1h");
    EXPECT_EQ(closed.window_start().seconds() * 1000, kNoon);
    EXPECT_EQ(closed.window_end().seconds() * 1000, kNoon + 60 * kMinute);
    EXPECT_EQ(closed.value(), 3);
    EXPECT_EQ(closed.revision(), 0u);
    EXPECT_FALSE(closed.is_final());
    ASSERT_EQ(out_.Of(kSearchAdoption).size(), 1u);
    EXPECT_EQ(out_.Of(kSearchAdoption)[0].value(), 1);
    for (const auto& [key, update] : out_.delivered) {
      EXPECT_EQ(update.window_start().seconds() * 1000, kNoon) << key;
    }

    // 12:50, late but within the lateness: only what changed goes out again.
    Use(pipeline, "u4", kNoon + 50 * kMinute);
    ASSERT_TRUE(pipeline.Flush().ok());
    ASSERT_EQ(out_.Of(kSearchUsers).size(), 2u);
    EXPECT_EQ(out_.Of(kSearchUsers)[1].value(), 4);
    EXPECT_EQ(out_.Of(kSearchUsers)[1].revision(), 1u);
    EXPECT_EQ(out_.Of(kSearchAdoption).size(), 1u) << "still 1: not sent again";
  }
  // A restart: nothing is sent again; the revisions go on from the state.
  const size_t before_restart = out_.delivered.size();
  Pipeline restarted(Options(), &store_, &clock_, nullptr, &out_);
  ASSERT_TRUE(restarted.Load().ok());
  ASSERT_TRUE(restarted.Flush().ok());
  EXPECT_EQ(out_.delivered.size(), before_restart);

  // 13:40 puts the watermark past 13:00 + 30 min: the last word, for every
  // series of the window, while the output first fails once.
  Use(restarted, "u5", kNoon + 100 * kMinute);
  out_.fail = true;
  EXPECT_FALSE(restarted.Flush().ok());
  out_.fail = false;
  clock_.Advance(1000);
  ASSERT_TRUE(restarted.Flush().ok());
  ASSERT_EQ(out_.Of(kSearchUsers).size(), 3u);
  EXPECT_EQ(out_.Of(kSearchUsers)[2].value(), 4);
  EXPECT_EQ(out_.Of(kSearchUsers)[2].revision(), 2u);
  EXPECT_TRUE(out_.Of(kSearchUsers)[2].is_final());
  ASSERT_EQ(out_.Of(kSearchAdoption).size(), 2u);
  EXPECT_EQ(out_.Of(kSearchAdoption)[1].revision(), 1u);
  EXPECT_TRUE(out_.Of(kSearchAdoption)[1].is_final());

  // Too late now: the final value stands.
  const size_t after_final = out_.Of(kSearchUsers).size();
  Use(restarted, "u6", kNoon + 55 * kMinute);
  clock_.Advance(1000);
  ASSERT_TRUE(restarted.Flush().ok());
  EXPECT_EQ(out_.Of(kSearchUsers).size(), after_final);
}

}  // namespace
}  // namespace prodops::app
