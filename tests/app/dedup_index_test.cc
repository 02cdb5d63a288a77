// De-duplication by event_id: within the horizon a repeated id is a
// duplicate, beyond it the id counts again, and neither a flush, a failed
// write nor the store's garbage collection changes an answer.
#include "daemon/app/dedup_index.h"

#include "gtest/gtest.h"
#include "tests/testing/flaky_store.h"

namespace prodops::app {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int64_t kT0 = 1'772'368'200'000;  // 2026-03-01T12:30:00Z

// Writes what the index collected, as the pipeline's flush does.
bool Flush(DedupIndex& index, state::StateStore& store, int64_t watermark_ms) {
  state::WriteSet changes;
  index.CollectChanges(watermark_ms, &changes);
  if (!store.Write(changes).ok()) return false;
  index.Written();
  return true;
}

TEST(DedupIndexTest, ARepeatedIdWithinTheHorizonIsADuplicate) {
  testing::MemoryStore store;
  DedupIndex index(24 * kHour, &store);
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0));
  EXPECT_TRUE(index.SeenBefore(0, "a", kT0, kT0)) << "still in memory";
  EXPECT_FALSE(index.SeenBefore(0, "b", kT0, kT0));
  ASSERT_TRUE(Flush(index, store, kT0));
  EXPECT_EQ(store.Contents(state::Family::kDedup).size(), 2u);
  EXPECT_EQ(index.PendingBytes(), 0u);
  EXPECT_TRUE(index.SeenBefore(0, "a", kT0, kT0 + 23 * kHour)) << "read from the store";
  EXPECT_TRUE(index.SeenBefore(0, "b", kT0 + kHour, kT0 + 24 * kHour))
      << "the first one occurred exactly at the cutoff";
}

TEST(DedupIndexTest, AnIdOlderThanTheHorizonCountsAgain) {
  testing::MemoryStore store;
  DedupIndex index(24 * kHour, &store);
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0));
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0 + 24 * kHour + 1))
      << "in memory, expired";
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0 + 24 * kHour + 1))
      << "an event older than the horizon is never a duplicate";
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0 + 2, kT0 + 24 * kHour + 1))
      << "within: remembered";
  EXPECT_TRUE(index.SeenBefore(0, "a", kT0 + 2, kT0 + 24 * kHour + 1));
  EXPECT_FALSE(index.SeenBefore(0, "b", kT0, kT0));
  ASSERT_TRUE(Flush(index, store, kT0));
  EXPECT_FALSE(index.SeenBefore(0, "b", kT0 + 1, kT0 + 24 * kHour + 1))
      << "in the store, expired";
}

TEST(DedupIndexTest, AFailedWriteForgetsNothing) {
  testing::FlakyStore store;
  DedupIndex index(24 * kHour, &store);
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0));
  store.fail = true;
  EXPECT_FALSE(Flush(index, store, kT0));
  EXPECT_TRUE(index.SeenBefore(0, "a", kT0, kT0))
      << "collected but not written: still known";
  EXPECT_FALSE(index.SeenBefore(0, "b", kT0, kT0));
  EXPECT_GT(index.PendingBytes(), 0u);
  store.fail = false;
  // The pipeline writes the failed WriteSet again with the next one; here
  // only the new changes go out, so "a" must come from the first attempt.
  state::WriteSet retry;
  index.CollectChanges(kT0, &retry);
  ASSERT_EQ(retry.ops().size(), 1u) << "only b is new";
  EXPECT_EQ(retry.ops()[0].key, state::TaskPrefix(0) + "b");
}

// The pipeline may accept events while a write runs: the ids remembered
// meanwhile are not part of it, and still wait after it succeeded.
TEST(DedupIndexTest, IdsRememberedDuringAWriteStillWaitAfterIt) {
  testing::MemoryStore store;
  DedupIndex index(24 * kHour, &store);
  EXPECT_FALSE(index.SeenBefore(0, "a", kT0, kT0));
  const size_t one_id = index.PendingBytes();
  ASSERT_GT(one_id, 0u);
  state::WriteSet changes;
  index.CollectChanges(kT0, &changes);
  EXPECT_EQ(index.PendingBytes(), one_id) << "in memory until written";
  EXPECT_FALSE(index.SeenBefore(0, "b", kT0, kT0));  // while it is written
  EXPECT_TRUE(index.SeenBefore(0, "a", kT0, kT0));
  ASSERT_TRUE(store.Write(changes).ok());
  index.Written();
  EXPECT_EQ(index.PendingBytes(), one_id) << "b waits for the next write";
  EXPECT_TRUE(index.SeenBefore(0, "b", kT0, kT0));
  ASSERT_TRUE(Flush(index, store, kT0));
  EXPECT_EQ(index.PendingBytes(), 0u);
  EXPECT_EQ(store.Contents(state::Family::kDedup).size(), 2u);
}

