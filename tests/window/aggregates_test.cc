#include "daemon/window/aggregates.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/memory_store.h"

namespace prodops::window {
namespace {

using namespace std::string_literals;
using state::Family;
using state::WriteSet;
using testing::MemoryStore;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
// A time on a boundary of every bucket width used below.
constexpr int64_t kT = 10 * kHour;

const WindowSpec k5m{.name = "5m", .length_ms = 5 * kMinute, .bucket_ms = kMinute};
const WindowSpec k1h{.name = "1h", .length_ms = kHour, .bucket_ms = 10 * kMinute};

// Two bucket widths; retention 1h + 1m.
Aggregates::Options TestOptions() {
  return {.windows = {k5m, k1h}, .allowed_lateness_ms = kMinute};
}

std::map<SeriesKey, uint64_t> Counters(const Aggregates& aggregates) {
  std::map<SeriesKey, uint64_t> values;
  aggregates.ForEachCounter([&](const SeriesKey& s, uint64_t v) { values[s] = v; });
  return values;
}

std::map<SeriesKey, int64_t> Maxima(const Aggregates& aggregates) {
  std::map<SeriesKey, int64_t> values;
  aggregates.ForEachMax([&](const SeriesKey& s, int64_t v) { values[s] = v; });
  return values;
}

std::map<SeriesKey, uint64_t> Counts(const Aggregates& aggregates,
                                     const WindowSpec& window, int64_t as_of_ms) {
  std::map<SeriesKey, uint64_t> values;
  aggregates.ForEachWindowedCount(window, as_of_ms, [&](const SeriesKey& s, uint64_t v) {
    EXPECT_TRUE(values.emplace(s, v).second) << "visited twice: " << s;
  });
  return values;
}

std::map<SeriesKey, double> Distincts(const Aggregates& aggregates,
                                      const WindowSpec& window, int64_t as_of_ms) {
  std::map<SeriesKey, double> values;
  aggregates.ForEachWindowedDistinct(window, as_of_ms, [&](const SeriesKey& s, double v) {
    EXPECT_TRUE(values.emplace(s, v).second) << "visited twice: " << s;
  });
  return values;
}

WriteSet Collect(Aggregates& aggregates) {
  WriteSet changes;
  aggregates.CollectChanges(&changes);
  return changes;
}

// The store key layout documented in task_aggregates.h, spelled out
// independently. Every key starts with the task, 0 unless selected.
std::string BigEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}
const std::string kTask0 = BigEndian(0, 4);
std::string BucketPrefix(int64_t bucket_ms, int64_t start_ms, uint32_t task = 0) {
  return BigEndian(task, 4) + BigEndian(bucket_ms, 4) +
         BigEndian(static_cast<uint64_t>(start_ms) ^ (1ULL << 63), 8);
}
int64_t KeyWidth(const std::string& key) {
  int64_t width = 0;
  for (int i = 4; i < 8; ++i) width = (width << 8) | static_cast<uint8_t>(key[i]);
  return width;
}
int64_t KeyStart(const std::string& key) {
  uint64_t biased = 0;
  for (int i = 8; i < 16; ++i) biased = (biased << 8) | static_cast<uint8_t>(key[i]);
  return static_cast<int64_t>(biased ^ (1ULL << 63));
}

const SeriesKey kA = MakeSeriesKey("events_total", {"a"});
const SeriesKey kB = MakeSeriesKey("events_total", {"b"});
const SeriesKey kBinary = MakeSeriesKey("users", {"\xff\x00"s, ""});

TEST(AggregatesTest, RetentionIsLongestWindowPlusLateness) {
  EXPECT_EQ(Aggregates(TestOptions()).RetentionMs(), kHour + kMinute);
}

TEST(AggregatesDeathTest, InvalidOptionsAbort) {
  const WindowSpec ragged{.name = "90s", .length_ms = 90'000, .bucket_ms = kMinute};
  EXPECT_DEATH(Aggregates({.windows = {ragged}}),
               "invalid options: window '90s' has length 90000 ms and bucket 60000 ms");
  EXPECT_DEATH(Aggregates({.windows = {}}), "invalid options: no windows");
}

TEST(AggregatesTest, CountersAddUpAndMaximaKeepTheLargest) {
  Aggregates aggregates(TestOptions());
  aggregates.AddCounter(kA, 2);
  aggregates.AddCounter(kA, 3);
  aggregates.AddCounter(kB, 0);
  aggregates.UpdateMax(kA, 10);
  aggregates.UpdateMax(kA, 5);
  aggregates.UpdateMax(kB, -5);
  aggregates.UpdateMax(kB, -7);
  EXPECT_EQ(Counters(aggregates), (std::map<SeriesKey, uint64_t>{{kA, 5}, {kB, 0}}));
  EXPECT_EQ(Maxima(aggregates), (std::map<SeriesKey, int64_t>{{kA, 10}, {kB, -5}}));
}

// Events around the buckets of the 5m window as of kT, which covers the
// buckets [kT - 4m, kT] (the one holding kT is the current one).
Aggregates WithBoundaryCounts() {
  Aggregates aggregates(TestOptions());
  const int64_t as_of = kT + kMinute - 1;
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT - 4 * kMinute - 1, 1, as_of));
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT - 4 * kMinute, 10, as_of));
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT, 100, as_of));
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT + kMinute - 1, 1000, as_of));
  EXPECT_TRUE(aggregates.AddWindowedCount(kB, kT - 30 * kMinute, 7, as_of));
  return aggregates;
}

