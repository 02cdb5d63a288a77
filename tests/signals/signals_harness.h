#pragma once

// Drives the signal sets as MakeSignalSets() wires them and the pipeline
// calls them (Apply
// per event with the newest event time as "now", Advance + CollectChanges
// at a flush, CollectStored + Collect at a snapshot), without Kafka or
// decoding, so signal tests state events and expected numbers only.

#include <memory>
#include <string>
#include <vector>

#include "daemon/decode/decode.h"
#include "daemon/export/snapshot.h"
#include "daemon/signals/catalog.h"
#include "daemon/signals/registry.h"
#include "daemon/window/aggregates.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/support/exposition.h"
#include "tests/testing/memory_store.h"

namespace prodops::testing {

// 2026-03-01T12:00:00Z, a whole hour.
inline constexpr int64_t kNoonS = 1'772'366'400;

// An Event from text format, e.g. R"pb(usage { ... })pb".
inline prodops::v1::Event EventFromText(const std::string& text) {
  prodops::v1::Event event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &event)) << text;
  return event;
}

// The default windows: 1h of 60 s buckets, 1d and 7d of 1 h buckets, 1 h lateness.
inline window::Aggregates::Options DefaultWindows() {
  return {{{"1h", 3'600'000, 60'000}, {"1d", 86'400'000, 3'600'000},
           {"7d", 604'800'000, 3'600'000}},
          3'600'000};
}

class SignalsHarness {
 public:
  explicit SignalsHarness(signals::SignalsOptions options = {},
                          window::Aggregates::Options windows = DefaultWindows())
      : options_(std::move(options)), windows_(windows), aggregates_(std::move(windows)) {
    sets_ = signals::MakeSignalSets(options_, &aggregates_);
  }

  // The task the next events are of (the pipeline's: their partition).
  void SelectTask(state::TaskId task) { aggregates_.SelectTask(task); }

  // Applies `text` (an Event in text format) as an accepted event.
  void Apply(const std::string& text) { Apply(EventFromText(text)); }

  void Apply(const prodops::v1::Event& event) {
    const int64_t occurred_ms = decode::OccurredAtMillis(event);
    as_of_ms_ = std::max(as_of_ms_, occurred_ms);
    for (const auto& set : sets_) set->Apply(event, occurred_ms, as_of_ms_);
  }

  // Applies `text` as an event every process reads (Pipeline::ProcessBroadcast).
  void ApplyBroadcast(const std::string& text) {
    const prodops::v1::Event event = EventFromText(text);
    for (const auto& set : sets_)
      set->ApplyBroadcast(event, decode::OccurredAtMillis(event));
  }

  // A flush into `store`: what the pipeline writes with the offsets.
  void Flush(MemoryStore* store) {
    for (const auto& set : sets_) set->Advance(as_of_ms_);
    aggregates_.ExpireBefore(as_of_ms_);
    state::WriteSet changes;
    aggregates_.CollectChanges(&changes);
    for (const auto& set : sets_) set->CollectChanges(&changes);
    ASSERT_TRUE(store->Write(changes).ok());
    aggregates_.Written();
    for (const auto& set : sets_) set->Written();
  }

  // A fresh harness restored from `store`, as after a restart.
  std::unique_ptr<SignalsHarness> Restart(const MemoryStore& store) const {
    auto restarted = std::make_unique<SignalsHarness>(options_, windows_);
    EXPECT_TRUE(restarted->aggregates_.Load(store).ok());
    for (const auto& set : restarted->sets_) EXPECT_TRUE(set->Load(store).ok());
    restarted->as_of_ms_ = as_of_ms_;
    return restarted;
  }

  // The exposition as of the newest event time (or `as_of_ms` if later).
  Samples Expose(int64_t as_of_ms = 0) {
    const int64_t at = std::max(as_of_ms, as_of_ms_);
    for (const auto& set : sets_) set->Advance(at);
    std::vector<prometheus::MetricFamily> families;
    signals::CollectStored(aggregates_, at, &families);
    for (const auto& set : sets_) set->Collect(at, &families);
    exporter::SortFamilies(&families);
    return ParseExposition(exporter::SerializeExposition(families));
  }

 private:
  signals::SignalsOptions options_;
  window::Aggregates::Options windows_;
  window::Aggregates aggregates_;
  std::vector<std::unique_ptr<signals::SignalSet>> sets_;
  int64_t as_of_ms_ = 0;
};

}  // namespace prodops::testing
