#pragma once

#include <memory>
#include <vector>

#include "daemon/signals/experiment_signals.h"
#include "daemon/signals/label_budget.h"
#include "daemon/signals/release_signals.h"
#include "daemon/signals/signal_set.h"
#include "daemon/signals/ticket_options.h"
#include "daemon/window/aggregates.h"

namespace prodops::signals {

// Options of every signal set, translated from DaemonConfig.signals in
// app/options.cc. Each set adds its own sub-struct here.
struct SignalsOptions {
  TicketOptions tickets;
  LabelBudgetOptions label_budgets;
  ReleaseOptions releases;
  ExperimentOptions experiments;
};

// Every signal set, in the order events are applied to them. They write to
// `aggregates`, which must outlive them.
std::vector<std::unique_ptr<SignalSet>> MakeSignalSets(const SignalsOptions& options,
                                                       window::Aggregates* aggregates);

}  // namespace prodops::signals