TEST(AggregatesTest, WindowedCountsMergeTheTrailingBuckets) {
  const Aggregates aggregates = WithBoundaryCounts();
  using Values = std::map<SeriesKey, uint64_t>;
  EXPECT_EQ(Counts(aggregates, k5m, kT), (Values{{kA, 1110}}));
  EXPECT_EQ(Counts(aggregates, k5m, kT - 1), (Values{{kA, 11}}));
  EXPECT_EQ(Counts(aggregates, k5m, kT + kMinute), (Values{{kA, 1100}}));
  EXPECT_EQ(Counts(aggregates, k5m, kT + 5 * kMinute), (Values{}));
  // 10-minute buckets: [kT - 50m, kT] as of kT, [kT - 60m, kT - 10m] just before.
  EXPECT_EQ(Counts(aggregates, k1h, kT), (Values{{kA, 1111}, {kB, 7}}));
  EXPECT_EQ(Counts(aggregates, k1h, kT - 1), (Values{{kA, 11}, {kB, 7}}));
  EXPECT_EQ(Counts(aggregates, k1h, kT + 50 * kMinute), (Values{{kA, 1100}}));
}

TEST(AggregatesTest, WindowedDistinctsMergeTheTrailingBuckets) {
  Aggregates aggregates(TestOptions());
  const int64_t as_of = kT;
  for (const char* user : {"u1", "u2"}) {
    ASSERT_TRUE(
        aggregates.AddWindowedDistinct(kA, kT - 4 * kMinute, HashItem(user), as_of));
  }
  for (const char* user : {"u2", "u3"}) {
    ASSERT_TRUE(aggregates.AddWindowedDistinct(kA, kT, HashItem(user), as_of));
  }
  // Dense sketches in two buckets: ids [0, 1500) and [1000, 3000).
  HyperLogLog early, late, both;
  for (int id = 0; id < 3000; ++id) {
    const uint64_t hash = HashItem(std::to_string(id));
    both.Add(hash);
    if (id < 1500) {
      early.Add(hash);
      ASSERT_TRUE(aggregates.AddWindowedDistinct(kB, kT - kMinute, hash, as_of));
    }
    if (id >= 1000) {
      late.Add(hash);
      ASSERT_TRUE(aggregates.AddWindowedDistinct(kB, kT, hash, as_of));
    }
  }
  ASSERT_FALSE(early.IsExact());
  EXPECT_NEAR(both.Estimate(), 3000, 0.02 * 3000);

  using Values = std::map<SeriesKey, double>;
  EXPECT_EQ(Distincts(aggregates, k5m, kT), (Values{{kA, 3}, {kB, both.Estimate()}}));
  EXPECT_EQ(Distincts(aggregates, k5m, kT - 1),
            (Values{{kA, 2}, {kB, early.Estimate()}}));
  EXPECT_EQ(Distincts(aggregates, k1h, kT), (Values{{kA, 3}, {kB, both.Estimate()}}));
  EXPECT_EQ(Distincts(aggregates, k5m, kT + 4 * kMinute),
            (Values{{kA, 2}, {kB, late.Estimate()}}));
}

TEST(AggregatesTest, EventsOutOfRetentionAreRejectedAndChangeNothing) {
  Aggregates aggregates(TestOptions());
  const int64_t cutoff = kT - aggregates.RetentionMs();
  EXPECT_FALSE(aggregates.AddWindowedCount(kA, cutoff, 1, kT));
  EXPECT_FALSE(aggregates.AddWindowedDistinct(kA, cutoff, 1, kT));
  EXPECT_TRUE(Collect(aggregates).empty());
  EXPECT_EQ(aggregates.PendingBytes(), 0);

  EXPECT_TRUE(aggregates.AddWindowedCount(kA, cutoff + 1, 1, kT));
  EXPECT_EQ(Counts(aggregates, k1h, cutoff + 1),
            (std::map<SeriesKey, uint64_t>{{kA, 1}}));

  // Once expired, the cutoff holds even for a pipeline time going backwards.
  aggregates.ExpireBefore(kT + 10 * kMinute);
  EXPECT_FALSE(aggregates.AddWindowedCount(kA, cutoff + 10 * kMinute, 1, kT));
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, cutoff + 10 * kMinute + 1, 1, kT));
}

// Retention is per bucket width: 1-minute buckets serve only the 5m window
// (kept 5m + 1m of lateness), 10-minute ones the 1h window (1h + 1m).
TEST(AggregatesTest, AnEventTooOldForTheShortWindowUpdatesOnlyTheLongOnesBuckets) {
  Aggregates aggregates(TestOptions());
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT - 6 * kMinute + 1, 1, kT));
  EXPECT_TRUE(aggregates.AddWindowedCount(kB, kT - 6 * kMinute, 1, kT));
  EXPECT_TRUE(aggregates.AddWindowedDistinct(kB, kT - 30 * kMinute, 1, kT));
  EXPECT_TRUE(aggregates.InRetention(kT - 30 * kMinute, kT));
  std::map<int64_t, int> keys_by_width;
  const WriteSet changes = Collect(aggregates);
  for (const WriteSet::Op& op : changes.ops()) ++keys_by_width[KeyWidth(op.key)];
  EXPECT_EQ(keys_by_width, (std::map<int64_t, int>{{kMinute, 1}, {10 * kMinute, 3}}));
  using Values = std::map<SeriesKey, uint64_t>;
  EXPECT_EQ(Counts(aggregates, k5m, kT - 2 * kMinute), (Values{{kA, 1}}));
  EXPECT_EQ(Counts(aggregates, k1h, kT), (Values{{kA, 1}, {kB, 1}}));
  EXPECT_EQ(Distincts(aggregates, k1h, kT), (std::map<SeriesKey, double>{{kB, 1}}));
}

