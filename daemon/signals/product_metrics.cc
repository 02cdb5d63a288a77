#include "daemon/signals/product_metrics.h"

#include "absl/strings/ascii.h"
#include "daemon/window/hll.h"

namespace prodops::signals {

using prodops::v1::Event;

std::string EnumLabel(const google::protobuf::EnumDescriptor* descriptor, int value) {
  if (value == 0) return "unspecified";
  const google::protobuf::EnumValueDescriptor* v = descriptor->FindValueByNumber(value);
  return v == nullptr ? "unknown" : absl::AsciiStrToLower(v->name());
}

std::string_view TeamLabel(const std::string& team) {
  return team.empty() ? std::string_view("__none__") : std::string_view(team);
}

ProductMetrics::ProductMetrics(LabelBudget* budget, window::Aggregates* aggregates)
    : budget_(budget),
      aggregates_(aggregates),
      usage_events_(MetricOrDie(kUsageEventsTotal)),
      active_users_(MetricOrDie(kActiveUsers)),
      all_active_users_(SeriesOf(active_users_, {kAllFeatures})) {}

void ProductMetrics::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  // Tickets, releases and exposures belong to their own signal sets.
  if (event.payload_case() == Event::kUsage) ApplyUsage(event.usage(), occurred_ms, as_of_ms);
}

void ProductMetrics::ApplyUsage(const prodops::v1::UsageEvent& usage, int64_t at_ms,
                                int64_t as_of_ms) {
  const std::string_view feature = budget_->Admit(BudgetedLabel::kFeature, usage.feature());
  aggregates_->AddCounter(SeriesOf(usage_events_, {feature, usage.action()}), 1);
  const uint64_t user = window::HashItem(usage.user_id());
  aggregates_->AddWindowedDistinct(SeriesOf(active_users_, {feature}), at_ms, user,
                                   as_of_ms);
  aggregates_->AddWindowedDistinct(all_active_users_, at_ms, user, as_of_ms);
}

}  // namespace prodops::signals
