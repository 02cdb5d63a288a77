#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "daemon/signals/catalog.h"
#include "daemon/signals/signal_set.h"
#include "daemon/window/aggregates.h"

namespace prodops::signals {

// Labels whose values come from users' data, each with its own budget.
enum class BudgetedLabel { kTeam, kFeature, kRelease, kExperiment, kVariant };
inline constexpr int kBudgetedLabelCount = 5;

// The label name as exposed ("team", "feature", ...).
std::string_view BudgetedLabelName(BudgetedLabel label);

// Most distinct values admitted per label (DaemonConfig.signals.label_budgets).
struct LabelBudgetOptions {
  // Default: 200.
  size_t team = 200;
  // Default: 500.
  size_t feature = 500;
  // Default: 100.
  size_t release = 100;
  // Default: 50.
  size_t experiment = 50;
  // Default: 20.
  size_t variant = 20;

  size_t For(BudgetedLabel label) const;
};

// Value that stands for every value refused by a label's budget.
inline constexpr std::string_view kOtherLabel = "__other__";

// Keeps label cardinality bounded: the first `budget` distinct values of a
// label (in processing order) are admitted for good; any later new value is
// exposed as "__other__" and counted in prodops_label_overflow_total{label}.
// Values of the form "__x__" that prodopsd itself produces ("__none__",
// "__all__", "__other__") pass through without using the budget.
//
// The admitted sets are state: they are persisted through CollectChanges()
// in the same atomic write as the input offsets, so a restart neither
// forgets an admitted value nor admits a new one twice. This is a SignalSet
// only for that persistence (Apply does nothing); MakeSignalSets registers
// it first and hands it to the sets that label by these values.
//
// Determinism: while a label stays within its budget its values are
// exactly the values seen. Past the budget, which values were admitted
// depends on the order events were processed in: the one documented
// exception to "outputs are a pure function of the events".
//
// Lowering a budget below the values already stored keeps them all (an
// exposed series does not turn into __other__) and admits nothing new.
//
// Store layout: Family::kMeta, "label_budget/" + label name + "/" + value
// -> "" (nothing else in kMeta starts with "label_budget/").
//
// Single-threaded, like every SignalSet. Must outlive the sets using it.
class LabelBudget final : public SignalSet {
 public:
  LabelBudget(LabelBudgetOptions options, window::Aggregates* aggregates);

  // The label value to expose for `value`: `value` itself if admitted (now
  // or earlier) or reserved, else kOtherLabel, counting the overflow. The
  // result views `value` or a constant.
  std::string_view Admit(BudgetedLabel label, std::string_view value);

  // Admit() without side effects: for a value another set already passed
  // through Admit() for the same event, so that an overflow counts once.
  std::string_view Lookup(BudgetedLabel label, std::string_view value) const;

  // Admits `value` if the budget has room, counting nothing otherwise: for
  // the values of state this process did not build (a task taken over from
  // another process), whose events were admitted, and counted, there.
  void Adopt(BudgetedLabel label, std::string_view value) {
    (void)TryAdmit(label, value);
  }

  absl::Status Open(const state::StateStore& store) override;
  void Apply(const prodops::v1::Event& event, int64_t occurred_ms,
             int64_t as_of_ms) override {}
  void CollectChanges(state::WriteSet* changes) override;
  size_t PendingBytes() const override { return pending_bytes_; }

 private:
  // Whether `value` is admitted (now or earlier) or reserved.
  bool TryAdmit(BudgetedLabel label, std::string_view value);

  LabelBudgetOptions options_;
  window::Aggregates* aggregates_;
  const MetricDef& overflow_;
  std::array<absl::flat_hash_set<std::string>, kBudgetedLabelCount> admitted_;
  // Admitted since the last CollectChanges(), as store keys.
  std::vector<std::string> unwritten_;
  size_t pending_bytes_ = 0;
};

// Definitions of the metrics above, for the catalog.
std::vector<MetricDef> LabelBudgetMetricDefs();
inline constexpr std::string_view kLabelOverflowTotal = "prodops_label_overflow_total";

}  // namespace prodops::signals