TEST(AggregatesTest, HeldAfterFollowsTheLatestExpiry) {
  Aggregates aggregates(TestOptions());
  EXPECT_EQ(aggregates.RetentionMs(kMinute), 6 * kMinute);
  EXPECT_EQ(aggregates.RetentionMs(10 * kMinute), kHour + kMinute);
  EXPECT_EQ(aggregates.RetentionMs(7 * kMinute), 0);
  // No bucket, nothing expired: the retention as of the time asked.
  EXPECT_EQ(aggregates.HeldAfterMs(kMinute, kT), kT - 6 * kMinute);
  // Nothing expired yet: back to the oldest bucket.
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT - 4 * kMinute, 1, kT));
  EXPECT_EQ(aggregates.HeldAfterMs(kMinute, kT + kHour), kT - 10 * kMinute);
  // Then as of the latest expiry, however far the watermark has moved since.
  aggregates.ExpireBefore(kT);
  EXPECT_EQ(aggregates.HeldAfterMs(kMinute, kT + kHour), kT - 6 * kMinute);
  EXPECT_EQ(aggregates.HeldAfterMs(10 * kMinute, kT + kHour), kT - kHour - kMinute);
  EXPECT_EQ(aggregates.HeldAfterMs(kMinute, kT - kMinute), kT - 7 * kMinute);
}

TEST(AggregatesTest, CollectChangesWritesAbsoluteValuesInTheDocumentedLayout) {
  Aggregates aggregates(TestOptions());
  aggregates.AddCounter(kA, 5);
  aggregates.AddCounter(kA, 2);
  EXPECT_EQ(aggregates.PendingBytes(), 4 + 1 + kA.size() + 8);
  WriteSet changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 1);
  EXPECT_EQ(changes.ops()[0].kind, WriteSet::OpKind::kPut);
  EXPECT_EQ(changes.ops()[0].family, Family::kCounters);
  EXPECT_EQ(changes.ops()[0].key, kTask0 + "c" + kA);
  EXPECT_EQ(changes.ops()[0].value, "\0\0\0\0\0\0\0\x07"s);
  EXPECT_EQ(changes.bytes(), 4 + 1 + kA.size() + 8);

  aggregates.UpdateMax(kB, -1);
  changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 1);
  EXPECT_EQ(changes.ops()[0].key, kTask0 + "m" + kB);
  EXPECT_EQ(changes.ops()[0].value, std::string(8, '\xff'));

  ASSERT_TRUE(aggregates.AddWindowedCount(kA, -1, 3, 0));
  changes = Collect(aggregates);
  std::map<std::string, std::string> puts;
  for (const WriteSet::Op& op : changes.ops()) {
    EXPECT_EQ(op.kind, WriteSet::OpKind::kPut);
    EXPECT_EQ(op.family, Family::kBuckets);
    puts[op.key] = op.value;
  }
  const std::string three = "\0\0\0\0\0\0\0\x03"s;
  EXPECT_EQ(
      puts,
      (std::map<std::string, std::string>{
          {kTask0 + "\x00\x00\xea\x60\x7f\xff\xff\xff\xff\xff\x15\xa0n"s + kA, three},
          {kTask0 + "\x00\x09\x27\xc0\x7f\xff\xff\xff\xff\xf6\xd8\x40n"s + kA, three}}));
}

TEST(AggregatesTest, CollectChangesEmitsOnlyChangedAggregates) {
  Aggregates aggregates(TestOptions());
  aggregates.AddCounter(kA, 1);
  aggregates.UpdateMax(kA, 10);
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT, 1, kT));
  ASSERT_TRUE(aggregates.AddWindowedDistinct(kA, kT, 1, kT));
  EXPECT_EQ(Collect(aggregates).ops().size(), 6);  // 2 + 2 widths x 2 kinds
  EXPECT_EQ(aggregates.PendingBytes(), 0);
  EXPECT_TRUE(Collect(aggregates).empty());

  aggregates.UpdateMax(kA, 9);  // not a new maximum
  EXPECT_TRUE(Collect(aggregates).empty());

  aggregates.AddCounter(kB, 1);
  const WriteSet changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 1);
  EXPECT_EQ(changes.ops()[0].key, kTask0 + "c" + kB);
}

