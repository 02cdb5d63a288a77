#include "daemon/signals/catalog.h"

#include <cmath>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "daemon/common/log.h"
#include "daemon/export/snapshot.h"
#include "daemon/signals/experiment_signals.h"
#include "daemon/signals/feature_signals.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/release_signals.h"
#include "daemon/signals/ticket_signals.h"

namespace prodops::signals {
namespace {

using prometheus::MetricType;

std::vector<MetricDef> MakeCatalog() {
  std::vector<MetricDef> catalog = {
      {std::string(kUsageEventsTotal), "Usage events accepted, by feature and action.",
       MetricType::Counter, {"feature", "action"}, Storage::kCounter},
      {std::string(kTicketsCreatedTotal), "Tickets created: the first CREATED event of each ticket.",
       MetricType::Counter, {"ticket_type", "priority", "team"}, Storage::kCounter},
      {std::string(kActiveUsers),
       "Distinct users with a usage event in the trailing window (HyperLogLog, "
       "relative error <= 2%); feature=\"__all__\" is the whole product.",
       MetricType::Gauge, {"feature"}, Storage::kWindowedDistinct},
      {std::string(kEventsIngestedTotal), "Events accepted from each input topic.",
       MetricType::Counter, {"topic"}, Storage::kCounter},
      {std::string(kEventsRejectedTotal),
       "Messages rejected (not decodable or not valid), by topic and reason.",
       MetricType::Counter, {"topic", "reason"}, Storage::kCounter},
      {std::string(kEventsDuplicateTotal),
       "Valid events not applied because an event with the same event_id was "
       "accepted before (within the de-duplication horizon).",
       MetricType::Counter, {"topic"}, Storage::kCounter},
      {std::string(kEventsLateTotal),
       "Accepted events too old for the windows (older than the longest window "
       "plus the allowed lateness); they count in totals only.",
       MetricType::Counter, {"topic"}, Storage::kCounter},
      {std::string(kLastEventTimestamp), "Newest occurred_at accepted from each topic.",
       MetricType::Gauge, {"topic"}, Storage::kMax, 0.001},
      {std::string(kConsumerLag),
       "Messages in the partition not yet processed (high watermark - next offset).",
       MetricType::Gauge, {"topic", "partition"}, Storage::kLive},
      {std::string(kBroadcastLag),
       "Messages of a partition that every process reads (the release topics) not yet "
       "read by this one (high watermark - next offset).",
       MetricType::Gauge, {"topic", "partition"}, Storage::kLive},
      {std::string(kBuildInfo), "Always 1; labels describe the build.", MetricType::Gauge,
       {"version"}, Storage::kLive},
      {std::string(kStateFlushesTotal),
       "Flushes of aggregates and input offsets to RocksDB since start.",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kStateFlushErrorsTotal), "Flushes to RocksDB that failed since start.",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kStateFlushSeconds), "Duration of the latest flush to RocksDB.",
       MetricType::Gauge, {}, Storage::kLive},
      {std::string(kReady), "1 when the daemon is ready (see /readyz), else 0.",
       MetricType::Gauge, {}, Storage::kLive},
      {std::string(kWindowCacheBytes),
       "Memory of the window cache: part=\"buckets\" the event-time buckets kept in "
       "memory (bounded by state.window_cache_bytes), part=\"totals\" the windows' "
       "totals over their closed buckets.",
       MetricType::Gauge, {"part"}, Storage::kLive},
      {std::string(kWindowCacheEvictionsTotal),
       "Window buckets dropped from memory to keep within the budget since start.",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kWindowCacheStoreReadsTotal),
       "Window buckets read back from RocksDB since start.", MetricType::Counter, {},
       Storage::kLive},
      {std::string(kWindowCacheReadErrorsTotal),
       "Reads of window buckets back from RocksDB that failed since start (logged).",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kDedupFilterBytes),
       "Memory of the filter over the event ids stored within the de-duplication "
       "horizon (about 12 bits an id).",
       MetricType::Gauge, {}, Storage::kLive},
      {std::string(kDedupStoreReadsTotal),
       "Event ids looked up in RocksDB since start: the filter's false positives "
       "(about 1% of new ids) and duplicates.",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kChangelogRecordsWrittenTotal),
       "Records written to the changelog topics since start (state.changelog).",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kChangelogRecordsRestoredTotal),
       "Changelog records read into the local state since start, restoring the "
       "tasks of assigned partitions.",
       MetricType::Counter, {}, Storage::kLive},
      {std::string(kChangelogRestoreSecondsTotal),
       "Time spent restoring tasks from the changelog since start.", MetricType::Counter,
       {}, Storage::kLive},
      {std::string(kChangelogRestoreRemaining),
       "Changelog records (and transaction markers) left to read by the restore under "
       "way; 0 when none is.",
       MetricType::Gauge, {}, Storage::kLive},
      {std::string(kChangelogRestoresTotal),
       "Tasks restored from the changelog since start (a current local copy counts, "
       "with no records read).",
       MetricType::Counter, {}, Storage::kLive},
  };
  for (MetricDef& def : TicketMetricDefs()) catalog.push_back(std::move(def));
  for (MetricDef& def : LabelBudgetMetricDefs()) catalog.push_back(std::move(def));
  for (MetricDef& def : FeatureMetricDefs()) catalog.push_back(std::move(def));
  for (MetricDef& def : ReleaseMetricDefs()) catalog.push_back(std::move(def));
  for (MetricDef& def : ExperimentMetricDefs()) catalog.push_back(std::move(def));
  return catalog;
}

