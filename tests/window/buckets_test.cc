#include "daemon/window/buckets.h"

#include "gtest/gtest.h"

namespace prodops::window {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

TEST(BucketStartTest, BoundaryBelongsToTheLaterBucket) {
  EXPECT_EQ(BucketStart(0, kMinute), 0);
  EXPECT_EQ(BucketStart(kMinute - 1, kMinute), 0);
  EXPECT_EQ(BucketStart(kMinute, kMinute), kMinute);
  EXPECT_EQ(BucketStart(kMinute + 1, kMinute), kMinute);
  EXPECT_EQ(BucketStart(1'700'000'123'456, kMinute), 1'700'000'100'000);
}

TEST(BucketStartTest, NegativeTimesRoundDown) {
  EXPECT_EQ(BucketStart(-1, kMinute), -kMinute);
  EXPECT_EQ(BucketStart(-kMinute + 1, kMinute), -kMinute);
  EXPECT_EQ(BucketStart(-kMinute, kMinute), -kMinute);
  EXPECT_EQ(BucketStart(-kMinute - 1, kMinute), -2 * kMinute);
  EXPECT_EQ(BucketStart(-1, 1), -1);
}

TEST(TrailingBucketsTest, AsOfOnABucketStart) {
  const WindowSpec hour{.name = "1h", .length_ms = kHour, .bucket_ms = kMinute};
  const BucketRange range = TrailingBuckets(2 * kHour, hour);
  EXPECT_EQ(range.last_start_ms, 2 * kHour);
  EXPECT_EQ(range.first_start_ms, kHour + kMinute);
  EXPECT_TRUE(range.Contains(kHour + kMinute));
  EXPECT_TRUE(range.Contains(2 * kHour));
  EXPECT_FALSE(range.Contains(kHour));
  EXPECT_FALSE(range.Contains(2 * kHour + kMinute));
}

TEST(TrailingBucketsTest, AsOfOneMillisecondBeforeABucketStart) {
  const WindowSpec hour{.name = "1h", .length_ms = kHour, .bucket_ms = kMinute};
  const BucketRange range = TrailingBuckets(2 * kHour - 1, hour);
  EXPECT_EQ(range.last_start_ms, 2 * kHour - kMinute);
  EXPECT_EQ(range.first_start_ms, kHour);
}

TEST(TrailingBucketsTest, WindowOfOneBucket) {
  const WindowSpec minute{.name = "1m", .length_ms = kMinute, .bucket_ms = kMinute};
  const BucketRange on_start = TrailingBuckets(kMinute, minute);
  EXPECT_EQ(on_start.first_start_ms, kMinute);
  EXPECT_EQ(on_start.last_start_ms, kMinute);
  const BucketRange before_start = TrailingBuckets(kMinute - 1, minute);
  EXPECT_EQ(before_start.first_start_ms, 0);
  EXPECT_EQ(before_start.last_start_ms, 0);
  const BucketRange negative = TrailingBuckets(-1, minute);
  EXPECT_EQ(negative.first_start_ms, -kMinute);
  EXPECT_EQ(negative.last_start_ms, -kMinute);
}

}  // namespace
}  // namespace prodops::window
