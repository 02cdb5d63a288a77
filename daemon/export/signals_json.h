#pragma once

// GET /api/v1/signals without HTTP: the query parameters, the JSON body and
// the error bodies. Pure functions of their arguments, so that the endpoint's
// behaviour is tested without a server. Contract for clients: docs/api.md.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/export/snapshot.h"
#include "prometheus/metric_family.h"

namespace prodops::exporter {

// The names a query may use: metric names as values of `name`, label names
// as parameters. Anything else is refused, so that a typo is a 400 rather
// than a silently empty answer.
struct SignalsVocabulary {
  absl::flat_hash_set<std::string> metric_names;
  absl::flat_hash_set<std::string> label_names;

  // Adds every family's name and every label name of every series.
  void Add(const std::vector<prometheus::MetricFamily>& families);
};

// A series is selected when its family's name is one of `names` (or `names`
// is empty) and every label matcher matches.
struct LabelMatcher {
  std::string label;
  // The series' value of `label` (empty when it lacks the label, as in
  // PromQL) equals one of these.
  std::vector<std::string> values;
};
struct SignalsQuery {
  std::vector<std::string> names;    // in the order given; empty: every family
  std::vector<LabelMatcher> labels;  // one per distinct label, in the order given
};

// Parses a raw query string (the part after '?', still percent-encoded;
// empty for none). Keys and values are percent-decoded, '+' meaning a space
// (HTML form encoding). Repeating a key ORs its values; different keys AND.
// Empty pieces ("a=1&&b=2", a trailing '&') are ignored. Errors are
// InvalidArgument, carrying the offending parameter (see BadParameter):
// a piece without '=', bad percent-encoding, a key that is neither `name`
// nor in `vocabulary.label_names`, a `name` not in `vocabulary.metric_names`.
[[nodiscard]] absl::StatusOr<SignalsQuery> ParseSignalsQuery(
    std::string_view raw_query, const SignalsVocabulary& vocabulary);

// The parameter (decoded key) an error of ParseSignalsQuery is about.
std::string BadParameter(const absl::Status& status);

// The JSON body for `snapshot` filtered by `query`: one line per series.
std::string RenderSignalsJson(const Snapshot& snapshot, const SignalsQuery& query);

// {"error": message}
std::string RenderErrorJson(std::string_view message);
// {"error": message, "parameter": parameter}
std::string RenderErrorJson(std::string_view message, std::string_view parameter);

struct SignalsResponse {
  int status = 200;  // 200, or 400 for a refused query
  std::string body;  // JSON, newline-terminated
};

// The whole endpoint: parses `raw_query` against `vocabulary` plus the names
// in `snapshot` and renders either the signals or the error.
SignalsResponse ServeSignals(const Snapshot& snapshot, std::string_view raw_query,
                             const SignalsVocabulary& vocabulary);

// Appends `text` as a JSON string literal. Escapes '"', '\\', every control
// character, DEL, U+2028 and U+2029; copies other valid UTF-8 as is and
// writes \ufffd for each byte that is not part of a valid UTF-8 sequence, so
// that the output is valid JSON whatever the input.
void AppendJsonString(std::string_view text, std::string* out);

// Appends a number as JSON: shortest round-trip form for finite values, and
// the strings "NaN", "+Inf", "-Inf" (as in the text exposition) otherwise.
void AppendJsonNumber(double value, std::string* out);

// RFC 3339 UTC with milliseconds, e.g. "2026-03-01T12:00:00.250Z".
std::string FormatRfc3339Millis(int64_t unix_ms);

}  // namespace prodops::exporter
