#include "tests/testing/memory_store.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace prodops::testing {
namespace {

using state::Family;
using state::WriteSet;
using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs ScanAll(const MemoryStore& store, Family family, std::string_view prefix) {
  Pairs pairs;
  EXPECT_TRUE(store
                  .Scan(family, prefix,
                        [&pairs](std::string_view key, std::string_view value) {
                          pairs.emplace_back(key, value);
                          return absl::OkStatus();
                        })
                  .ok());
  return pairs;
}

TEST(MemoryStoreTest, ScanRangeVisitsTheHalfOpenRangeOnly) {
  MemoryStore store;
  WriteSet changes;
  for (std::string key : {"a", "b1", "b2", "c"}) changes.Put(Family::kTickets, key, "v");
  ASSERT_TRUE(store.Write(changes).ok());
  auto keys = [&](std::string_view begin, std::string_view end) {
    std::vector<std::string> visited;
    EXPECT_TRUE(store
                    .ScanRange(Family::kTickets, begin, end,
                               [&](std::string_view key, std::string_view) {
                                 visited.emplace_back(key);
                                 return absl::OkStatus();
                               })
                    .ok());
    return visited;
  };
  EXPECT_EQ(keys("b1", "c"), (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(keys("b", ""), (std::vector<std::string>{"b1", "b2", "c"}));
  EXPECT_EQ(keys("", "b"), (std::vector<std::string>{"a"}));
}

TEST(MemoryStoreTest, ScanVisitsPrefixInKeyOrderPerFamily) {
  MemoryStore store;
  WriteSet changes;
  changes.Put(Family::kCounters, "b2", "x");
  changes.Put(Family::kCounters, "a", "y");
  changes.Put(Family::kCounters, "b1", "z");
  changes.Put(Family::kBuckets, "b0", "other family");
  ASSERT_TRUE(store.Write(changes).ok());

  EXPECT_EQ(ScanAll(store, Family::kCounters, "b"), (Pairs{{"b1", "z"}, {"b2", "x"}}));
  EXPECT_EQ(ScanAll(store, Family::kCounters, ""),
            (Pairs{{"a", "y"}, {"b1", "z"}, {"b2", "x"}}));
  EXPECT_EQ(*store.Get(Family::kBuckets, "b0"), "other family");
  EXPECT_EQ(store.Get(Family::kCounters, "b0").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(MemoryStoreTest, ScanStopsAtTheFirstError) {
  MemoryStore store;
  WriteSet changes;
  changes.Put(Family::kMeta, "a", "");
  changes.Put(Family::kMeta, "b", "");
  ASSERT_TRUE(store.Write(changes).ok());
  int visits = 0;
  const absl::Status status =
      store.Scan(Family::kMeta, "", [&visits](std::string_view, std::string_view) {
        ++visits;
        return absl::DataLossError("stop");
      });
  EXPECT_EQ(status, absl::DataLossError("stop"));
  EXPECT_EQ(visits, 1);
}

TEST(MemoryStoreTest, DeleteAndDeleteRangeAreHalfOpen) {
  MemoryStore store;
  WriteSet changes;
  for (const char* key : {"a", "b", "c", "d"}) changes.Put(Family::kDedup, key, "v");
  changes.Delete(Family::kDedup, "a");
  changes.DeleteRange(Family::kDedup, "b", "d");
  ASSERT_TRUE(store.Write(changes).ok());
  EXPECT_EQ(ScanAll(store, Family::kDedup, ""), (Pairs{{"d", "v"}}));
}

TEST(MemoryStoreTest, FailedWriteAppliesNothing) {
  MemoryStore store;
  WriteSet changes;
  changes.Put(Family::kOffsets, "kept", "1");
  changes.DeleteRange(Family::kOffsets, "z", "a");  // inverted
  EXPECT_EQ(store.Write(changes).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store.Contents(Family::kOffsets).empty());
}

}  // namespace
}  // namespace prodops::testing