// Counters, maxima and windowed aggregates of every kind, with binary keys
// and negative values, spread over two hours up to kT.
Aggregates Populated() {
  Aggregates aggregates(TestOptions());
  aggregates.AddCounter(kA, 42);
  aggregates.AddCounter(kBinary, 7);
  aggregates.UpdateMax(kA, kT);
  aggregates.UpdateMax(kBinary, -3);
  for (int64_t t = kT - 2 * kHour; t <= kT; t += kMinute) {
    EXPECT_TRUE(aggregates.AddWindowedCount(kA, t, 1, t));
    EXPECT_TRUE(aggregates.AddWindowedCount(kBinary, t + 1, 2, t + 1));
    EXPECT_TRUE(aggregates.AddWindowedDistinct(kA, t, HashItem(std::to_string(t)), t));
  }
  for (int id = 0; id < 5000; ++id) {
    EXPECT_TRUE(aggregates.AddWindowedDistinct(kBinary, kT - id,
                                               HashItem(std::to_string(id)), kT));
  }
  return aggregates;
}

void ExpectSameValues(const Aggregates& expected, const Aggregates& actual) {
  EXPECT_EQ(Counters(expected), Counters(actual));
  EXPECT_EQ(Maxima(expected), Maxima(actual));
  for (const WindowSpec& window : {k5m, k1h}) {
    for (int64_t as_of : {kT - kHour, kT - 1, kT, kT + 30 * kMinute}) {
      EXPECT_EQ(Counts(expected, window, as_of), Counts(actual, window, as_of))
          << window.name << " as of " << as_of;
      EXPECT_EQ(Distincts(expected, window, as_of), Distincts(actual, window, as_of))
          << window.name << " as of " << as_of;
    }
  }
}

TEST(AggregatesTest, LoadRestoresWhatCollectChangesWrote) {
  Aggregates original = Populated();
  MemoryStore store;
  ASSERT_TRUE(store.Write(Collect(original)).ok());

  Aggregates loaded(TestOptions());
  ASSERT_TRUE(loaded.Load(store).ok());
  ExpectSameValues(original, loaded);
  // Spot-check that the comparison compares something.
  EXPECT_EQ(Counts(loaded, k5m, kT),
            (std::map<SeriesKey, uint64_t>{{kA, 5}, {kBinary, 10}}));
  EXPECT_EQ(Counters(loaded).at(kA), 42);
  EXPECT_EQ(Maxima(loaded).at(kBinary), -3);
  EXPECT_TRUE(Collect(loaded).empty());
}

// Number of buckets in the store, by width.
std::map<int64_t, size_t> StoredBuckets(const MemoryStore& store, int64_t* oldest_start) {
  std::map<int64_t, std::set<int64_t>> starts;
  for (const auto& [key, value] : store.Contents(Family::kBuckets)) {
    starts[KeyWidth(key)].insert(KeyStart(key));
    *oldest_start = std::min(*oldest_start, KeyStart(key));
  }
  std::map<int64_t, size_t> counts;
  for (const auto& [width, of_width] : starts) counts[width] = of_width.size();
  return counts;
}

TEST(AggregatesTest, ExpireBeforeDeletesExpiredBucketsFromTheStore) {
  Aggregates aggregates = Populated();
  MemoryStore store;
  ASSERT_TRUE(store.Write(Collect(aggregates)).ok());
  int64_t oldest_start = kT;
  EXPECT_EQ(StoredBuckets(store, &oldest_start),
            (std::map<int64_t, size_t>{{kMinute, 121}, {10 * kMinute, 13}}));
  EXPECT_EQ(oldest_start, kT - 2 * kHour);
  const std::map<SeriesKey, uint64_t> counts_5m = Counts(aggregates, k5m, kT);
  const std::map<SeriesKey, uint64_t> counts_1h = Counts(aggregates, k1h, kT);
  EXPECT_EQ(counts_1h, (std::map<SeriesKey, uint64_t>{{kA, 51}, {kBinary, 102}}));

  // Cutoffs kT - 6m for the 1m buckets (5m window + 1m) and kT - 61m for the
  // 10m ones (1h + 1m): 1m buckets from kT - 6m and 10m buckets from kT - 70m
  // end after them.
  aggregates.ExpireBefore(kT);
  const WriteSet changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 2);
  for (const WriteSet::Op& op : changes.ops()) {
    EXPECT_EQ(op.kind, WriteSet::OpKind::kDeleteRange);
    EXPECT_EQ(op.family, Family::kBuckets);
  }
  EXPECT_EQ(changes.ops()[0].key, kTask0 + BigEndian(kMinute, 4));
  EXPECT_EQ(changes.ops()[0].value, BucketPrefix(kMinute, kT - 6 * kMinute));
  EXPECT_EQ(changes.ops()[1].key, kTask0 + BigEndian(10 * kMinute, 4));
  EXPECT_EQ(changes.ops()[1].value, BucketPrefix(10 * kMinute, kT - 70 * kMinute));
  ASSERT_TRUE(store.Write(changes).ok());

  oldest_start = kT;
  EXPECT_EQ(StoredBuckets(store, &oldest_start),
            (std::map<int64_t, size_t>{{kMinute, 7}, {10 * kMinute, 8}}));
  EXPECT_EQ(oldest_start, kT - 70 * kMinute);
  EXPECT_EQ(Counts(aggregates, k5m, kT), counts_5m);
  EXPECT_EQ(Counts(aggregates, k1h, kT), counts_1h);

  Aggregates loaded(TestOptions());
  ASSERT_TRUE(loaded.Load(store).ok());
  EXPECT_EQ(Counts(loaded, k1h, kT), counts_1h);

  // No bucket boundary crossed: nothing more to delete.
  aggregates.ExpireBefore(kT);
  aggregates.ExpireBefore(kT + kMinute / 2);
  EXPECT_TRUE(Collect(aggregates).empty());
  aggregates.ExpireBefore(kT + kMinute);
  EXPECT_EQ(Collect(aggregates).ops().size(), 2);
}

