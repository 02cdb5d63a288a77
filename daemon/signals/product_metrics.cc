#include "daemon/signals/product_metrics.h"

#include "absl/strings/ascii.h"
#include "daemon/window/hll.h"

namespace prodops::signals {

using prodops::v1::Event;
using prodops::v1::TicketEvent;

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
      tickets_created_(MetricOrDie(kTicketsCreatedTotal)),
      active_users_(MetricOrDie(kActiveUsers)) {}

void ProductMetrics::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  switch (event.payload_case()) {
    case Event::kUsage:
      ApplyUsage(event.usage(), occurred_ms, as_of_ms);
      break;
    case Event::kTicket:
      ApplyTicket(event.ticket());
      break;
    default:
      break;  // other signal sets handle releases and exposures
  }
}

void ProductMetrics::ApplyUsage(const prodops::v1::UsageEvent& usage, int64_t at_ms,
                                int64_t as_of_ms) {
  const std::string_view feature = budget_->Admit(BudgetedLabel::kFeature, usage.feature());
  aggregates_->AddCounter(SeriesOf(usage_events_, {feature, usage.action()}), 1);
  const uint64_t user = window::HashItem(usage.user_id());
  aggregates_->AddWindowedDistinct(SeriesOf(active_users_, {feature}), at_ms, user,
                                   as_of_ms);
  aggregates_->AddWindowedDistinct(SeriesOf(active_users_, {kAllFeatures}), at_ms, user,
                                   as_of_ms);
}

void ProductMetrics::ApplyTicket(const TicketEvent& ticket) {
  if (ticket.kind() != TicketEvent::CREATED) return;
  aggregates_->AddCounter(
      SeriesOf(tickets_created_,
               {EnumLabel(TicketEvent::Type_descriptor(), ticket.type()),
                EnumLabel(TicketEvent::Priority_descriptor(), ticket.priority()),
                TeamLabel(ticket.team())}),
      1);
}

}  // namespace prodops::signals
