#include "daemon/window/series.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace prodops::window {
namespace {

using namespace std::string_literals;

TEST(SeriesKeyTest, EncodesVarintLengthPrefixedParts) {
  EXPECT_EQ(MakeSeriesKey("m", {"x", ""}), "\x01m\x01x\x00"s);
  const std::string long_value(200, 'v');
  EXPECT_EQ(MakeSeriesKey("", {long_value}), "\x00\xc8\x01"s + long_value);
}

TEST(SeriesKeyTest, BothOverloadsAgree) {
  EXPECT_EQ(MakeSeriesKey("metric", {"a", "b"}),
            MakeSeriesKey("metric", std::vector<std::string>{"a", "b"}));
}

TEST(SeriesKeyTest, DifferentPartsNeverCollide) {
  EXPECT_NE(MakeSeriesKey("a", {"bc"}), MakeSeriesKey("ab", {"c"}));
  EXPECT_NE(MakeSeriesKey("a", {"b", "c"}), MakeSeriesKey("a", {"bc"}));
  EXPECT_NE(MakeSeriesKey("a", {""}), MakeSeriesKey("a", {}));
}

TEST(SeriesKeyTest, ParseInvertsMake) {
  const std::vector<std::string> values = {"", "\xff\x00 binary"s, std::string(300, 'x')};
  const absl::StatusOr<SeriesParts> parts =
      ParseSeriesKey(MakeSeriesKey("events_total", values));
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->metric, "events_total");
  EXPECT_EQ(parts->label_values, values);
}

TEST(SeriesKeyTest, ParseRejectsBytesMakeCannotProduce) {
  for (const std::string& bad : {""s,                  // no metric
                                 "\x05m"s,             // part longer than the key
                                 "\x01m\x80"s,         // truncated varint
                                 "\x80\x00"s,          // non-minimal varint
                                 "\x01m\x81\x00"s}) {  // non-minimal varint
    const absl::StatusOr<SeriesParts> parts = ParseSeriesKey(bad);
    EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument)
        << absl::CEscape(bad);
  }
}

}  // namespace
}  // namespace prodops::window