const absl::flat_hash_map<std::string, const MetricDef*>& Index() {
  static const auto* index = [] {
    auto* map = new absl::flat_hash_map<std::string, const MetricDef*>();
    for (const MetricDef& def : AllMetrics()) (*map)[def.name] = &def;
    return map;
  }();
  return *index;
}

}  // namespace

const std::vector<MetricDef>& AllMetrics() {
  static const std::vector<MetricDef>* catalog = new std::vector<MetricDef>(MakeCatalog());
  return *catalog;
}

const MetricDef* FindMetric(std::string_view name) {
  auto it = Index().find(absl::string_view(name.data(), name.size()));
  return it == Index().end() ? nullptr : it->second;
}

const MetricDef& MetricOrDie(std::string_view name) {
  const MetricDef* def = FindMetric(name);
  if (def == nullptr) {
    Log(LogLevel::kError, absl::StrCat("metric ", absl::string_view(name.data(), name.size()),
                                       " is missing from the catalog"));
    std::abort();
  }
  return *def;
}

window::SeriesKey SeriesOf(const MetricDef& def,
                           std::initializer_list<std::string_view> label_values) {
  return window::MakeSeriesKey(def.name, label_values);
}

void CollectStored(const window::Aggregates& aggregates, int64_t as_of_ms,
                   std::vector<prometheus::MetricFamily>* out) {
  absl::flat_hash_map<std::string, prometheus::MetricFamily*> families;
  // Reserve first: pointers into `out` must stay valid.
  out->reserve(out->size() + AllMetrics().size());
  for (const MetricDef& def : AllMetrics()) {
    if (def.storage == Storage::kLive) continue;
    out->push_back(exporter::MakeFamily(def.name, def.help, def.type));
    families[def.name] = &out->back();
  }
  // Adds one sample of the series to its family; `window`
  // is appended when not empty.
  auto add = [&](const window::SeriesKey& series, double value, const std::string& window) {
    absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(series);
    if (!parts.ok()) return;  // not ours: written by a newer version?
    const MetricDef* def = FindMetric(parts->metric);
    auto family = families.find(parts->metric);
    if (def == nullptr || family == families.end()) return;
    std::vector<std::string> names = def->labels;
    std::vector<std::string> values = std::move(parts->label_values);
    if (!window.empty()) {
      names.push_back("window");
      values.push_back(window);
    }
    exporter::AddSample(family->second, names, values, value * def->scale);
  };
  aggregates.ForEachCounter([&](const window::SeriesKey& series, uint64_t value) {
    add(series, static_cast<double>(value), "");
  });
  aggregates.ForEachMax([&](const window::SeriesKey& series, int64_t value) {
    add(series, static_cast<double>(value), "");
  });
  for (const window::WindowSpec& spec : aggregates.windows()) {
    aggregates.ForEachWindowedDistinct(
        spec, as_of_ms, [&](const window::SeriesKey& series, double estimate) {
          add(series, std::round(estimate), spec.name);
        });
  }
}

}  // namespace prodops::signals
