#include "daemon/signals/feature_signals.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "daemon/export/snapshot.h"
#include "daemon/signals/product_metrics.h"

namespace prodops::signals {

using prodops::v1::Event;
using prodops::v1::TicketEvent;

namespace {

// Per feature label, over one window.
struct FeatureWindow {
  double active_users = 0;
  uint64_t tickets = 0;
  uint64_t questions = 0;
};

const std::string kQuestionLabel = "question";

}  // namespace

std::vector<std::string_view> TicketFeatureLabels(const TicketEvent& ticket,
                                                  LabelBudget* budget) {
  std::vector<std::string_view> labels;
  for (int i = 0; i < ticket.features_size(); ++i) {
    const std::string& feature = ticket.features(i);
    // A feature named twice is one feature: admitted (and its overflow
    // counted) once.
    if (std::find(ticket.features().begin(), ticket.features().begin() + i, feature) !=
        ticket.features().begin() + i) {
      continue;
    }
    const std::string_view label = budget->Admit(BudgetedLabel::kFeature, feature);
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  }
  return labels;
}

FeatureSignals::FeatureSignals(LabelBudget* budget, window::Aggregates* aggregates)
    : budget_(budget), aggregates_(aggregates) {}

void FeatureSignals::Apply(const Event& event, int64_t occurred_ms, int64_t as_of_ms) {
  if (event.payload_case() != Event::kTicket) return;
  const TicketEvent& ticket = event.ticket();
  if (ticket.kind() != TicketEvent::CREATED) return;
  const std::string type = EnumLabel(TicketEvent::Type_descriptor(), ticket.type());
  for (std::string_view feature : TicketFeatureLabels(ticket, budget_)) {
    aggregates_->AddWindowedCount(window::MakeSeriesKey(kFeatureTicketsSeries, {feature, type}),
                                  occurred_ms, 1, as_of_ms);
  }
}

void FeatureSignals::Collect(int64_t as_of_ms,
                             std::vector<prometheus::MetricFamily>* out) const {
  const MetricDef& adoption_def = MetricOrDie(kFeatureAdoptionRatio);
  const MetricDef& per_1k_def = MetricOrDie(kFeatureTicketsPer1kUsers);
  const MetricDef& howto_def = MetricOrDie(kFeatureHowtoShare);
  prometheus::MetricFamily adoption =
      exporter::MakeFamily(adoption_def.name, adoption_def.help, adoption_def.type);
  prometheus::MetricFamily per_1k =
      exporter::MakeFamily(per_1k_def.name, per_1k_def.help, per_1k_def.type);
  prometheus::MetricFamily howto =
      exporter::MakeFamily(howto_def.name, howto_def.help, howto_def.type);
  const std::vector<std::string> names = {"feature", "window"};
  for (const window::WindowSpec& spec : aggregates_->windows()) {
    std::map<std::string, FeatureWindow> features;  // ordered: stable output
    aggregates_->ForEachWindowedDistinct(
        spec, as_of_ms, [&](const window::SeriesKey& series, double estimate) {
          absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(series);
          if (!parts.ok() || parts->metric != kActiveUsers || parts->label_values.size() != 1) {
            return;
          }
          // Rounded as prodops_active_users exposes it, so the ratios agree
          // with the exposed counts.
          features[parts->label_values[0]].active_users = std::round(estimate);
        });
    aggregates_->ForEachWindowedCount(
        spec, as_of_ms, [&](const window::SeriesKey& series, uint64_t count) {
          absl::StatusOr<window::SeriesParts> parts = window::ParseSeriesKey(series);
          if (!parts.ok() || parts->metric != kFeatureTicketsSeries ||
              parts->label_values.size() != 2) {
            return;
          }
          FeatureWindow& feature = features[parts->label_values[0]];
          feature.tickets += count;
          if (parts->label_values[1] == kQuestionLabel) feature.questions += count;
        });
    const auto all = features.find(std::string(kAllFeatures));
    const double product_users = all == features.end() ? 0 : all->second.active_users;
    for (const auto& [feature, values] : features) {
      if (feature == kAllFeatures) continue;
      const std::vector<std::string> labels = {feature, spec.name};
      if (product_users > 0 && values.active_users > 0) {
        exporter::AddSample(&adoption, names, labels, values.active_users / product_users);
      }
      if (values.active_users > 0) {
        exporter::AddSample(&per_1k, names, labels,
                            1000.0 * static_cast<double>(values.tickets) / values.active_users);
      }
      if (values.tickets > 0) {
        exporter::AddSample(&howto, names, labels,
                            static_cast<double>(values.questions) /
                                static_cast<double>(values.tickets));
      }
    }
  }
  out->push_back(std::move(adoption));
  out->push_back(std::move(per_1k));
  out->push_back(std::move(howto));
}

std::vector<MetricDef> FeatureMetricDefs() {
  using prometheus::MetricType;
  return {
      {std::string(kFeatureAdoptionRatio),
       "Active users of the feature over active users of the product in the trailing "
       "window (prodops_active_users ratio).",
       MetricType::Gauge, {"feature"}, Storage::kLive},
      {std::string(kFeatureTicketsPer1kUsers),
       "Tickets created about the feature (TicketEvent.features) per 1000 active users of "
       "the feature in the trailing window.",
       MetricType::Gauge, {"feature"}, Storage::kLive},
      {std::string(kFeatureHowtoShare),
       "Share of QUESTION tickets among the tickets created about the feature in the "
       "trailing window.",
       MetricType::Gauge, {"feature"}, Storage::kLive},
  };
}

}  // namespace prodops::signals