TEST(DedupIndexTest, AfterLoadANewIdCostsNoStoreRead) {
  testing::MemoryStore store;
  {
    DedupIndex before_restart(24 * kHour, &store);
    ASSERT_TRUE(before_restart.Load().ok());
    for (int i = 0; i < 1000; ++i) {
      EXPECT_FALSE(before_restart.SeenBefore(0, "old-" + std::to_string(i), kT0, kT0));
    }
    ASSERT_TRUE(Flush(before_restart, store, kT0));
  }
  DedupIndex index(24 * kHour, &store);
  ASSERT_TRUE(index.Load().ok());
  EXPECT_GT(index.FilterBytes(), 0u);
  for (int i = 0; i < 10'000; ++i) {
    EXPECT_FALSE(
        index.SeenBefore(0, "new-" + std::to_string(i), kT0 + kHour, kT0 + kHour));
  }
  EXPECT_LT(index.store_reads(), 100u) << "only the filter's false positives";
  const uint64_t reads = index.store_reads();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(index.SeenBefore(0, "old-" + std::to_string(i), kT0, kT0 + kHour))
        << "stored before the restart, found through the filter";
  }
  EXPECT_EQ(index.store_reads(), reads + 1000);

  DedupIndex unloaded(24 * kHour, &store);
  EXPECT_FALSE(unloaded.SeenBefore(0, "another", kT0, kT0));
  EXPECT_EQ(unloaded.store_reads(), 1u) << "without Load() every new id is looked up";
}

// A copy on another partition is a duplicate too, found in memory and in
// the store; each id is stored under the task that accepted it first.
TEST(DedupIndexTest, IdsAreStoredUnderTheirFirstTaskAndFoundFromAnyTask) {
  testing::MemoryStore store;
  {
    DedupIndex index(24 * kHour, &store);
    ASSERT_TRUE(index.Load().ok());
    EXPECT_FALSE(index.SeenBefore(2, "a", kT0, kT0));
    EXPECT_TRUE(index.SeenBefore(5, "a", kT0, kT0)) << "in memory, from another task";
    EXPECT_FALSE(index.SeenBefore(5, "b", kT0, kT0));
    ASSERT_TRUE(Flush(index, store, kT0));
  }
  std::vector<std::string> keys;
  for (const auto& [key, value] : store.Contents(state::Family::kDedup)) {
    keys.push_back(key);
  }
  EXPECT_EQ(keys, (std::vector<std::string>{state::TaskPrefix(2) + "a",
                                            state::TaskPrefix(5) + "b"}));
  DedupIndex restarted(24 * kHour, &store);
  ASSERT_TRUE(restarted.Load().ok());
  EXPECT_TRUE(restarted.SeenBefore(7, "a", kT0, kT0)) << "stored, from another task";
  EXPECT_TRUE(restarted.SeenBefore(2, "b", kT0, kT0)) << "stored, from another task";
  EXPECT_TRUE(restarted.SeenBefore(5, "b", kT0, kT0)) << "stored, from its own task";
  EXPECT_FALSE(restarted.SeenBefore(2, "c", kT0, kT0));
}

// The same sequence of (id, time) gives the same answers whether the store
// keeps expired entries or drops them as soon as allowed, and whether a
// filter spares the lookups, with a budget too small for the horizon or none.
TEST(DedupIndexTest, GarbageCollectionNeverChangesAnAnswer) {
  std::vector<std::pair<std::string, int64_t>> events;
  for (int i = 0; i < 400; ++i) {
    // Time moves 15 minutes per 10 events; ids repeat after 37 and 211 steps.
    const int64_t at = kT0 + (i / 10) * kHour / 4;
    events.emplace_back("id" + std::to_string(i % 37 == 0 ? i - 37 : i), at);
    if (i % 7 == 0) events.emplace_back("id" + std::to_string(std::max(0, i - 211)), at);
  }
  enum class Filter { kNone, kAmple, kOneSlice };
  uint64_t reads_with_one_slice = 0;
  auto run = [&](bool eager, Filter filter) {
    testing::MemoryStore store;
    store.expire_dedup_eagerly = eager;
    // A first-size filter takes 96 KiB: the small budget holds one slice.
    DedupIndex index(6 * kHour, &store,
                     filter == Filter::kOneSlice ? 100 << 10 : 64 << 20);
    if (filter != Filter::kNone) {
      EXPECT_TRUE(index.Load().ok());
    }
    std::vector<bool> answers;
    int64_t watermark = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      watermark = std::max(watermark, events[i].second);
      // Over three tasks: copies often arrive in another task than the first.
      answers.push_back(index.SeenBefore(static_cast<state::TaskId>(i % 3),
                                         events[i].first, events[i].second, watermark));
      if (i % 25 == 0) {
        EXPECT_TRUE(Flush(index, store, watermark));
      }
    }
    if (filter == Filter::kOneSlice) reads_with_one_slice = index.store_reads();
    return answers;
  };
  const std::vector<bool> kept = run(false, Filter::kNone);
  EXPECT_EQ(run(true, Filter::kNone), kept);
  EXPECT_EQ(run(false, Filter::kAmple), kept);
  EXPECT_EQ(run(true, Filter::kAmple), kept);
  EXPECT_EQ(run(false, Filter::kOneSlice), kept);
  EXPECT_EQ(run(true, Filter::kOneSlice), kept);
  EXPECT_GT(reads_with_one_slice, 100u)
      << "the budget dropped slices that lookups then read the store for";
  EXPECT_GT(std::count(kept.begin(), kept.end(), true), 10)
      << "the scenario has duplicates";
  EXPECT_GT(std::count(kept.begin(), kept.end(), false), 300);
}

}  // namespace
}  // namespace prodops::app