TEST(AggregatesTest, ExpireBeforeFreesMemory) {
  Aggregates aggregates(TestOptions());
  const size_t empty_bytes = aggregates.MemoryBytes();
  for (int id = 0; id < 2000; ++id) {
    ASSERT_TRUE(aggregates.AddWindowedDistinct(kA, kT, HashItem(std::to_string(id)), kT));
  }
  // A dense sketch per bucket width.
  EXPECT_GE(aggregates.MemoryBytes(), empty_bytes + 2 * HyperLogLog::kRegisters);
  aggregates.ExpireBefore(kT + 2 * kHour);
  EXPECT_TRUE(Distincts(aggregates, k1h, kT).empty());
  EXPECT_LT(aggregates.MemoryBytes(), empty_bytes + HyperLogLog::kRegisters);
}

TEST(AggregatesTest, BucketsOfAnUnusedWidthAreDeletedAfterLoad) {
  MemoryStore store;
  Aggregates old_config(
      {.windows = {{.name = "30s", .length_ms = 30'000, .bucket_ms = 30'000}}});
  old_config.AddCounter(kA, 1);
  ASSERT_TRUE(old_config.AddWindowedCount(kA, kT, 1, kT));
  ASSERT_TRUE(old_config.AddWindowedDistinct(kA, kT, 1, kT));
  ASSERT_TRUE(store.Write(Collect(old_config)).ok());
  ASSERT_EQ(store.Contents(Family::kBuckets).size(), 2);

  Aggregates aggregates(TestOptions());
  ASSERT_TRUE(aggregates.Load(store).ok());
  EXPECT_TRUE(Counts(aggregates, k5m, kT).empty());
  ASSERT_TRUE(store.Write(Collect(aggregates)).ok());
  EXPECT_TRUE(store.Contents(Family::kBuckets).empty());
  EXPECT_EQ(Counters(aggregates), (std::map<SeriesKey, uint64_t>{{kA, 1}}));
}

