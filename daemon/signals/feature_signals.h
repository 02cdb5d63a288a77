#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "daemon/signals/catalog.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/signal_set.h"
#include "daemon/window/aggregates.h"

namespace prodops::signals {

// Feature adoption and friction, per feature and trailing window:
//  - prodops_feature_adoption_ratio: active users of the feature / active
//    users of the product (both as exposed by prodops_active_users);
//  - prodops_feature_tickets_per_1k_users: 1000 * tickets created about the
//    feature / active users of the feature;
//  - prodops_feature_howto_share: QUESTION tickets / all tickets created
//    about the feature.
// A ticket is "about" each feature in TicketEvent.features (each feature
// label once per ticket) and counts in the bucket of its CREATED event's
// occurred_at. A ratio whose denominator is 0 is not exposed.
//
// Ticket counts are windowed counts in the Aggregates (so persisted and
// exactly-once with them); the gauges are computed in Collect(), so they
// are pure functions of the events within retention. Feature labels go
// through the shared LabelBudget. Single-threaded.
class FeatureSignals final : public SignalSet {
 public:
  // `budget` and `aggregates` must outlive this.
  FeatureSignals(LabelBudget* budget, window::Aggregates* aggregates);

  void Apply(const prodops::v1::Event& event, int64_t occurred_ms, int64_t as_of_ms) override;
  void Collect(int64_t as_of_ms, std::vector<prometheus::MetricFamily>* out) const override;

 private:
  LabelBudget* budget_;
  window::Aggregates* aggregates_;
};

// The feature labels of a ticket, through `budget`, each once.
std::vector<std::string_view> TicketFeatureLabels(const prodops::v1::TicketEvent& ticket,
                                                  LabelBudget* budget);

std::vector<MetricDef> FeatureMetricDefs();
inline constexpr std::string_view kFeatureAdoptionRatio = "prodops_feature_adoption_ratio";
inline constexpr std::string_view kFeatureTicketsPer1kUsers =
    "prodops_feature_tickets_per_1k_users";
inline constexpr std::string_view kFeatureHowtoShare = "prodops_feature_howto_share";
// Windowed count {feature, ticket_type} of tickets created about a feature.
// Internal: not in the catalog, never exposed as such.
inline constexpr std::string_view kFeatureTicketsSeries = "feature_tickets_created";

}  // namespace prodops::signals
