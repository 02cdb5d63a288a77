#include "daemon/window/aggregates.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

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

// The store key layout documented in aggregates.h, spelled out independently.
std::string BigEndian(uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}
std::string BucketPrefix(int64_t bucket_ms, int64_t start_ms) {
  return BigEndian(bucket_ms, 4) +
         BigEndian(static_cast<uint64_t>(start_ms) ^ (1ULL << 63), 8);
}
int64_t KeyWidth(const std::string& key) {
  int64_t width = 0;
  for (int i = 0; i < 4; ++i) width = (width << 8) | static_cast<uint8_t>(key[i]);
  return width;
}
int64_t KeyStart(const std::string& key) {
  uint64_t biased = 0;
  for (int i = 4; i < 12; ++i) biased = (biased << 8) | static_cast<uint8_t>(key[i]);
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

TEST(AggregatesTest, CollectChangesWritesAbsoluteValuesInTheDocumentedLayout) {
  Aggregates aggregates(TestOptions());
  aggregates.AddCounter(kA, 5);
  aggregates.AddCounter(kA, 2);
  EXPECT_EQ(aggregates.PendingBytes(), 1 + kA.size() + 8);
  WriteSet changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 1);
  EXPECT_EQ(changes.ops()[0].kind, WriteSet::OpKind::kPut);
  EXPECT_EQ(changes.ops()[0].family, Family::kCounters);
  EXPECT_EQ(changes.ops()[0].key, "c" + kA);
  EXPECT_EQ(changes.ops()[0].value, "\0\0\0\0\0\0\0\x07"s);
  EXPECT_EQ(changes.bytes(), 1 + kA.size() + 8);

  aggregates.UpdateMax(kB, -1);
  changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 1);
  EXPECT_EQ(changes.ops()[0].key, "m" + kB);
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
  EXPECT_EQ(puts,
            (std::map<std::string, std::string>{
                {"\x00\x00\xea\x60\x7f\xff\xff\xff\xff\xff\x15\xa0n"s + kA, three},
                {"\x00\x09\x27\xc0\x7f\xff\xff\xff\xff\xf6\xd8\x40n"s + kA, three}}));
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
  EXPECT_EQ(changes.ops()[0].key, "c" + kB);
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

  // Cutoff kT - 61m: 1m buckets from kT - 61m and 10m buckets from kT - 70m
  // end after it.
  aggregates.ExpireBefore(kT);
  const WriteSet changes = Collect(aggregates);
  ASSERT_EQ(changes.ops().size(), 2);
  for (const WriteSet::Op& op : changes.ops()) {
    EXPECT_EQ(op.kind, WriteSet::OpKind::kDeleteRange);
    EXPECT_EQ(op.family, Family::kBuckets);
  }
  EXPECT_EQ(changes.ops()[0].key, BigEndian(kMinute, 4));
  EXPECT_EQ(changes.ops()[0].value, BucketPrefix(kMinute, kT - 61 * kMinute));
  EXPECT_EQ(changes.ops()[1].key, BigEndian(10 * kMinute, 4));
  EXPECT_EQ(changes.ops()[1].value, BucketPrefix(10 * kMinute, kT - 70 * kMinute));
  ASSERT_TRUE(store.Write(changes).ok());

  oldest_start = kT;
  EXPECT_EQ(StoredBuckets(store, &oldest_start),
            (std::map<int64_t, size_t>{{kMinute, 62}, {10 * kMinute, 8}}));
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
  good.Put(Family::kCounters, "c" + kA, std::string(8, '\0'));
  ASSERT_TRUE(store.Write(good).ok());

  WriteSet bad_counter;
  bad_counter.Put(Family::kCounters, "cx", "abc");
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
  short_key.Put(Family::kBuckets, "\x00\x00\xea\x60"s, "");
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

}  // namespace
}  // namespace prodops::window
