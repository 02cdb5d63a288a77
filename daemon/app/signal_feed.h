#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/ingest/outbox.h"
#include "daemon/state/store.h"
#include "daemon/window/buckets.h"
#include "prodops/state/feed_state.pb.h"
#include "prometheus/metric_family.h"

namespace prodops::app {

// The downstream feed: turns the windowed signals into SignalUpdate
// messages (proto/prodops/v1/signal_update.proto) as the watermark closes
// tumbling windows, one per configured window and window length, aligned
// to the epoch.
//
// A window [start, end) is evaluated as the exposition would be at
// end - 1 ms, when the trailing window covers exactly [start, end): every
// series labeled window=<name> becomes one update. When the watermark
// passes end, each series gets revision 0; a later event in [start, end),
// accepted within the allowed lateness, makes the changed series go out
// again with the next revision; when the watermark passes end + allowed
// lateness, every series goes out a last time with is_final. Windows that
// started before the buckets still held are skipped (a first start, or a
// long pause with the daemon down).
//
// State (the next window per name, the open windows' last values) is kept
// under Family::kMeta "feed" and written through CollectChanges(), with
// the input offsets; Advance() must only be followed by a store write once
// the outbox has delivered what it sent.
//
// Single-threaded: the pipeline thread.
class SignalFeed {
 public:
  // The exposition's families as of a time.
  using SnapshotAt =
      std::function<std::vector<prometheus::MetricFamily>(int64_t as_of_ms)>;
  // Whether window `spec` as of a time holds any data: windows without are
  // closed without a snapshot (a first start or a long pause closes many).
  using HasData = std::function<bool(const window::WindowSpec& spec, int64_t as_of_ms)>;
  // The time after which the buckets of window `spec` are all still held as
  // of the watermark (see window::Aggregates::HeldAfterMs).
  using HeldAfter =
      std::function<int64_t(const window::WindowSpec& spec, int64_t watermark_ms)>;

  SignalFeed(std::vector<window::WindowSpec> windows, int64_t allowed_lateness_ms,
             HeldAfter held_after);

  [[nodiscard]] absl::Status Load(const state::StateStore& store);

  // An accepted event's time: open windows it falls into are evaluated
  // again at the next Advance.
  void NoteEvent(int64_t occurred_ms) {
    earliest_event_ms_ = std::min(earliest_event_ms_, occurred_ms);
  }

  // Sends the updates the watermark calls for.
  void Advance(int64_t watermark_ms, const SnapshotAt& snapshot_at,
               const HasData& has_data, ingest::Outbox* out);

  void CollectChanges(state::WriteSet* changes);

  // The key of the update of `series` (exposition form) for the window
  // starting at `start_ms`.
  static std::string UpdateKey(std::string_view series, int64_t start_ms);

 private:
  // Evaluates `open` (window `spec`) and sends what changed, everything if
  // `final`.
  void Evaluate(const window::WindowSpec& spec, prodops::state::FeedWindow* open,
                bool final, const SnapshotAt& snapshot_at, ingest::Outbox* out);

  const std::vector<window::WindowSpec> windows_;
  const int64_t allowed_lateness_ms_;
  const HeldAfter held_after_;
  prodops::state::FeedState state_;
  bool dirty_ = false;
  int64_t earliest_event_ms_ = std::numeric_limits<int64_t>::max();
};

}  // namespace prodops::app
