#include "daemon/signals/registry.h"

#include "daemon/signals/experiment_signals.h"
#include "daemon/signals/feature_signals.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/product_metrics.h"
#include "daemon/signals/release_signals.h"
#include "daemon/signals/ticket_signals.h"

namespace prodops::signals {

std::vector<std::unique_ptr<SignalSet>> MakeSignalSets(const SignalsOptions& options,
                                                       window::Aggregates* aggregates) {
  std::vector<std::unique_ptr<SignalSet>> sets;
  // First, so that its state loads before any set labels by it; the sets
  // after it share it (they are destroyed with it, in the same vector).
  auto budget = std::make_unique<LabelBudget>(options.label_budgets, aggregates);
  LabelBudget* shared_budget = budget.get();
  sets.push_back(std::move(budget));
  sets.push_back(std::make_unique<ProductMetrics>(shared_budget, aggregates));
  sets.push_back(std::make_unique<TicketSignals>(options.tickets, shared_budget, aggregates));
  sets.push_back(std::make_unique<FeatureSignals>(shared_budget, aggregates));
  // After FeatureSignals, which admits ticket features to the budget.
  sets.push_back(std::make_unique<ReleaseSignals>(options.releases, shared_budget, aggregates));
  sets.push_back(std::make_unique<ExperimentSignals>(options.experiments, shared_budget,
                                                     aggregates));
  return sets;
}

}  // namespace prodops::signals