TEST(AggregatesTest, LoadRejectsCorruptStateAndKeepsNothing) {
  MemoryStore store;
  WriteSet good;
  good.Put(Family::kCounters, kTask0 + "c" + kA, std::string(8, '\0'));
  ASSERT_TRUE(store.Write(good).ok());

  WriteSet bad_counter;
  bad_counter.Put(Family::kCounters, kTask0 + "cx", "abc");
  MemoryStore with_bad_counter = store;
  ASSERT_TRUE(with_bad_counter.Write(bad_counter).ok());
  Aggregates aggregates(TestOptions());
  EXPECT_EQ(aggregates.Load(with_bad_counter),
            absl::DataLossError("window state: value of key 'cx' has 3 bytes, want 8"));
  EXPECT_TRUE(Counters(aggregates).empty());

  WriteSet bad_sketch;
  bad_sketch.Put(Family::kBuckets, BucketPrefix(kMinute, 0) + "d" + kA, "\x01\x07");
  MemoryStore with_bad_sketch = store;
  ASSERT_TRUE(with_bad_sketch.Write(bad_sketch).ok());
  EXPECT_EQ(aggregates.Load(with_bad_sketch).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(Counters(aggregates).empty());

  WriteSet short_key;
  short_key.Put(Family::kBuckets, kTask0 + "\x00\x00\xea\x60"s, "");
  MemoryStore with_short_key = store;
  ASSERT_TRUE(with_short_key.Write(short_key).ok());
  EXPECT_EQ(aggregates.Load(with_short_key).code(), absl::StatusCode::kDataLoss);
}


TEST(AggregatesTest, ForEachBucketCountVisitsEachBucketOfTheWidthInTheRange) {
  Aggregates aggregates(TestOptions());
  const SeriesKey a = MakeSeriesKey("m", {"a"});
  const SeriesKey b = MakeSeriesKey("m", {"b"});
  ASSERT_TRUE(aggregates.AddWindowedCount(a, kT + 10 * kMinute, 2, kT + 40 * kMinute));
  ASSERT_TRUE(aggregates.AddWindowedCount(a, kT + 19 * kMinute, 1, kT + 40 * kMinute));
  ASSERT_TRUE(aggregates.AddWindowedCount(b, kT + 20 * kMinute, 5, kT + 40 * kMinute));
  ASSERT_TRUE(aggregates.AddWindowedCount(a, kT + 30 * kMinute, 7, kT + 40 * kMinute));
  std::vector<std::tuple<int64_t, SeriesKey, uint64_t>> seen;
  // The 10-minute buckets starting at kT+10m and kT+20m; kT+30m is outside.
  aggregates.ForEachBucketCount(
      10 * kMinute, BucketRange{kT + 10 * kMinute, kT + 20 * kMinute},
      [&](int64_t start, const SeriesKey& series, uint64_t count) {
        seen.emplace_back(start, series, count);
      });
  const std::vector<std::tuple<int64_t, SeriesKey, uint64_t>> expected = {
      {kT + 10 * kMinute, a, 3}, {kT + 20 * kMinute, b, 5}};
  EXPECT_EQ(seen, expected);
  // A width no window uses visits nothing.
  int visits = 0;
  aggregates.ForEachBucketCount(7 * kMinute, BucketRange{kT, kT + kHour},
                                [&](int64_t, const SeriesKey&, uint64_t) { ++visits; });
  EXPECT_EQ(visits, 0);
}

// --- Bucket cache: a byte budget over the buckets, backed by the store ---

// A store whose scans can be made to fail, as a damaged disk would.
class FlakyStore final : public state::StateStore {
 public:
  absl::Status Write(const WriteSet& changes) override { return store_.Write(changes); }
  absl::Status ScanRange(Family family, std::string_view begin, std::string_view end,
                         const Visitor& visit) const override {
    if (fail_scans) return absl::DataLossError("injected read failure");
    return store_.ScanRange(family, begin, end, visit);
  }
  absl::StatusOr<std::string> Get(Family family, std::string_view key) const override {
    return store_.Get(family, key);
  }
  const MemoryStore& contents() const { return store_; }
  bool fail_scans = false;

 private:
  MemoryStore store_;
};

// Collects, writes and reports the write, as the pipeline's flush does.
void Flush(Aggregates& aggregates, int64_t as_of_ms, state::StateStore& store) {
  aggregates.ExpireBefore(as_of_ms);
  ASSERT_TRUE(store.Write(Collect(aggregates)).ok());
  aggregates.Written();
}

Aggregates::Options WithBudget(size_t bytes) {
  Aggregates::Options options = TestOptions();
  options.bucket_cache_bytes = bytes;
  return options;
}

std::vector<std::tuple<int64_t, SeriesKey, uint64_t>> BucketCounts(
    const Aggregates& aggregates, int64_t bucket_ms, const BucketRange& range) {
  std::vector<std::tuple<int64_t, SeriesKey, uint64_t>> seen;
  aggregates.ForEachBucketCount(bucket_ms, range,
                                [&](int64_t start, const SeriesKey& s, uint64_t v) {
                                  seen.emplace_back(start, s, v);
                                });
  std::sort(seen.begin(), seen.end());
  return seen;
}

// Every reader of `a` and `b` as of `as_of_ms`, for both windows.
void ExpectSameReads(const Aggregates& a, const Aggregates& b, int64_t as_of_ms) {
  for (const WindowSpec& window : {k5m, k1h}) {
    EXPECT_EQ(Counts(a, window, as_of_ms), Counts(b, window, as_of_ms))
        << window.name << " as of " << as_of_ms;
    EXPECT_EQ(Distincts(a, window, as_of_ms), Distincts(b, window, as_of_ms))
        << window.name << " as of " << as_of_ms;
    EXPECT_EQ(a.AnyBucketInWindow(window, as_of_ms),
              b.AnyBucketInWindow(window, as_of_ms));
  }
  const BucketRange last_hour{as_of_ms - kHour, as_of_ms};
  EXPECT_EQ(BucketCounts(a, 10 * kMinute, last_hour),
            BucketCounts(b, 10 * kMinute, last_hour));
}

TEST(BucketCacheTest, ATinyBudgetReadsExactlyLikeKeepingEverything) {
  MemoryStore bounded_store;
  MemoryStore unbounded_store;
  Aggregates bounded(WithBudget(1));
  Aggregates unbounded(WithBudget(0));
  ASSERT_TRUE(bounded.Load(bounded_store).ok());
  ASSERT_TRUE(unbounded.Load(unbounded_store).ok());
  // Counts checked against a plain list of the accepted events.
  std::vector<std::tuple<SeriesKey, int64_t, uint64_t>> accepted;
  std::mt19937_64 random(42);
  int64_t as_of = kT;
  for (int step = 1; step <= 1500; ++step) {
    as_of += 7'000 + static_cast<int64_t>(random() % 6'000);
    for (int e = 0; e < 3; ++e) {
      // Mostly on time; some late by up to 70 minutes (beyond retention).
      const int64_t lateness = random() % 4 == 0
                                   ? static_cast<int64_t>(random() % (70 * kMinute))
                                   : static_cast<int64_t>(random() % 5'000);
      const int64_t event_time = as_of - lateness;
      const SeriesKey series = MakeSeriesKey("m", {std::to_string(random() % 5)});
      const uint64_t delta = 1 + random() % 3;
      const bool in_bounded = bounded.AddWindowedCount(series, event_time, delta, as_of);
      ASSERT_EQ(in_bounded, unbounded.AddWindowedCount(series, event_time, delta, as_of));
      if (in_bounded) accepted.emplace_back(series, event_time, delta);
      const uint64_t user = HashItem(std::to_string(random() % 3'000));
      ASSERT_EQ(bounded.AddWindowedDistinct(series, event_time, user, as_of),
                unbounded.AddWindowedDistinct(series, event_time, user, as_of));
    }
    if (step % 5 == 0) {
      Flush(bounded, as_of, bounded_store);
      Flush(unbounded, as_of, unbounded_store);
    }
    if (step % 7 == 0) {
      ExpectSameReads(bounded, unbounded, as_of);
      // An earlier time, as the feed asks when it closes a window.
      ExpectSameReads(bounded, unbounded, as_of - 10 * kMinute);
      std::map<SeriesKey, uint64_t> expected;
      const BucketRange range = TrailingBuckets(as_of, k1h);
      for (const auto& [series, time, delta] : accepted) {
        if (range.Contains(BucketStart(time, k1h.bucket_ms))) expected[series] += delta;
      }
      ASSERT_EQ(Counts(bounded, k1h, as_of), expected) << "step " << step;
    }
  }
  const Aggregates::CacheStats stats = bounded.cache_stats();
  EXPECT_GT(stats.evictions, 100u);
  EXPECT_GT(stats.store_reads, 0u);
  EXPECT_EQ(stats.read_errors, 0u);
  EXPECT_EQ(unbounded.cache_stats().evictions, 0u);
  // Only the newest bucket of each width stays: a small part of everything.
  EXPECT_LT(stats.bucket_bytes * 4, unbounded.cache_stats().bucket_bytes);
  // The stores hold the same buckets.
  EXPECT_EQ(bounded_store.Contents(Family::kBuckets),
            unbounded_store.Contents(Family::kBuckets));
}

TEST(BucketCacheTest, LoadKeepsWithinTheBudget) {
  MemoryStore store;
  Aggregates full(TestOptions());
  ASSERT_TRUE(full.Load(store).ok());
  const int64_t as_of = kT + kHour;
  for (int64_t t = kT; t < as_of; t += 20'000) {
    for (int user = 0; user < 40; ++user) {
      ASSERT_TRUE(full.AddWindowedCount(kA, t, 1, as_of));
      ASSERT_TRUE(
          full.AddWindowedDistinct(kB, t, HashItem(absl::StrCat(t, "/", user)), as_of));
    }
  }
  Flush(full, as_of, store);
  const size_t everything = full.cache_stats().bucket_bytes;

  constexpr size_t kBudget = 24 << 10;
  ASSERT_GT(everything, 4 * kBudget);
  Aggregates bounded(WithBudget(kBudget));
  ASSERT_TRUE(bounded.Load(store).ok());
  EXPECT_LE(bounded.cache_stats().bucket_bytes, kBudget);
  EXPECT_GT(bounded.cache_stats().evictions, 0u);
  ExpectSameReads(bounded, full, as_of);
  ExpectSameReads(bounded, full, as_of - 10 * kMinute);
}

// kA: 5 at kT - 30m, in a 10-minute bucket that the flush drops (the
// budget is 1 byte), and 1 at kT, in the newest bucket, which stays.
void WithADroppedBucket(Aggregates& aggregates, state::StateStore& store) {
  ASSERT_TRUE(aggregates.Load(store).ok());
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT - 30 * kMinute, 5, kT));
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT, 1, kT));
  Flush(aggregates, kT, store);
}

