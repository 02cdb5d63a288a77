#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "daemon/decode/decode.h"

namespace prodops::app {

// Reads the input files of `prodopsd replay` one record at a time:
//  - kJson: NDJSON, one prodops.v1.Event in canonical JSON per line; blank
//    lines are skipped. A record's offset is its line number, from 0.
//  - kProtobuf: length-delimited binary prodops.v1.Event messages, each a
//    varint32 byte count then that many bytes: the framing of protobuf's
//    SerializeDelimitedToOstream and Java's writeDelimitedTo. A record's
//    offset is its index, from 0.
// Records are handed over as raw bytes: decoding, and rejecting bad events,
// is the pipeline's job, as for Kafka messages. Only broken framing (a
// truncated record, a length over kMaxRecordBytes) is an error here, since
// nothing after it can be trusted.
class RecordFileReader {
 public:
  // Larger delimited records mean a corrupt or foreign file. The same as
  // the largest ingest.max_message_bytes the config allows.
  static constexpr uint32_t kMaxRecordBytes = 64u << 20;

  static absl::StatusOr<std::unique_ptr<RecordFileReader>> Open(const std::string& path,
                                                                decode::Format format);
  ~RecordFileReader();
  RecordFileReader(const RecordFileReader&) = delete;
  RecordFileReader& operator=(const RecordFileReader&) = delete;

  // The next record and its offset; false at the end of the file.
  absl::StatusOr<bool> Next(std::string* record, int64_t* offset);

 private:
  RecordFileReader(std::string path, decode::Format format, std::FILE* file);
  absl::StatusOr<bool> NextLine(std::string* record, int64_t* offset);
  absl::StatusOr<bool> NextDelimited(std::string* record, int64_t* offset);
  // An error naming the file, the record and its byte position.
  absl::Status Corrupt(const std::string& what) const;

  std::string path_;
  decode::Format format_;
  std::FILE* file_;
  int64_t next_offset_ = 0;
  uint64_t position_ = 0;         // bytes consumed
  uint64_t record_position_ = 0;  // where the current record began
  char* line_ = nullptr;          // getline()'s buffer, reused
  size_t line_capacity_ = 0;
};

}  // namespace prodops::app
