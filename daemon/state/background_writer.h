#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "daemon/state/store.h"

namespace prodops::state {

// Runs StateStore::Write on a thread of its own, one WriteSet at a time,
// so that the thread that collects the changes goes on with the next
// events while RocksDB inserts and syncs the previous ones (a quarter of
// the pipeline thread's time when it wrote itself).
//
// The caller keeps every ordering guarantee: one write in flight at most,
// and it learns a write's outcome (Wait) before it starts the next, so
// WriteSets still reach the store in order, each whole or not at all.
// Meanwhile the caller may read the store (RocksDB serves reads during a
// write), but must not call its other methods: Write, AcquireTask and
// ReleaseTask wait until Wait() has returned.
//
// Start and Wait are called from one thread (the pipeline's).
class BackgroundWriter {
 public:
  // `store` must outlive this.
  explicit BackgroundWriter(StateStore* store);
  // Waits for the write in flight, if any, and drops its outcome.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Starts writing `changes`. Requires !InFlight().
  void Start(WriteSet changes);
  // Whether a write was started and Wait() has not returned its outcome.
  bool InFlight() const { return in_flight_; }

  struct Outcome {
    absl::Status status;
    // The WriteSet written: on failure, what must be written again.
    WriteSet changes;
    // How long the Write took.
    double seconds = 0;
  };
  // Whether the write in flight has ended (Wait() would not block).
  // Requires InFlight().
  bool Ended();
  // Waits for the write in flight to end and returns its outcome. Requires
  // InFlight().
  Outcome Wait();

 private:
  void Run();

  StateStore* store_;
  bool in_flight_ = false;  // the caller's thread only
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<WriteSet> job_;     // guarded by mutex_
  std::optional<Outcome> outcome_;  // guarded by mutex_
  bool stopping_ = false;           // guarded by mutex_
  std::thread thread_;              // last: starts after the members above
};

}  // namespace prodops::state
