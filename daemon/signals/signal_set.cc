#include "daemon/signals/signal_set.h"

namespace prodops::signals {

absl::Status SignalSet::Load(const state::StateStore& store) {
  if (absl::Status s = Open(store); !s.ok()) return s;
  absl::StatusOr<std::vector<state::TaskId>> tasks = state::AllStoredTasks(store);
  if (!tasks.ok()) return tasks.status();
  for (state::TaskId task : *tasks) {
    if (absl::Status s = LoadTask(task); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace prodops::signals
