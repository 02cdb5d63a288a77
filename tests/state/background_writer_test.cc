// The writer thread: writes run off the caller's thread, one at a time and
// in order, and a failed write hands its changes back.
#include "daemon/state/background_writer.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "tests/testing/flaky_store.h"
#include "tests/testing/memory_store.h"

namespace prodops::state {
namespace {

using testing::FlakyStore;
using testing::MemoryStore;

WriteSet PutOne(std::string key, std::string value) {
  WriteSet changes;
  changes.Put(Family::kCounters, std::move(key), std::move(value));
  return changes;
}

// A MemoryStore whose writes wait until the test opens the gate, and which
// remembers the thread that wrote.
class GatedStore final : public StateStore {
 public:
  absl::Status Write(const WriteSet& changes) override {
    std::unique_lock lock(mutex_);
    writer_ = std::this_thread::get_id();
    entered_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    return inner_.Write(changes);
  }
  absl::Status ScanRange(Family family, std::string_view begin, std::string_view end,
                         const Visitor& visit) const override {
    return inner_.ScanRange(family, begin, end, visit);
  }
  absl::StatusOr<std::string> Get(Family family, std::string_view key) const override {
    return inner_.Get(family, key);
  }

  void WaitUntilWriting() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return entered_; });
  }
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  std::thread::id writer() {
    std::lock_guard lock(mutex_);
    return writer_;
  }

 private:
  MemoryStore inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool entered_ = false;
  bool open_ = false;
  std::thread::id writer_;
};

TEST(BackgroundWriterTest, WritesOnItsOwnThreadWhileTheCallerReads) {
  GatedStore store;
  BackgroundWriter writer(&store);
  writer.Start(PutOne("k", "v"));
  EXPECT_TRUE(writer.InFlight());
  store.WaitUntilWriting();
  // The write is under way and cannot end before the gate opens: the
  // caller is free, and reads the store as it was.
  EXPECT_TRUE(absl::IsNotFound(store.Get(Family::kCounters, "k").status()));
  EXPECT_NE(store.writer(), std::this_thread::get_id());
  store.Open();
  const BackgroundWriter::Outcome outcome = writer.Wait();
  EXPECT_TRUE(outcome.status.ok()) << outcome.status;
  EXPECT_FALSE(writer.InFlight());
  EXPECT_GE(outcome.seconds, 0);
  EXPECT_EQ(store.Get(Family::kCounters, "k").value_or(""), "v");
}

TEST(BackgroundWriterTest, AFailedWriteHandsItsChangesBack) {
  FlakyStore store;
  store.fail = true;
  BackgroundWriter writer(&store);
  WriteSet changes = PutOne("a", "1");
  changes.Put(Family::kOffsets, "b", "2");
  writer.Start(std::move(changes));
  BackgroundWriter::Outcome outcome = writer.Wait();
  EXPECT_TRUE(absl::IsResourceExhausted(outcome.status)) << outcome.status;
  ASSERT_EQ(outcome.changes.ops().size(), 2u);
  EXPECT_EQ(outcome.changes.ops()[0].key, "a");
  EXPECT_EQ(outcome.changes.ops()[1].key, "b");
  EXPECT_TRUE(store.inner.Contents(Family::kCounters).empty());

  // Written again once the store works.
  store.fail = false;
  writer.Start(std::move(outcome.changes));
  EXPECT_TRUE(writer.Wait().status.ok());
  EXPECT_EQ(store.inner.Contents(Family::kOffsets).at("b"), "2");
}

TEST(BackgroundWriterTest, WritesReachTheStoreInTheOrderStarted) {
  FlakyStore store;
  BackgroundWriter writer(&store);
  for (int i = 0; i < 200; ++i) {
    writer.Start(PutOne("k", std::to_string(i)));
    // Reads while the write runs see one value or the next, never a gap.
    const absl::StatusOr<std::string> seen = store.Get(Family::kCounters, "k");
    if (i > 0) {
      ASSERT_TRUE(seen.ok());
      EXPECT_TRUE(*seen == std::to_string(i - 1) || *seen == std::to_string(i)) << *seen;
    }
    ASSERT_TRUE(writer.Wait().status.ok());
  }
  EXPECT_EQ(store.writes, 200);
  EXPECT_EQ(store.inner.Contents(Family::kCounters).at("k"), "199");
}

TEST(BackgroundWriterTest, DestroyingItFinishesTheWriteInFlight) {
  GatedStore store;
  std::thread opener;
  {
    BackgroundWriter writer(&store);
    writer.Start(PutOne("k", "v"));
    store.WaitUntilWriting();
    // The gate opens while the destructor runs; it must wait for it.
    opener = std::thread([&store] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      store.Open();
    });
  }
  opener.join();
  EXPECT_EQ(store.Get(Family::kCounters, "k").value_or(""), "v");
}

}  // namespace
}  // namespace prodops::state
