#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "prodops/v1/config.pb.h"

namespace prodops::config {

// Reads and validates a DaemonConfig in protobuf text format. Defaults
// documented in proto/prodops/v1/config.proto are filled in, so the caller
// sees the effective configuration.
//
// Errors are InvalidArgument (or NotFound for a missing file) with a message
// "FILE:LINE:COLUMN: FIELD: what is wrong", e.g.
//   "config/bad.textproto:7:3: state.flush_interval_ms: must be between 10 and 60000, got 5"
// For a rule about a field that is absent, LINE:COLUMN is that of the
// enclosing message (or 1:1 at top level). Only the first error is
// reported.
absl::StatusOr<prodops::v1::DaemonConfig> LoadConfigFile(const std::string& path);

// Same, from text already in memory; `name` stands for the file in messages.
absl::StatusOr<prodops::v1::DaemonConfig> ParseConfig(const std::string& text,
                                                      const std::string& name);

}  // namespace prodops::config
