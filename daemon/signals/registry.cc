#include "daemon/signals/registry.h"

#include "daemon/signals/product_metrics.h"

namespace prodops::signals {

std::vector<std::unique_ptr<SignalSet>> MakeSignalSets(const SignalsOptions& options,
                                                       window::Aggregates* aggregates) {
  std::vector<std::unique_ptr<SignalSet>> sets;
  sets.push_back(std::make_unique<ProductMetrics>(aggregates));
  return sets;
}

}  // namespace prodops::signals
