#include "daemon/app/record_files.h"

#include <google/protobuf/util/delimited_message_util.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "prodops/v1/events.pb.h"
#include "tests/support/temp_dir.h"

namespace prodops::app {
namespace {

// Every record of the file with its offset, or the reader's error.
absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> ReadAll(
    const std::string& path, decode::Format format) {
  absl::StatusOr<std::unique_ptr<RecordFileReader>> reader =
      RecordFileReader::Open(path, format);
  if (!reader.ok()) return reader.status();
  std::vector<std::pair<int64_t, std::string>> records;
  std::string record;
  int64_t offset = -1;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&record, &offset);
    if (!more.ok()) return more.status();
    if (!*more) return records;
    records.emplace_back(offset, record);
  }
}

prodops::v1::Event UsageEvent(const std::string& id, const std::string& feature) {
  prodops::v1::Event event;
  event.mutable_usage()->set_event_id(id);
  event.mutable_usage()->set_feature(feature);
  return event;
}

TEST(RecordFileReaderTest, NdjsonLinesAreRecordsAndBlankLinesKeepTheirOffsets) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("in"),
                     "{\"a\":1}\n\n  \t\r\n{\"b\":2}\r\nlast without newline");
  auto records = ReadAll(dir.File("in"), decode::Format::kJson);
  ASSERT_TRUE(records.ok()) << records.status();
  const std::vector<std::pair<int64_t, std::string>> want = {
      {0, "{\"a\":1}"}, {3, "{\"b\":2}\r"}, {4, "last without newline"}};
  EXPECT_EQ(*records, want);
}

TEST(RecordFileReaderTest, DelimitedRecordsAreProtobufsOwnFraming) {
  testing::TempDir dir;
  std::ostringstream out;
  std::vector<std::string> serialized;
  // One record over 127 bytes, so that its length takes two varint bytes,
  // and an empty message, whose length is 0.
  for (const prodops::v1::Event& event :
       {UsageEvent("u-1", "search"), UsageEvent("u-2", std::string(300, 'f')),
        prodops::v1::Event()}) {
    ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToOstream(event, &out));
    serialized.push_back(event.SerializeAsString());
  }
  testing::WriteFile(dir.File("in"), out.str());
  auto records = ReadAll(dir.File("in"), decode::Format::kProtobuf);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*records)[i].first, static_cast<int64_t>(i));
    EXPECT_EQ((*records)[i].second, serialized[i]);
  }
  EXPECT_GT(serialized[1].size(), 127u);
}

TEST(RecordFileReaderTest, EmptyFilesHaveNoRecords) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("in"), "");
  for (decode::Format format : {decode::Format::kJson, decode::Format::kProtobuf}) {
    auto records = ReadAll(dir.File("in"), format);
    ASSERT_TRUE(records.ok()) << records.status();
    EXPECT_TRUE(records->empty());
  }
}

TEST(RecordFileReaderTest, BrokenFramingIsAnErrorNamingTheRecordAndByte) {
  testing::TempDir dir;
  std::ostringstream out;
  ASSERT_TRUE(google::protobuf::util::SerializeDelimitedToOstream(
      UsageEvent("u-1", "search"), &out));
  const std::string good = out.str();
  const std::string at_second = "record 1 at byte " + std::to_string(good.size());
  struct Case {
    std::string tail;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"\x10"
       "abc",
       "the file ends after 3 of its 16 bytes"},
      {"\x80", "the file ends inside a length prefix"},
      {"\xff\xff\xff\xff\x7f", "not a varint32"},
      {std::string("\x81\x80\x80\x20", 4), "length 67108865 is over the limit"},
  };
  for (const Case& c : cases) {
    testing::WriteFile(dir.File("in"), good + c.tail);
    auto records = ReadAll(dir.File("in"), decode::Format::kProtobuf);
    ASSERT_FALSE(records.ok()) << c.message;
    EXPECT_EQ(records.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(records.status().message().find(at_second), std::string_view::npos)
        << records.status();
    EXPECT_NE(records.status().message().find(c.message), std::string_view::npos)
        << records.status();
  }
}

TEST(RecordFileReaderTest, AMissingFileIsNotFound) {
  testing::TempDir dir;
  auto reader = RecordFileReader::Open(dir.File("absent"), decode::Format::kJson);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("absent: cannot read"),
            std::string_view::npos);
}

}  // namespace
}  // namespace prodops::app
