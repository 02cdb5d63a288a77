#include "daemon/app/record_files.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace prodops::app {

absl::StatusOr<std::unique_ptr<RecordFileReader>> RecordFileReader::Open(
    const std::string& path, decode::Format format) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  // Large reads: replay is bound by the pipeline, not by stdio's calls.
  std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
  return std::unique_ptr<RecordFileReader>(new RecordFileReader(path, format, file));
}

RecordFileReader::RecordFileReader(std::string path, decode::Format format,
                                   std::FILE* file)
    : path_(std::move(path)), format_(format), file_(file) {}

RecordFileReader::~RecordFileReader() {
  std::fclose(file_);
  std::free(line_);
}

absl::StatusOr<bool> RecordFileReader::Next(std::string* record, int64_t* offset) {
  return format_ == decode::Format::kJson ? NextLine(record, offset)
                                          : NextDelimited(record, offset);
}

absl::Status RecordFileReader::Corrupt(const std::string& what) const {
  return absl::DataLossError(absl::StrCat(path_, ": record ", next_offset_, " at byte ",
                                          record_position_, ": ", what));
}

absl::StatusOr<bool> RecordFileReader::NextLine(std::string* record, int64_t* offset) {
  while (true) {
    const ssize_t n = ::getline(&line_, &line_capacity_, file_);
    if (n < 0) {
      if (std::ferror(file_))
        return absl::DataLossError(absl::StrCat(path_, ": read error"));
      return false;
    }
    std::string_view line(line_, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    *offset = next_offset_++;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
    record->assign(line);
    return true;
  }
}

absl::StatusOr<bool> RecordFileReader::NextDelimited(std::string* record,
                                                     int64_t* offset) {
  record_position_ = position_;
  // Base-128 varint, least significant group first, at most 5 bytes for
  // 32 bits.
  uint64_t length = 0;
  for (int shift = 0;; shift += 7) {
    const int c = getc_unlocked(file_);
    if (c == EOF) {
      if (std::ferror(file_))
        return absl::DataLossError(absl::StrCat(path_, ": read error"));
      if (shift == 0) return false;  // a clean end between records
      return Corrupt("the file ends inside a length prefix");
    }
    ++position_;
    if (shift == 28 && (c & 0xF0) != 0)
      return Corrupt("the length prefix is not a varint32");
    length |= static_cast<uint64_t>(c & 0x7F) << shift;
    if ((c & 0x80) == 0) break;
  }
  if (length > kMaxRecordBytes) {
    return Corrupt(absl::StrCat("length ", length, " is over the limit of ",
                                kMaxRecordBytes,
                                " bytes (not a length-delimited protobuf file?)"));
  }
  record->resize(length);
  const size_t read = std::fread(record->data(), 1, length, file_);
  position_ += read;
  if (read != length) {
    if (std::ferror(file_))
      return absl::DataLossError(absl::StrCat(path_, ": read error"));
    return Corrupt(
        absl::StrCat("the file ends after ", read, " of its ", length, " bytes"));
  }
  *offset = next_offset_++;
  return true;
}

}  // namespace prodops::app
