#include "daemon/state/background_writer.h"

#include <chrono>
#include <utility>

namespace prodops::state {

BackgroundWriter::BackgroundWriter(StateStore* store)
    : store_(store), thread_([this] { Run(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  // Run() finishes the job it holds before it looks at stopping_.
  thread_.join();
}

void BackgroundWriter::Start(WriteSet changes) {
  {
    std::lock_guard lock(mutex_);
    job_ = std::move(changes);
  }
  in_flight_ = true;
  changed_.notify_all();
}

bool BackgroundWriter::Ended() {
  std::lock_guard lock(mutex_);
  return outcome_.has_value();
}

BackgroundWriter::Outcome BackgroundWriter::Wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return outcome_.has_value(); });
  Outcome outcome = *std::move(outcome_);
  outcome_.reset();
  in_flight_ = false;
  return outcome;
}

void BackgroundWriter::Run() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return job_.has_value() || stopping_; });
    if (!job_.has_value()) return;  // stopping, nothing left to write
    WriteSet changes = *std::move(job_);
    job_.reset();
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    changes.SortUnordered();
    absl::Status status = store_->Write(changes);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    lock.lock();
    outcome_ = Outcome{std::move(status), std::move(changes), seconds};
    changed_.notify_all();
  }
}

}  // namespace prodops::state