TEST(BucketCacheTest, ALateEventForADroppedBucketAddsToItsStoredValue) {
  MemoryStore store;
  Aggregates aggregates(WithBudget(1));
  ASSERT_NO_FATAL_FAILURE(WithADroppedBucket(aggregates, store));
  ASSERT_EQ(aggregates.cache_stats().evictions, 1u);  // kT - 30m, 10m wide only

  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT - 30 * kMinute, 2, kT));
  EXPECT_EQ(aggregates.cache_stats().store_reads, 1u);
  Flush(aggregates, kT, store);
  const std::string key = BucketPrefix(10 * kMinute, kT - 30 * kMinute) + "n" + kA;
  EXPECT_EQ(store.Contents(Family::kBuckets).at(key), BigEndian(7, 8));
  EXPECT_EQ(Counts(aggregates, k1h, kT), (std::map<SeriesKey, uint64_t>{{kA, 8}}));
}

TEST(BucketCacheTest, AFailedReadBackIsCountedRefusesTheUpdateAndIsNotCached) {
  FlakyStore store;
  Aggregates aggregates(WithBudget(1));
  ASSERT_NO_FATAL_FAILURE(WithADroppedBucket(aggregates, store));

  store.fail_scans = true;
  EXPECT_FALSE(aggregates.AddWindowedCount(kA, kT - 30 * kMinute, 2, kT));
  // The dropped bucket reads as empty while it cannot be read.
  EXPECT_EQ(Counts(aggregates, k1h, kT), (std::map<SeriesKey, uint64_t>{{kA, 1}}));
  EXPECT_GE(aggregates.cache_stats().read_errors, 2u);

  store.fail_scans = false;
  EXPECT_EQ(Counts(aggregates, k1h, kT), (std::map<SeriesKey, uint64_t>{{kA, 6}}));
  EXPECT_TRUE(aggregates.AddWindowedCount(kA, kT - 30 * kMinute, 2, kT));
  EXPECT_EQ(Counts(aggregates, k1h, kT), (std::map<SeriesKey, uint64_t>{{kA, 8}}));
}

TEST(BucketCacheTest, WithoutAStoreNothingIsDropped) {
  Aggregates aggregates(WithBudget(1));
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT - 30 * kMinute, 5, kT));
  ASSERT_TRUE(aggregates.AddWindowedCount(kA, kT, 1, kT));
  Collect(aggregates);
  aggregates.Written();
  EXPECT_EQ(aggregates.cache_stats().evictions, 0u);
  EXPECT_EQ(Counts(aggregates, k1h, kT), (std::map<SeriesKey, uint64_t>{{kA, 6}}));
}

