#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/decode/decode.h"
#include "prodops/v1/config.pb.h"

namespace prodops::app {

struct ReplayOptions {
  // Files of prodops.v1.Event records in `format` (RecordFileReader).
  // Required.
  std::vector<std::string> inputs;
  // kJson: NDJSON; kProtobuf: length-delimited binary. Default: kJson.
  decode::Format format = decode::Format::kJson;
  // State directory. Default (empty): a fresh temporary directory, removed
  // afterwards.
  std::string state_dir;
};

// Runs the pipeline over files instead of Kafka and writes the final
// Prometheus exposition of the stored metrics to `out`. Each file is an
// input topic named by its base name, with one partition whose offsets are
// record offsets (line numbers, or record indexes): replaying into a state directory that has seen a file
// continues after the lines already counted. The windows are evaluated as
// of the newest event time read. Same input, same output.
[[nodiscard]] absl::Status RunReplay(const prodops::v1::DaemonConfig& config,
                                     const ReplayOptions& options, std::ostream& out);

}  // namespace prodops::app
