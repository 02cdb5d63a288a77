#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/window/aggregates.h"
#include "prometheus/metric_family.h"

namespace prodops::signals {

// Where a metric's value comes from.
enum class Storage {
  kCounter,           // Aggregates counter, cumulative
  kMax,               // Aggregates maximum
  kWindowedDistinct,  // Aggregates windowed distinct, one series per window
  kLive,              // computed by the pipeline at snapshot time, not stored
};

// One exposed metric. Names and label names are the public contract.
struct MetricDef {
  std::string name;
  std::string help;
  prometheus::MetricType type;
  // Label names in the order of the series key's label values. Windowed
  // metrics get a trailing `window` label at exposition.
  std::vector<std::string> labels;
  Storage storage;
  // Exposed value = stored value * scale (e.g. milliseconds to seconds).
  double scale = 1.0;
};

// Every metric prodopsd exposes, by name; nullptr if unknown.
const MetricDef* FindMetric(std::string_view name);
// FindMetric() for a name the code itself defines: aborts when it is missing,
// since then the catalog and the code disagree (a build bug, not bad input).
const MetricDef& MetricOrDie(std::string_view name);
const std::vector<MetricDef>& AllMetrics();

// Series key of `def` with `label_values` (as many as def.labels).
window::SeriesKey SeriesOf(const MetricDef& def,
                           std::initializer_list<std::string_view> label_values);

// Appends a family for every stored metric (counters, maxima, windowed
// distinct counts over every window as of `as_of_ms`), including families
// with no series yet.
void CollectStored(const window::Aggregates& aggregates, int64_t as_of_ms,
                   std::vector<prometheus::MetricFamily>* out);

// Names used by more than one module.
inline constexpr std::string_view kUsageEventsTotal = "prodops_usage_events_total";
inline constexpr std::string_view kTicketsCreatedTotal = "prodops_tickets_created_total";
inline constexpr std::string_view kActiveUsers = "prodops_active_users";
inline constexpr std::string_view kEventsIngestedTotal = "prodops_events_ingested_total";
inline constexpr std::string_view kEventsRejectedTotal = "prodops_events_rejected_total";
inline constexpr std::string_view kEventsLateTotal = "prodops_events_late_total";
inline constexpr std::string_view kEventsDuplicateTotal = "prodops_events_duplicate_total";
inline constexpr std::string_view kLastEventTimestamp = "prodops_last_event_timestamp_seconds";
inline constexpr std::string_view kConsumerLag = "prodops_consumer_lag_messages";
inline constexpr std::string_view kBroadcastLag = "prodops_broadcast_lag_messages";
inline constexpr std::string_view kBuildInfo = "prodops_build_info";
inline constexpr std::string_view kStateFlushesTotal = "prodops_state_flushes_total";
inline constexpr std::string_view kStateFlushErrorsTotal = "prodops_state_flush_errors_total";
inline constexpr std::string_view kStateFlushSeconds = "prodops_state_last_flush_duration_seconds";
inline constexpr std::string_view kReady = "prodops_ready";
inline constexpr std::string_view kWindowCacheBytes = "prodops_window_cache_bytes";
inline constexpr std::string_view kWindowCacheEvictionsTotal =
    "prodops_window_cache_evictions_total";
inline constexpr std::string_view kWindowCacheStoreReadsTotal =
    "prodops_window_cache_store_reads_total";
inline constexpr std::string_view kWindowCacheReadErrorsTotal =
    "prodops_window_cache_read_errors_total";
inline constexpr std::string_view kDedupFilterBytes = "prodops_dedup_filter_bytes";
inline constexpr std::string_view kDedupStoreReadsTotal =
    "prodops_dedup_store_reads_total";
inline constexpr std::string_view kChangelogRecordsWrittenTotal =
    "prodops_changelog_records_written_total";
inline constexpr std::string_view kChangelogRecordsRestoredTotal =
    "prodops_changelog_records_restored_total";
inline constexpr std::string_view kChangelogRestoreSecondsTotal =
    "prodops_changelog_restore_seconds_total";
inline constexpr std::string_view kChangelogRestoreRemaining =
    "prodops_changelog_restore_remaining_records";
inline constexpr std::string_view kChangelogRestoresTotal =
    "prodops_changelog_restores_total";

// Label value standing for "the whole product" in per-feature metrics.
inline constexpr std::string_view kAllFeatures = "__all__";

}  // namespace prodops::signals
