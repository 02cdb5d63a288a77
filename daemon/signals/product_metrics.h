#pragma once

#include <cstdint>

#include "daemon/signals/catalog.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/signal_set.h"
#include "daemon/window/aggregates.h"
#include "prodops/v1/events.pb.h"

namespace prodops::signals {

// Turns usage events into the product aggregates: usage events by feature
// and action, and active users per feature (and for the whole product) over
// the trailing windows. (Tickets created are counted by TicketSignals, once
// per ticket.) The values live in `aggregates`; CollectStored() exposes them.
// Single-threaded, like the Aggregates it writes to.
class ProductMetrics final : public SignalSet {
 public:
  // Feature labels go through `budget`; both arguments must outlive this.
  ProductMetrics(LabelBudget* budget, window::Aggregates* aggregates);

  void Apply(const prodops::v1::Event& event, int64_t occurred_ms, int64_t as_of_ms) override;

 private:
  void ApplyUsage(const prodops::v1::UsageEvent& usage, int64_t at_ms, int64_t as_of_ms);

  LabelBudget* budget_;
  window::Aggregates* aggregates_;
  const MetricDef& usage_events_;
  const MetricDef& active_users_;
  // Built once: every usage event updates it.
  const window::SeriesKey all_active_users_;
};

// Label value of an enum: its contract name in lower case ("incident",
// "high"); the zero value is "unspecified".
std::string EnumLabel(const google::protobuf::EnumDescriptor* descriptor, int value);

// Label value of a team: the name, or "__none__" when empty.
std::string_view TeamLabel(const std::string& team);

}  // namespace prodops::signals
