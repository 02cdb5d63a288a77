#include "daemon/export/signals_json.h"

#include <charconv>
#include <cmath>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace prodops::exporter {
namespace {

// Debian's abseil has its own string_view, distinct from std::string_view.
absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }
std::string_view Std(absl::string_view text) { return {text.data(), text.size()}; }

// Where ParseSignalsQuery's errors keep the parameter they are about.
constexpr std::string_view kParameterPayload = "prodops/signals_api/parameter";

// The key of the metric-name filter; every other key is a label name.
constexpr std::string_view kNameKey = "name";

absl::Status QueryError(std::string_view parameter, std::string message) {
  absl::Status status = absl::InvalidArgumentError(std::move(message));
  status.SetPayload(Absl(kParameterPayload), absl::Cord(Absl(parameter)));
  return status;
}

// `text` in double quotes, for error messages (which are escaped as a whole
// when rendered).
std::string Quoted(std::string_view text) { return absl::StrCat("\"", Absl(text), "\""); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; nullopt when a '%' is not
// followed by two hex digits (accepting it literally would make "%zz" and
// "%25zz" mean the same thing).
std::optional<std::string> FormDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = HexDigit(text[i + 1]);
      const int low = HexDigit(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Length of the well-formed UTF-8 sequence starting at text[i] (RFC 3629,
// table 3-7 of the Unicode standard: no overlong forms, no surrogates,
// nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0x100;
  };
  auto continuation = [&](size_t k, unsigned low = 0x80, unsigned high = 0xBF) {
    return byte(k) >= low && byte(k) <= high;
  };
  const unsigned lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead == 0xE0) return continuation(1, 0xA0) && continuation(2) ? 3 : 0;
  if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF) {
    return continuation(1) && continuation(2) ? 3 : 0;
  }
  if (lead == 0xED) return continuation(1, 0x80, 0x9F) && continuation(2) ? 3 : 0;
  if (lead == 0xF0)
    return continuation(1, 0x90) && continuation(2) && continuation(3) ? 4 : 0;
  if (lead >= 0xF1 && lead <= 0xF3) {
    return continuation(1) && continuation(2) && continuation(3) ? 4 : 0;
  }
  if (lead == 0xF4) {
    return continuation(1, 0x80, 0x8F) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

const char* TypeName(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Untyped:
      return "untyped";
    case prometheus::MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

void AppendUnsigned(uint64_t value, std::string* out) { absl::StrAppend(out, value); }

bool Selected(const prometheus::ClientMetric& metric, const SignalsQuery& query) {
  for (const LabelMatcher& matcher : query.labels) {
    std::string_view actual;  // a missing label reads as empty, as in PromQL
    for (const prometheus::ClientMetric::Label& label : metric.label) {
      if (label.name == matcher.label) {
        actual = label.value;
        break;
      }
    }
    bool any = false;
    for (const std::string& value : matcher.values) any = any || value == actual;
    if (!any) return false;
  }
  return true;
}

void AppendSeries(const prometheus::MetricFamily& family,
                  const prometheus::ClientMetric& metric, std::string* out) {
  out->append("{\"name\":");
  AppendJsonString(family.name, out);
  absl::StrAppend(out, ",\"type\":\"", TypeName(family.type), "\",\"help\":");
  AppendJsonString(family.help, out);
  out->append(",\"labels\":{");
  for (size_t i = 0; i < metric.label.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(metric.label[i].name, out);
    out->push_back(':');
    AppendJsonString(metric.label[i].value, out);
  }
  out->push_back('}');
  switch (family.type) {
    case prometheus::MetricType::Counter:
    case prometheus::MetricType::Gauge:
    case prometheus::MetricType::Untyped:
      out->append(",\"value\":");
      AppendJsonNumber(*SampleValue(family, metric), out);
      break;
    case prometheus::MetricType::Histogram:
      out->append(",\"count\":");
      AppendUnsigned(metric.histogram.sample_count, out);
      out->append(",\"sum\":");
      AppendJsonNumber(metric.histogram.sample_sum, out);
      out->append(",\"buckets\":[");
      for (size_t i = 0; i < metric.histogram.bucket.size(); ++i) {
        if (i > 0) out->push_back(',');
        out->append("{\"le\":");
        AppendJsonNumber(metric.histogram.bucket[i].upper_bound, out);
        out->append(",\"count\":");
        AppendUnsigned(metric.histogram.bucket[i].cumulative_count, out);
        out->push_back('}');
      }
      out->push_back(']');
      break;
    case prometheus::MetricType::Summary:
      out->append(",\"count\":");
      AppendUnsigned(metric.summary.sample_count, out);
      out->append(",\"sum\":");
      AppendJsonNumber(metric.summary.sample_sum, out);
      out->append(",\"quantiles\":[");
      for (size_t i = 0; i < metric.summary.quantile.size(); ++i) {
        if (i > 0) out->push_back(',');
        out->append("{\"quantile\":");
        AppendJsonNumber(metric.summary.quantile[i].quantile, out);
        out->append(",\"value\":");
        AppendJsonNumber(metric.summary.quantile[i].value, out);
        out->push_back('}');
      }
      out->push_back(']');
      break;
  }
  out->push_back('}');
}

}  // namespace

void SignalsVocabulary::Add(const std::vector<prometheus::MetricFamily>& families) {
  for (const prometheus::MetricFamily& family : families) {
    metric_names.insert(family.name);
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        label_names.insert(label.name);
      }
    }
  }
}

