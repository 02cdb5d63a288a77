#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace prodops::window {

// Identity of one aggregate: a metric name and its label values, in the
// order the metric declares its label names. Encoded as bytes so it can be a
// hash-map key and part of a RocksDB key: each part is a varint length
// followed by the bytes, so any byte string (empty, binary, non-UTF-8) is a
// valid label value and encodings never collide.
using SeriesKey = std::string;

SeriesKey MakeSeriesKey(std::string_view metric,
                        std::initializer_list<std::string_view> label_values);
SeriesKey MakeSeriesKey(std::string_view metric,
                        const std::vector<std::string>& label_values);

struct SeriesParts {
  std::string metric;
  std::vector<std::string> label_values;
};
// Inverse of MakeSeriesKey; an error for bytes it did not produce.
absl::StatusOr<SeriesParts> ParseSeriesKey(std::string_view key);

}  // namespace prodops::window
