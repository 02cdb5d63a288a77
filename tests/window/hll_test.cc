#include "daemon/window/hll.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace prodops::window {
namespace {

using namespace std::string_literals;

// The hashes of the ids "first", ..., "first + count - 1" (decimal strings).
std::vector<uint64_t> IdHashes(int first, int count) {
  std::vector<uint64_t> hashes;
  hashes.reserve(count);
  for (int id = first; id < first + count; ++id)
    hashes.push_back(HashItem(std::to_string(id)));
  return hashes;
}

HyperLogLog SketchOf(const std::vector<uint64_t>& hashes) {
  HyperLogLog sketch;
  for (uint64_t hash : hashes) sketch.Add(hash);
  return sketch;
}

HyperLogLog SketchOfIds(int first, int count) { return SketchOf(IdHashes(first, count)); }

// Reference values from libxxhash 0.8.1, XXH64(input, size, /*seed=*/0). The
// inputs cover every code path: < 4, 4..7 and 8..31 bytes, >= 32 bytes.
TEST(HashItemTest, IsXxh64WithSeedZero) {
  EXPECT_EQ(HashItem(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(HashItem("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(HashItem("abc"), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(HashItem("0"), 0x633457081244AFECULL);
  EXPECT_EQ(HashItem("12345678"), 0xD2D02F08CF7CFD4AULL);
  EXPECT_EQ(HashItem("The quick brown fox jumps over the lazy dog"),
            0x0B242D361FDA71BCULL);
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(HashItem(bytes), 0x6AC1E58032166597ULL);
}

TEST(HyperLogLogTest, RelativeErrorWithinTwoPercent) {
  const std::vector<int> checkpoints = {1,    10,    100,   1000,   1024,   1025,
                                        5000, 10000, 40000, 100000, 1000000};
  // The sketch of ids [0, n) for each n, built incrementally.
  HyperLogLog sketch;
  int added = 0;
  double max_error = 0;
  for (int n : checkpoints) {
    for (; added < n; ++added) sketch.Add(HashItem(std::to_string(added)));
    const double estimate = sketch.Estimate();
    const double error = std::abs(estimate - n) / n;
    std::printf("n=%-8d estimate=%-12.1f relative error=%.4f%%\n", n, estimate,
                100 * error);
    if (n <= static_cast<int>(HyperLogLog::kMaxExact)) {
      EXPECT_TRUE(sketch.IsExact()) << n;
      EXPECT_EQ(estimate, n);
    } else {
      EXPECT_FALSE(sketch.IsExact()) << n;
    }
    EXPECT_LE(error, 0.02) << n;
    max_error = std::max(max_error, error);
  }
  std::printf("max relative error: %.4f%%\n", 100 * max_error);
  RecordProperty("max_relative_error_percent", std::to_string(100 * max_error));
}

TEST(HyperLogLogTest, EmptySketch) {
  const HyperLogLog sketch;
  EXPECT_TRUE(sketch.Empty());
  EXPECT_TRUE(sketch.IsExact());
  EXPECT_EQ(sketch.Estimate(), 0);
}

TEST(HyperLogLogTest, DuplicatesCountOnce) {
  HyperLogLog exact;
  for (int round = 0; round < 3; ++round) {
    for (uint64_t hash : IdHashes(0, 100)) exact.Add(hash);
  }
  EXPECT_EQ(exact.Estimate(), 100);

  HyperLogLog dense = SketchOfIds(0, 5000);
  const HyperLogLog once = dense;
  for (uint64_t hash : IdHashes(0, 5000)) dense.Add(hash);
  EXPECT_EQ(dense, once);
}

TEST(HyperLogLogTest, TurnsDenseAfterMaxExactHashes) {
  HyperLogLog sketch = SketchOfIds(0, HyperLogLog::kMaxExact);
  EXPECT_TRUE(sketch.IsExact());
  EXPECT_EQ(sketch.MemoryBytes() / sizeof(uint64_t) >= HyperLogLog::kMaxExact, true);
  sketch.Add(HashItem("one more"));
  EXPECT_FALSE(sketch.IsExact());
  EXPECT_EQ(sketch.MemoryBytes(), HyperLogLog::kRegisters);
}

TEST(HyperLogLogTest, MergeOfExactSketchesIsExactUnion) {
  HyperLogLog merged = SketchOfIds(0, 300);
  merged.Merge(SketchOfIds(200, 300));
  EXPECT_TRUE(merged.IsExact());
  EXPECT_EQ(merged.Estimate(), 500);
  EXPECT_EQ(merged, SketchOfIds(0, 500));
}

TEST(HyperLogLogTest, MergeOfExactSketchesOverflowingTurnsDense) {
  HyperLogLog merged = SketchOfIds(0, 700);
  merged.Merge(SketchOfIds(700, 700));
  EXPECT_FALSE(merged.IsExact());
  EXPECT_EQ(merged, SketchOfIds(0, 1400));
}

TEST(HyperLogLogTest, MergeOfExactIntoDense) {
  HyperLogLog merged = SketchOfIds(0, 3000);
  merged.Merge(SketchOfIds(2500, 1000));
  EXPECT_EQ(merged, SketchOfIds(0, 3500));
}

TEST(HyperLogLogTest, MergeOfDenseIntoExact) {
  HyperLogLog merged = SketchOfIds(0, 1000);
  merged.Merge(SketchOfIds(500, 3000));
  EXPECT_FALSE(merged.IsExact());
  EXPECT_EQ(merged, SketchOfIds(0, 3500));
}

TEST(HyperLogLogTest, MergeOfDenseSketches) {
  HyperLogLog merged = SketchOfIds(0, 20000);
  merged.Merge(SketchOfIds(10000, 20000));
  EXPECT_EQ(merged, SketchOfIds(0, 30000));
}

TEST(HyperLogLogTest, MergeWithEmptyChangesNothing) {
  HyperLogLog dense = SketchOfIds(0, 2000);
  dense.Merge(HyperLogLog());
  EXPECT_EQ(dense, SketchOfIds(0, 2000));
  HyperLogLog empty;
  empty.Merge(SketchOfIds(0, 10));
  EXPECT_EQ(empty, SketchOfIds(0, 10));
}

std::vector<HyperLogLog> SampleSketches() {
  return {HyperLogLog(),        SketchOfIds(0, 10),     SketchOfIds(0, 1024),
          SketchOfIds(0, 1025), SketchOfIds(0, 100000), SketchOfIds(0, 1000000)};
}

TEST(HyperLogLogTest, ParseOfSerializeGivesAnEqualSketch) {
  for (const HyperLogLog& sketch : SampleSketches()) {
    const absl::StatusOr<HyperLogLog> parsed = HyperLogLog::Parse(sketch.Serialize());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, sketch) << sketch.Estimate();
    EXPECT_EQ(parsed->Estimate(), sketch.Estimate());
  }
}

TEST(HyperLogLogTest, SerializedSizes) {
  // Header, varint count, 8 bytes per hash.
  EXPECT_EQ(HyperLogLog().Serialize(), "\x01\x00\x00"s);
  EXPECT_EQ(SketchOfIds(0, 10).Serialize().size(), 2 + 1 + 80);
  // A sketch that just turned dense is mostly zero registers.
  EXPECT_LT(SketchOfIds(0, 1025).Serialize().size(), 3000);
  // A full one is its registers.
  EXPECT_EQ(SketchOfIds(0, 1000000).Serialize().size(), 2 + HyperLogLog::kRegisters);
}

absl::Status ParseError(const std::string& bytes) {
  return HyperLogLog::Parse(bytes).status();
}

std::string Header(char mode) { return "\x01"s + mode; }

std::string Hash(uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(value >> (8 * i)));
  return bytes;
}

TEST(HyperLogLogTest, ParseRejectsMalformedBytes) {
  const std::string dense(HyperLogLog::kRegisters, '\x01');
  const struct {
    std::string bytes;
    std::string message;
  } cases[] = {
      {"", "shorter than its header"},
      {"\x01", "shorter than its header"},
      {"\x02\x00\x00"s, "unknown version 2"},
      {Header('\x07'), "unknown mode 7"},
      {Header('\0') + "\x02" + Hash(1), "exact hashes truncated or too long"},
      {Header('\0') + "\x01" + Hash(1) + "x", "exact hashes truncated or too long"},
      {Header('\0') + "\x81\x08", "too many exact hashes"},  // 1025
      {Header('\0') + "\x80", "bad count"},
      {Header('\0') + "\x02" + Hash(2) + Hash(1), "hashes not sorted"},
      {Header('\0') + "\x02" + Hash(1) + Hash(1), "hashes not sorted"},
      {Header('\x01') + dense.substr(1), "wrong register count"},
      {Header('\x01') + dense + "\x01", "wrong register count"},
      {Header('\x01') + "\x34" + dense.substr(1), "register out of range"},  // 52
      {Header('\x02') + "\x01", "too few registers"},
      {Header('\x02') + "\x34", "register out of range"},
      {Header('\x02') + "\x00\x00"s, "bad run of zero registers"},
      {Header('\x02') + "\x01\x00\x80\x80\x01"s, "bad run of zero registers"},  // 16385
      {Header('\x02') + "\x00"s, "bad run of zero registers"},
      {Header('\x02') + dense + "\x01", "too many registers"},
  };
  for (const auto& [bytes, message] : cases) {
    EXPECT_EQ(ParseError(bytes),
              absl::InvalidArgumentError("malformed HyperLogLog: " + message))
        << absl::CEscape(bytes);
  }
}

TEST(HyperLogLogTest, ParseRejectsEveryTruncation) {
  for (const HyperLogLog& sketch : SampleSketches()) {
    const std::string bytes = sketch.Serialize();
    for (size_t size = 0; size < bytes.size(); ++size) {
      ASSERT_EQ(ParseError(bytes.substr(0, size)).code(),
                absl::StatusCode::kInvalidArgument)
          << size << " of " << bytes.size();
    }
  }
}

TEST(HyperLogLogTest, ParseSurvivesRandomBytes) {
  std::mt19937_64 random(42);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(random() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    // Valid headers make the payload parsers do the work.
    if (i % 2 == 0 && bytes.size() >= 2)
      bytes[0] = 1, bytes[1] = static_cast<char>(i % 6);
    const absl::StatusOr<HyperLogLog> parsed = HyperLogLog::Parse(bytes);
    if (parsed.ok()) {
      ++accepted;
      EXPECT_EQ(HyperLogLog::Parse(parsed->Serialize()).value(), *parsed);
    }
  }
  // Random bytes almost never form a canonical sketch.
  EXPECT_LT(accepted, 20);
}

}  // namespace
}  // namespace prodops::window
