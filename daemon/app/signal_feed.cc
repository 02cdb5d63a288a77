#include "daemon/app/signal_feed.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "daemon/export/snapshot.h"
#include "google/protobuf/util/time_util.h"
#include "prodops/v1/signal_update.pb.h"

namespace prodops::app {
namespace {

using prodops::state::FeedValue;
using prodops::state::FeedWindow;
using prodops::v1::SignalUpdate;

constexpr std::string_view kStateKey = "feed";
constexpr std::string_view kWindowLabel = "window";

// A label value as in the text exposition: \, " and newline escaped.
void AppendEscaped(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// One series of the window, ready to send.
struct Sample {
  std::string key;
  SignalUpdate update;  // without revision and is_final
};

// Every counter or gauge series of `families` labeled window=<spec.name>.
std::vector<Sample> SamplesOf(const std::vector<prometheus::MetricFamily>& families,
                              const window::WindowSpec& spec, int64_t start_ms) {
  std::vector<Sample> samples;
  for (const prometheus::MetricFamily& family : families) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      const std::optional<double> value = exporter::SampleValue(family, metric);
      if (!value.has_value()) continue;
      bool in_window = false;
      std::string series = family.name + "{";
      Sample sample;
      for (size_t i = 0; i < metric.label.size(); ++i) {
        const auto& label = metric.label[i];
        if (i > 0) series.push_back(',');
        absl::StrAppend(&series, label.name, "=\"");
        AppendEscaped(label.value, &series);
        series.push_back('"');
        if (label.name == kWindowLabel) {
          in_window = label.value == spec.name;
        } else {
          (*sample.update.mutable_labels())[label.name] = label.value;
        }
      }
      if (!in_window) continue;
      series.push_back('}');
      sample.key = SignalFeed::UpdateKey(series, start_ms);
      sample.update.set_signal(family.name);
      sample.update.set_window(spec.name);
      *sample.update.mutable_window_start() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(start_ms);
      *sample.update.mutable_window_end() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(start_ms +
                                                                    spec.length_ms);
      sample.update.set_value(*value);
      samples.push_back(std::move(sample));
    }
  }
  return samples;
}

}  // namespace

SignalFeed::SignalFeed(std::vector<window::WindowSpec> windows,
                       int64_t allowed_lateness_ms, HeldAfter held_after)
    : windows_(std::move(windows)),
      allowed_lateness_ms_(allowed_lateness_ms),
      held_after_(std::move(held_after)) {}

std::string SignalFeed::UpdateKey(std::string_view series, int64_t start_ms) {
  return absl::StrCat(absl::string_view(series.data(), series.size()), "@", start_ms);
}

absl::Status SignalFeed::Load(const state::StateStore& store) {
  absl::StatusOr<std::string> stored = store.Get(state::Family::kMeta, kStateKey);
  if (absl::IsNotFound(stored.status())) return absl::OkStatus();
  if (!stored.ok()) return stored.status();
  if (!state_.ParseFromString(*stored)) {
    return absl::DataLossError("signal feed state: unparsable record");
  }
  return absl::OkStatus();
}

void SignalFeed::Evaluate(const window::WindowSpec& spec, FeedWindow* open, bool final,
                          const SnapshotAt& snapshot_at, ingest::Outbox* out) {
  const int64_t start_ms = open->end_ms() - spec.length_ms;
  for (Sample& sample : SamplesOf(snapshot_at(open->end_ms() - 1), spec, start_ms)) {
    auto [it, first] = open->mutable_values()->try_emplace(sample.key);
    FeedValue& sent = it->second;
    if (!first && !final && sent.value() == sample.update.value()) continue;
    if (!first) sent.set_revision(sent.revision() + 1);
    sent.set_value(sample.update.value());
    sample.update.set_revision(sent.revision());
    sample.update.set_is_final(final);
    out->Send(std::move(sample.key), sample.update.SerializeAsString());
    dirty_ = true;
  }
}

void SignalFeed::Advance(int64_t watermark_ms, const SnapshotAt& snapshot_at,
                         const HasData& has_data, ingest::Outbox* out) {
  // Open windows first: revisions of the earlier windows go out before the
  // first update of a later one.
  auto* open = state_.mutable_open();
  for (int i = 0; i < open->size();) {
    FeedWindow* window = open->Mutable(i);
    const auto spec = std::find_if(windows_.begin(), windows_.end(), [&](const auto& w) {
      return w.name == window->window();
    });
    if (spec == windows_.end()) {  // the config no longer has it
      open->DeleteSubrange(i, 1);
      dirty_ = true;
      continue;
    }
    const bool final = watermark_ms >= window->end_ms() + allowed_lateness_ms_;
    if (final || earliest_event_ms_ < window->end_ms()) {
      Evaluate(*spec, window, final, snapshot_at, out);
    }
    if (final) {
      open->DeleteSubrange(i, 1);
      dirty_ = true;
    } else {
      ++i;
    }
  }
  earliest_event_ms_ = std::numeric_limits<int64_t>::max();

  for (const window::WindowSpec& spec : windows_) {
    int64_t& next_end_ms = (*state_.mutable_next_end_ms())[spec.name];
    // Windows that started before the buckets still held are skipped: some of
    // their buckets may be gone. (On the first call this starts the feed with
    // the windows the buckets still hold.)
    const int64_t first_complete_end_ms =
        window::BucketStart(held_after_(spec, watermark_ms), spec.length_ms) +
        2 * spec.length_ms;
    if (next_end_ms < first_complete_end_ms) {
      next_end_ms = first_complete_end_ms;
      dirty_ = true;
    }
    for (; next_end_ms <= watermark_ms; next_end_ms += spec.length_ms) {
      FeedWindow window;
      window.set_window(spec.name);
      window.set_end_ms(next_end_ms);
      const bool final = watermark_ms >= next_end_ms + allowed_lateness_ms_;
      if (has_data(spec, next_end_ms - 1)) {
        Evaluate(spec, &window, final, snapshot_at, out);
      }
      // Open even while empty: a late event may still fill it.
      if (!final) *state_.add_open() = std::move(window);
      dirty_ = true;
    }
  }
}

void SignalFeed::CollectChanges(state::WriteSet* changes) {
  if (!dirty_) return;
  changes->Put(state::Family::kMeta, std::string(kStateKey), state_.SerializeAsString());
  dirty_ = false;
}

}  // namespace prodops::app
