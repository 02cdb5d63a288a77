#include "daemon/window/series.h"

#include "absl/status/status.h"
#include "daemon/window/encoding.h"

namespace prodops::window {
namespace {

void AppendPart(std::string_view part, SeriesKey* key) {
  internal::PutVarint64(part.size(), key);
  key->append(part);
}

// Reads one length-prefixed part from the front of `in`.
absl::StatusOr<std::string> ReadPart(std::string_view* in) {
  const std::optional<uint64_t> size = internal::GetVarint64(in);
  if (!size.has_value()) {
    return absl::InvalidArgumentError("series key: malformed part length");
  }
  if (*size > in->size()) {
    return absl::InvalidArgumentError("series key: part longer than the key");
  }
  std::string part(in->substr(0, *size));
  in->remove_prefix(*size);
  return part;
}

template <typename Labels>
SeriesKey MakeKey(std::string_view metric, const Labels& label_values) {
  SeriesKey key;
  AppendPart(metric, &key);
  for (std::string_view value : label_values) AppendPart(value, &key);
  return key;
}

}  // namespace

SeriesKey MakeSeriesKey(std::string_view metric,
                        std::initializer_list<std::string_view> label_values) {
  return MakeKey(metric, label_values);
}

SeriesKey MakeSeriesKey(std::string_view metric,
                        const std::vector<std::string>& label_values) {
  return MakeKey(metric, label_values);
}

absl::StatusOr<SeriesParts> ParseSeriesKey(std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("series key: empty");
  SeriesParts parts;
  absl::StatusOr<std::string> metric = ReadPart(&key);
  if (!metric.ok()) return metric.status();
  parts.metric = *std::move(metric);
  while (!key.empty()) {
    absl::StatusOr<std::string> value = ReadPart(&key);
    if (!value.ok()) return value.status();
    parts.label_values.push_back(*std::move(value));
  }
  return parts;
}

}  // namespace prodops::window
