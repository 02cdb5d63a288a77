// A child process for rocks_store_test. The tests fork() and exec this rather
// than using the forked copy of the test process: RocksDB's shared background
// thread pool (Env::Default) is not copied by fork(), so a forked child that
// opens a store may wait forever for a flush no thread will run.
//
// Usage:
//   state_test_helper write DIR N   Open DIR, print "R"; then N times: write
//                                   one WriteSet {counters "k<i>", offsets
//                                   "o<i>"} and print "W" once it returned.
//                                   Then wait to be killed.
//   state_test_helper open DIR      Try to open DIR; print the status; exit 0
//                                   if it opened, 1 if not.
//   state_test_helper bench DIR N   Time N sync Writes of ~100 bytes; print
//                                   the mean and the maximum in microseconds.
//
// Progress goes to stdout unbuffered (write(2)) so that the parent sees
// exactly what returned before it kills us.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "daemon/state/rocks_store.h"

namespace {

using prodops::state::Family;
using prodops::state::RocksStore;
using prodops::state::RocksStoreOptions;
using prodops::state::WriteSet;

void Emit(std::string_view bytes) {
  if (::write(STDOUT_FILENO, bytes.data(), bytes.size()) !=
      static_cast<ssize_t>(bytes.size())) {
    std::_Exit(3);
  }
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "state_test_helper: %s\n", status.ToString().c_str());
  return 2;
}

int WriteUntilKilled(const std::string& dir, int n) {
  auto store = RocksStore::Open(RocksStoreOptions{.dir = dir});
  if (!store.ok()) return Fail(store.status());
  Emit("R");
  for (int i = 0; i < n; ++i) {
    WriteSet changes;
    changes.Put(Family::kCounters, absl::StrCat("k", i), absl::StrCat(i));
    changes.Put(Family::kOffsets, absl::StrCat("o", i), absl::StrCat(i + 1));
    if (absl::Status s = (*store)->Write(changes); !s.ok()) return Fail(s);
    Emit("W");
  }
  for (;;) ::pause();
}

int TryOpen(const std::string& dir) {
  auto store = RocksStore::Open(RocksStoreOptions{.dir = dir});
  Emit(store.status().ToString());
  return store.ok() ? 0 : 1;
}

int Bench(const std::string& dir, int n) {
  auto store = RocksStore::Open(RocksStoreOptions{.dir = dir});
  if (!store.ok()) return Fail(store.status());
  using Clock = std::chrono::steady_clock;
  Clock::duration total{}, worst{};
  for (int i = 0; i < n; ++i) {
    WriteSet changes;
    changes.Put(Family::kBuckets, absl::StrCat("bucket/", i), std::string(64, 'v'));
    changes.Put(Family::kOffsets, "usage/0", absl::StrCat(i));
    const Clock::time_point start = Clock::now();
    if (absl::Status s = (*store)->Write(changes); !s.ok()) return Fail(s);
    const Clock::duration took = Clock::now() - start;
    total += took;
    worst = std::max(worst, took);
  }
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  std::printf("%d sync writes: mean %lld us, max %lld us\n", n,
              static_cast<long long>(duration_cast<microseconds>(total).count() / n),
              static_cast<long long>(duration_cast<microseconds>(worst).count()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "write" && argc == 4) return WriteUntilKilled(argv[2], std::atoi(argv[3]));
  if (mode == "open" && argc == 3) return TryOpen(argv[2]);
  if (mode == "bench" && argc == 4) return Bench(argv[2], std::atoi(argv[3]));
  std::fprintf(stderr, "usage: %s write DIR N | open DIR | bench DIR N\n", argv[0]);
  return 64;
}