absl::StatusOr<SignalsQuery> ParseSignalsQuery(std::string_view raw_query,
                                               const SignalsVocabulary& vocabulary) {
  SignalsQuery query;
  for (absl::string_view absl_piece :
       absl::StrSplit(Absl(raw_query), '&', absl::SkipEmpty())) {
    const std::string_view piece = Std(absl_piece);
    const size_t equals = piece.find('=');
    const std::string_view raw_key = piece.substr(0, equals);
    std::optional<std::string> key = FormDecode(raw_key);
    if (!key) {
      return QueryError(raw_key, absl::StrCat("bad percent-encoding in parameter name ",
                                              Quoted(raw_key)));
    }
    if (equals == std::string_view::npos) {
      return QueryError(*key, absl::StrCat("parameter ", Quoted(*key),
                                           " has no value (write KEY=VALUE)"));
    }
    std::optional<std::string> value = FormDecode(piece.substr(equals + 1));
    if (!value) {
      return QueryError(
          *key,
          absl::StrCat("bad percent-encoding in the value of parameter ", Quoted(*key)));
    }
    if (*key == kNameKey) {
      if (!vocabulary.metric_names.contains(*value)) {
        return QueryError(*key, absl::StrCat("unknown signal name ", Quoted(*value)));
      }
      query.names.push_back(std::move(*value));
      continue;
    }
    if (!vocabulary.label_names.contains(*key)) {
      return QueryError(
          *key, absl::StrCat("unknown parameter ", Quoted(*key),
                             ": not \"name\" and not a label name of any signal"));
    }
    LabelMatcher* matcher = nullptr;
    for (LabelMatcher& existing : query.labels) {
      if (existing.label == *key) matcher = &existing;
    }
    if (matcher == nullptr) matcher = &query.labels.emplace_back(LabelMatcher{*key, {}});
    matcher->values.push_back(std::move(*value));
  }
  return query;
}

std::string BadParameter(const absl::Status& status) {
  const auto parameter = status.GetPayload(Absl(kParameterPayload));
  return parameter ? std::string(*parameter) : std::string();
}

std::string RenderSignalsJson(const Snapshot& snapshot, const SignalsQuery& query) {
  std::string out = "{\"as_of\":";
  AppendJsonString(FormatRfc3339Millis(snapshot.as_of_ms), &out);
  absl::StrAppend(&out, ",\"as_of_ms\":", snapshot.as_of_ms, ",\"signals\":[");
  bool first = true;
  for (const prometheus::MetricFamily& family : snapshot.families) {
    if (!query.names.empty()) {
      bool named = false;
      for (const std::string& name : query.names) named = named || name == family.name;
      if (!named) continue;
    }
    for (const prometheus::ClientMetric& metric : family.metric) {
      if (!Selected(metric, query)) continue;
      // One series per line: readable with curl, greppable, still one JSON value.
      out.append(first ? "\n" : ",\n");
      first = false;
      AppendSeries(family, metric, &out);
    }
  }
  out.append(first ? "]}\n" : "\n]}\n");
  return out;
}

std::string RenderErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(message, &out);
  out.append("}\n");
  return out;
}

std::string RenderErrorJson(std::string_view message, std::string_view parameter) {
  std::string out = "{\"error\":";
  AppendJsonString(message, &out);
  out.append(",\"parameter\":");
  AppendJsonString(parameter, &out);
  out.append("}\n");
  return out;
}

SignalsResponse ServeSignals(const Snapshot& snapshot, std::string_view raw_query,
                             const SignalsVocabulary& vocabulary) {
  SignalsVocabulary known = vocabulary;
  known.Add(snapshot.families);
  absl::StatusOr<SignalsQuery> query = ParseSignalsQuery(raw_query, known);
  if (!query.ok()) {
    return {400,
            RenderErrorJson(Std(query.status().message()), BadParameter(query.status()))};
  }
  return {200, RenderSignalsJson(snapshot, *query)};
}

void AppendJsonString(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out->append("\\u00");
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 0xF]);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    // U+2028 and U+2029 are valid JSON but end a line in JavaScript source.
    if (length == 3 && c == 0xE2 && text[i + 1] == '\x80' &&
        (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out->append(text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
    } else {
      out->append(text.substr(i, length));
    }
    i += length;
  }
  out->push_back('"');
}

void AppendJsonNumber(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("\"NaN\"");
  } else if (std::isinf(value)) {
    out->append(value > 0 ? "\"+Inf\"" : "\"-Inf\"");
  } else {
    char buffer[32];
    const std::to_chars_result result =
        std::to_chars(buffer, buffer + sizeof(buffer), value);
    out->append(buffer, result.ptr);
  }
}

std::string FormatRfc3339Millis(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

}  // namespace prodops::exporter