// Which task the update-th update goes to; nullopt skips it.
using TaskOf = std::function<std::optional<state::TaskId>(int update)>;

// Updates of every kind over two hours up to kT, each to the task `task_of`
// picks. Distinct items recur across updates, so a task split puts some
// items in several tasks, which their union must count once.
void Feed(Aggregates& aggregates, const TaskOf& task_of) {
  int update = 0;
  // Whether the next update applies, its task selected.
  const auto next = [&] {
    const std::optional<state::TaskId> task = task_of(update++);
    if (task.has_value()) aggregates.SelectTask(*task);
    return task.has_value();
  };
  for (int64_t t = kT - 2 * kHour; t <= kT; t += kMinute) {
    if (next()) aggregates.AddCounter(kA, 1);
    if (next()) aggregates.UpdateMax(kBinary, t);
    if (next()) {
      EXPECT_TRUE(aggregates.AddWindowedCount(kA, t, 1, t));
    }
    if (next()) {
      EXPECT_TRUE(aggregates.AddWindowedCount(kBinary, t + 1, 2, t + 1));
    }
    const std::string item = std::to_string(t % (7 * kMinute));
    if (next()) {
      EXPECT_TRUE(aggregates.AddWindowedDistinct(kA, t, HashItem(item), t));
    }
  }
  for (int id = 0; id < 5000; ++id) {
    const std::string item = std::to_string(id % 3000);
    if (next()) {
      EXPECT_TRUE(aggregates.AddWindowedDistinct(kBinary, kT - id, HashItem(item), kT));
    }
  }
}

std::optional<state::TaskId> AllToTaskZero(int) { return 0; }
std::optional<state::TaskId> RoundRobinOverThree(int update) { return update % 3; }

TEST(TasksTest, ReadsMergeTheTasksAsIfOneHadEverything) {
  Aggregates one(TestOptions());
  Feed(one, AllToTaskZero);
  Aggregates split(TestOptions());
  Feed(split, RoundRobinOverThree);
  EXPECT_EQ(one.Tasks(), (std::vector<state::TaskId>{0}));
  EXPECT_EQ(split.Tasks(), (std::vector<state::TaskId>{0, 1, 2}));
  // Past the exact range: the union of dense sketches is compared too.
  EXPECT_GT(Distincts(one, k1h, kT).at(kBinary), 2900);
  ExpectSameValues(one, split);
  ExpectSameReads(one, split, kT);
  ExpectSameReads(one, split, kT - 10 * kMinute);
  EXPECT_EQ(one.HeldAfterMs(kMinute, kT), split.HeldAfterMs(kMinute, kT));
}

TEST(TasksTest, EachTaskIsStoredUnderItsOwnPrefixAndLoadsOnItsOwn) {
  Aggregates split(TestOptions());
  Feed(split, RoundRobinOverThree);
  MemoryStore store;
  ASSERT_TRUE(store.Write(Collect(split)).ok());

  // A store holding only task 1's keys loads as task 1 alone would have.
  MemoryStore task_1_only;
  WriteSet task_1_keys;
  std::set<std::string> prefixes;
  for (Family family : {Family::kCounters, Family::kBuckets}) {
    for (const auto& [key, value] : store.Contents(family)) {
      prefixes.insert(key.substr(0, 4));
      if (key.substr(0, 4) == BigEndian(1, 4)) task_1_keys.Put(family, key, value);
    }
  }
  EXPECT_EQ(prefixes,
            (std::set<std::string>{BigEndian(0, 4), BigEndian(1, 4), BigEndian(2, 4)}));
  ASSERT_TRUE(task_1_only.Write(task_1_keys).ok());
  Aggregates loaded_task_1(TestOptions());
  ASSERT_TRUE(loaded_task_1.Load(task_1_only).ok());
  EXPECT_EQ(loaded_task_1.Tasks(), (std::vector<state::TaskId>{1}));
  Aggregates alone(TestOptions());
  Feed(alone, [](int update) -> std::optional<state::TaskId> {
    if (update % 3 == 1) return 1;
    return std::nullopt;
  });
  ExpectSameValues(alone, loaded_task_1);

  Aggregates loaded(TestOptions());
  ASSERT_TRUE(loaded.Load(store).ok());
  EXPECT_EQ(loaded.Tasks(), (std::vector<state::TaskId>{0, 1, 2}));
  ExpectSameValues(split, loaded);
  EXPECT_TRUE(Collect(loaded).empty());
}

TEST(TasksTest, ATinyBucketCacheBudgetOverSeveralTasksStillReadsExactly) {
  MemoryStore store;
  Aggregates aggregates(WithBudget(1));
  ASSERT_TRUE(aggregates.Load(store).ok());
  Aggregates unbounded(TestOptions());
  Feed(aggregates, RoundRobinOverThree);
  Feed(unbounded, RoundRobinOverThree);
  Flush(aggregates, kT, store);
  // Every task dropped its old buckets, and reads them back when asked.
  EXPECT_GT(aggregates.cache_stats().evictions, 3u);
  ExpectSameReads(unbounded, aggregates, kT);
}

}  // namespace
}  // namespace prodops::window
