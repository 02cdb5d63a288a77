#include "daemon/signals/label_budget.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace prodops::signals {
namespace {

constexpr std::string_view kKeyPrefix = "label_budget/";

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string KeyPrefix(BudgetedLabel label) {
  return absl::StrCat(Absl(kKeyPrefix), Absl(BudgetedLabelName(label)), "/");
}

// "__none__", "__all__", "__other__": values prodopsd produces, not users.
bool IsReserved(std::string_view value) {
  return value.size() >= 4 && value.substr(0, 2) == "__" &&
         value.substr(value.size() - 2) == "__";
}

}  // namespace

std::string_view BudgetedLabelName(BudgetedLabel label) {
  switch (label) {
    case BudgetedLabel::kTeam:
      return "team";
    case BudgetedLabel::kFeature:
      return "feature";
    case BudgetedLabel::kRelease:
      return "release";
    case BudgetedLabel::kExperiment:
      return "experiment";
    case BudgetedLabel::kVariant:
      return "variant";
  }
  std::abort();  // not an enumerator: memory corruption
}

size_t LabelBudgetOptions::For(BudgetedLabel label) const {
  switch (label) {
    case BudgetedLabel::kTeam:
      return team;
    case BudgetedLabel::kFeature:
      return feature;
    case BudgetedLabel::kRelease:
      return release;
    case BudgetedLabel::kExperiment:
      return experiment;
    case BudgetedLabel::kVariant:
      return variant;
  }
  std::abort();
}

LabelBudget::LabelBudget(LabelBudgetOptions options, window::Aggregates* aggregates)
    : options_(options), aggregates_(aggregates), overflow_(MetricOrDie(kLabelOverflowTotal)) {}

bool LabelBudget::TryAdmit(BudgetedLabel label, std::string_view value) {
  if (IsReserved(value)) return true;
  auto& admitted = admitted_[static_cast<int>(label)];
  if (admitted.contains(Absl(value))) return true;
  if (admitted.size() >= options_.For(label)) return false;
  admitted.emplace(value);
  unwritten_.push_back(KeyPrefix(label).append(value));
  pending_bytes_ += unwritten_.back().size();
  return true;
}

std::string_view LabelBudget::Admit(BudgetedLabel label, std::string_view value) {
  if (TryAdmit(label, value)) return value;
  aggregates_->AddCounter(SeriesOf(overflow_, {BudgetedLabelName(label)}), 1);
  return kOtherLabel;
}

std::string_view LabelBudget::Lookup(BudgetedLabel label, std::string_view value) const {
  if (IsReserved(value) || admitted_[static_cast<int>(label)].contains(Absl(value))) {
    return value;
  }
  return kOtherLabel;
}

absl::Status LabelBudget::Open(const state::StateStore& store) {
  for (int i = 0; i < kBudgetedLabelCount; ++i) {
    const std::string prefix = KeyPrefix(static_cast<BudgetedLabel>(i));
    absl::Status status = store.Scan(
        state::Family::kMeta, prefix, [&](std::string_view key, std::string_view) {
          admitted_[i].emplace(key.substr(prefix.size()));
          return absl::OkStatus();
        });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

void LabelBudget::CollectChanges(state::WriteSet* changes) {
  for (std::string& key : unwritten_) changes->Put(state::Family::kMeta, std::move(key), "");
  unwritten_.clear();
  pending_bytes_ = 0;
}

std::vector<MetricDef> LabelBudgetMetricDefs() {
  return {
      {std::string(kLabelOverflowTotal),
       "Label values exposed as \"__other__\" because their label's cardinality budget "
       "was spent, one per folded occurrence.",
       prometheus::MetricType::Counter, {"label"}, Storage::kCounter},
  };
}

}  // namespace prodops::signals
