#include "daemon/state/rocks_store.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace prodops::state {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A fresh directory under /tmp, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/prodops_state_test_XXXXXX";
    if (::mkdtemp(path) == nullptr) std::abort();
    path_ = path;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const {
    return absl::StrCat(path_, "/", name);
  }

 private:
  std::string path_;
};

std::unique_ptr<RocksStore> OpenOrDie(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      RocksStore::Open(RocksStoreOptions{.dir = dir});
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Every (key, value) of `family` under `prefix`, in the order Scan gave them.
std::vector<std::pair<std::string, std::string>> ScanAll(const StateStore& store,
                                                         Family family,
                                                         std::string_view prefix = "") {
  std::vector<std::pair<std::string, std::string>> out;
  absl::Status s =
      store.Scan(family, prefix, [&](std::string_view key, std::string_view value) {
        out.emplace_back(key, value);
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

using KeyValues = std::vector<std::pair<std::string, std::string>>;

constexpr Family kAllFamilies[] = {Family::kMeta,    Family::kOffsets, Family::kCounters,
                                   Family::kSignals, Family::kBuckets, Family::kTickets,
                                   Family::kDedup};

TEST(RocksStoreTest, FamiliesHoldTheSameKeyIndependently) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  for (Family family : kAllFamilies) {
    changes.Put(family, "x/1", absl::StrCat(FamilyName(family), "-1"));
    changes.Put(family, "x/2", absl::StrCat(FamilyName(family), "-2"));
  }
  ASSERT_TRUE(store->Write(changes).ok());

  for (Family family : kAllFamilies) {
    SCOPED_TRACE(FamilyName(family));
    absl::StatusOr<std::string> value = store->Get(family, "x/2");
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, absl::StrCat(FamilyName(family), "-2"));
    EXPECT_EQ(ScanAll(*store, family, "x/"),
              (KeyValues{{"x/1", absl::StrCat(FamilyName(family), "-1")},
                         {"x/2", absl::StrCat(FamilyName(family), "-2")}}));
  }

  // A delete in one family leaves the others alone.
  WriteSet remove;
  remove.Delete(Family::kCounters, "x/1");
  ASSERT_TRUE(store->Write(remove).ok());
  EXPECT_TRUE(absl::IsNotFound(store->Get(Family::kCounters, "x/1").status()));
  EXPECT_EQ(*store->Get(Family::kBuckets, "x/1"), "buckets-1");
}

TEST(RocksStoreTest, GetOfAMissingKeyIsNotFound) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::string> value = store->Get(Family::kTickets, "T-1");
  EXPECT_EQ(value.status(), absl::NotFoundError("no such key in state family tickets"));
}

TEST(RocksStoreTest, NewStoreHoldsOnlyTheSchemaVersion) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ScanAll(*store, Family::kMeta),
            (KeyValues{{std::string(RocksStore::kSchemaVersionKey),
                        absl::StrCat(RocksStore::kSchemaVersion)}}));
  for (Family family : kAllFamilies) {
    if (family != Family::kMeta) {
      EXPECT_TRUE(ScanAll(*store, family).empty()) << FamilyName(family);
    }
  }
}

TEST(RocksStoreTest, DeleteRangeRemovesExactlyTheHalfOpenRange) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet fill;
  for (const std::string& key : std::vector<std::string>{"a", "b", std::string("b\0", 2),
                                                         "bz", "c", "c\x01", "d"}) {
    fill.Put(Family::kBuckets, key, "v");
    fill.Put(Family::kDedup, key, "v");
  }
  ASSERT_TRUE(store->Write(fill).ok());

  WriteSet retention;
  retention.DeleteRange(Family::kBuckets, "b", "c");
  ASSERT_TRUE(store->Write(retention).ok());

  EXPECT_EQ(ScanAll(*store, Family::kBuckets),
            (KeyValues{{"a", "v"}, {"c", "v"}, {"c\x01", "v"}, {"d", "v"}}));
  EXPECT_EQ(ScanAll(*store, Family::kDedup).size(), 7u);
}

TEST(RocksStoreTest, DeleteRangeWithBeginAfterEndIsRejectedAndWritesNothing) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  changes.Put(Family::kBuckets, "b", "v");
  changes.DeleteRange(Family::kBuckets, "c", "a");
  EXPECT_EQ(store->Write(changes),
            absl::InvalidArgumentError(
                "DeleteRange in state family buckets: begin key sorts after end key"));
  EXPECT_TRUE(absl::IsNotFound(store->Get(Family::kBuckets, "b").status()));
}

TEST(RocksStoreTest, OneWriteSetIsVisibleWholeAfterReopen) {
  TempDir tmp;
  {
    auto store = OpenOrDie(tmp.path());
    ASSERT_NE(store, nullptr);
    WriteSet before;
    before.Put(Family::kTickets, "T-1", "open");
    before.Put(Family::kBuckets, "old/1", "x");
    before.Put(Family::kBuckets, "old/2", "x");
    ASSERT_TRUE(store->Write(before).ok());

    WriteSet flush;
    flush.Put(Family::kOffsets, "usage/0", "1042");
    flush.Put(Family::kCounters, "logins", "17");
    flush.Put(Family::kBuckets, "new/1", "agg");
    flush.Delete(Family::kTickets, "T-1");
    flush.DeleteRange(Family::kBuckets, "old/", "old0");
    ASSERT_TRUE(store->Write(flush).ok());
  }
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->Get(Family::kOffsets, "usage/0"), "1042");
  EXPECT_EQ(*store->Get(Family::kCounters, "logins"), "17");
  EXPECT_EQ(ScanAll(*store, Family::kBuckets), (KeyValues{{"new/1", "agg"}}));
  EXPECT_TRUE(ScanAll(*store, Family::kTickets).empty());
}

TEST(RocksStoreTest, EmptyWriteSetIsOk) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Write(WriteSet()).ok());
}

TEST(RocksStoreTest, EmptyPrefixScansTheWholeFamilyInByteOrder) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  // Inserted out of order; 0x00 and 0xff check that order is by unsigned byte.
  const std::vector<std::string> keys = {
      "b", std::string("\xff", 1), "a/2", std::string("\0", 1), "a/10", "a"};
  WriteSet changes;
  for (const std::string& key : keys) changes.Put(Family::kCounters, key, key + "!");
  changes.Put(Family::kOffsets, "a/3", "other family");
  ASSERT_TRUE(store->Write(changes).ok());

  EXPECT_EQ(ScanAll(*store, Family::kCounters),
            (KeyValues{{std::string("\0", 1), std::string("\0!", 2)},
                       {"a", "a!"},
                       {"a/10", "a/10!"},
                       {"a/2", "a/2!"},
                       {"b", "b!"},
                       {"\xff", "\xff!"}}));
  EXPECT_EQ(ScanAll(*store, Family::kCounters, "a/"),
            (KeyValues{{"a/10", "a/10!"}, {"a/2", "a/2!"}}));
}

TEST(RocksStoreTest, PrefixEndingInFfBytesScansOnlyThatPrefix) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  for (std::string key :
       {"a\xfe", "a\xff", "a\xff\xff", "a\xff\xff\x01", "b", "\xff\xff"}) {
    changes.Put(Family::kDedup, key, "v");
  }
  ASSERT_TRUE(store->Write(changes).ok());
  EXPECT_EQ(ScanAll(*store, Family::kDedup, "a\xff"),
            (KeyValues{{"a\xff", "v"}, {"a\xff\xff", "v"}, {"a\xff\xff\x01", "v"}}));
  EXPECT_EQ(ScanAll(*store, Family::kDedup, "\xff"), (KeyValues{{"\xff\xff", "v"}}));
  EXPECT_TRUE(ScanAll(*store, Family::kDedup, "c").empty());
}

TEST(RocksStoreTest, ScanStopsAtTheVisitorsErrorAndReturnsIt) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  for (std::string key : {"t/1", "t/2", "t/3", "t/4"})
    changes.Put(Family::kTickets, key, "v");
  ASSERT_TRUE(store->Write(changes).ok());

  std::vector<std::string> visited;
  absl::Status s =
      store->Scan(Family::kTickets, "t/", [&](std::string_view key, std::string_view) {
        visited.emplace_back(key);
        return key == "t/2" ? absl::DataLossError("bad ticket t/2") : absl::OkStatus();
      });
  EXPECT_EQ(s, absl::DataLossError("bad ticket t/2"));
  EXPECT_EQ(visited, (std::vector<std::string>{"t/1", "t/2"}));
}

TEST(RocksStoreTest, ScanRangeVisitsTheHalfOpenRangeOnly) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  for (std::string key : {"a", "b1", "b2", "b3", "c"})
    changes.Put(Family::kTickets, key, "v");
  changes.Delete(Family::kTickets, "b2");
  ASSERT_TRUE(store->Write(changes).ok());

  auto keys = [&](std::string_view begin, std::string_view end) {
    std::vector<std::string> visited;
    absl::Status s = store->ScanRange(Family::kTickets, begin, end,
                                      [&](std::string_view key, std::string_view) {
                                        visited.emplace_back(key);
                                        return absl::OkStatus();
                                      });
    EXPECT_TRUE(s.ok()) << s;
    return visited;
  };
  EXPECT_EQ(keys("b1", "c"), (std::vector<std::string>{"b1", "b3"}));
  EXPECT_EQ(keys("b2", "b3"), (std::vector<std::string>{}));
  EXPECT_EQ(keys("b", ""), (std::vector<std::string>{"b1", "b3", "c"}));
  EXPECT_EQ(keys("", "b"), (std::vector<std::string>{"a"}));
}

TEST(RocksStoreTest, CountsDiskBytesAndBytesWritten) {
  TempDir tmp;
  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  const uint64_t written_before = store->BytesWritten();
  WriteSet changes;
  changes.Put(Family::kBuckets, "big", std::string(100000, 'x'));
  ASSERT_TRUE(store->Write(changes).ok());
  EXPECT_GE(store->BytesWritten() - written_before, 100000u);
  EXPECT_GE(store->DiskBytes(), 100000u);
  // The WAL is not unbounded garbage: the figure is the data plus overhead.
  EXPECT_LT(store->DiskBytes(), 200000u);
}

// 1000 incompressible bytes, different for every i.
std::string RandomValue(int i) {
  std::mt19937 rng(i);
  std::string value(1000, '\0');
  for (char& c : value) c = static_cast<char>(rng());
  return value;
}

// With the smallest budget the memtables (1 MiB each) flush many times, so
// reads go through SST files, the shared cache and the bloom filters.
TEST(RocksStoreTest, SmallBudgetSpillsToTablesAndReadsEverythingBack) {
  constexpr int kBatches = 8;
  constexpr int kKeysPerBatch = 1000;
  constexpr uint64_t kDataBytes = uint64_t{kBatches} * kKeysPerBatch * 1000;
  auto key_of = [](int i) { return absl::StrCat("b/", 100000 + i); };
  TempDir tmp;
  const RocksStoreOptions options{.dir = tmp.path(), .memory_budget_bytes = 8ull << 20};
  {
    absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int b = 0; b < kBatches; ++b) {
      WriteSet changes;
      for (int k = 0; k < kKeysPerBatch; ++k) {
        const int i = b * kKeysPerBatch + k;
        changes.Put(Family::kBuckets, key_of(i), RandomValue(i));
      }
      ASSERT_TRUE((*store)->Write(changes).ok());
    }
    EXPECT_GE((*store)->BytesWritten(), kDataBytes);
  }
  absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  int count = 0;
  ASSERT_TRUE((*store)
                  ->Scan(Family::kBuckets, "b/",
                         [&](std::string_view key, std::string_view value) {
                           EXPECT_EQ(key, key_of(count));
                           EXPECT_EQ(value, RandomValue(count));
                           ++count;
                           return absl::OkStatus();
                         })
                  .ok());
  EXPECT_EQ(count, kBatches * kKeysPerBatch);
  EXPECT_EQ(*(*store)->Get(Family::kBuckets, key_of(3500)), RandomValue(3500));
  EXPECT_TRUE(absl::IsNotFound((*store)->Get(Family::kBuckets, "b/0").status()));
  EXPECT_GE((*store)->DiskBytes(), kDataBytes);
  EXPECT_LT((*store)->DiskBytes(), 3 * kDataBytes);
}

// Writes `version` as the schema version of the store at `dir`.
void WriteSchemaVersion(const std::string& dir, uint32_t version) {
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  WriteSet changes;
  changes.Put(Family::kMeta, std::string(RocksStore::kSchemaVersionKey),
              absl::StrCat(version));
  ASSERT_TRUE(store->Write(changes).ok());
}

TEST(RocksStoreTest, RefusesAStoreWrittenByANewerSchema) {
  TempDir tmp;
  WriteSchemaVersion(tmp.path(), RocksStore::kSchemaVersion + 1);
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path()});
  EXPECT_EQ(store.status(),
            absl::FailedPreconditionError(absl::StrCat(
                "state directory ", tmp.path(), " was written by schema version ",
                RocksStore::kSchemaVersion + 1, "; this prodopsd understands up to ",
                RocksStore::kSchemaVersion)));
}

TEST(RocksStoreTest, RefusesAStoreWrittenByAnOlderSchema) {
  TempDir tmp;
  WriteSchemaVersion(tmp.path(), RocksStore::kSchemaVersion - 1);
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path()});
  EXPECT_EQ(
      store.status(),
      absl::FailedPreconditionError(absl::StrCat(
          "state directory ", tmp.path(), " was written by schema version ",
          RocksStore::kSchemaVersion - 1, "; this prodopsd has no migration from it to ",
          RocksStore::kSchemaVersion,
          ": move it away to rebuild the state from what the input topics still hold")));
}

TEST(RocksStoreTest, RefusesAnUnreadableSchemaVersion) {
  TempDir tmp;
  {
    auto store = OpenOrDie(tmp.path());
    ASSERT_NE(store, nullptr);
    WriteSet garbage;
    garbage.Put(Family::kMeta, std::string(RocksStore::kSchemaVersionKey), "one");
    ASSERT_TRUE(store->Write(garbage).ok());
  }
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path()});
  EXPECT_EQ(store.status(), absl::DataLossError(absl::StrCat(
                                "state directory ", tmp.path(),
                                " holds an unreadable schema version \"one\"")));
}

TEST(RocksStoreTest, RejectsBadOptions) {
  EXPECT_EQ(RocksStore::Open(RocksStoreOptions{}).status(),
            absl::InvalidArgumentError("RocksStoreOptions.dir is required"));
  TempDir tmp;
  EXPECT_EQ(
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path(), .memory_budget_bytes = 1024})
          .status(),
      absl::InvalidArgumentError(
          "RocksStoreOptions.memory_budget_bytes is 1024; at least 8 MiB is needed"));
}

TEST(RocksStoreTest, CreatesMissingParentDirectories) {
  TempDir tmp;
  const std::string dir = tmp.Sub("var/lib/prodopsd");
  auto store = OpenOrDie(dir);
  EXPECT_NE(store, nullptr);
}

TEST(RocksStoreTest, RefusesAPathThatIsARegularFile) {
  TempDir tmp;
  const std::string file = tmp.Sub("state");
  std::ofstream(file) << "not a database";
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      RocksStore::Open(RocksStoreOptions{.dir = file});
  EXPECT_EQ(store.status(),
            absl::FailedPreconditionError(absl::StrCat("cannot open state directory ",
                                                       file, ": it is not a directory")));
}

TEST(RocksStoreTest, RefusesADirectoryOpenByAnotherStoreInThisProcess) {
  TempDir tmp;
  auto first = OpenOrDie(tmp.path());
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<RocksStore>> second =
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              StartsWith(absl::StrCat("cannot open state directory ", tmp.path(), ": ")));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(tmp.path() + "/LOCK"));
  // The first store is unharmed.
  WriteSet changes;
  changes.Put(Family::kOffsets, "p", "1");
  EXPECT_TRUE(first->Write(changes).ok());
}

// A state_test_helper child with its stdout on a pipe; killed if still alive
// when the test ends, so that a failed assertion leaks no process.
class Helper {
 public:
  // Forks and execs the helper with `args`. If `uid` is set the child drops
  // to it before exec; a child that cannot exits with 126.
  Helper(const std::vector<std::string>& args, std::optional<uid_t> uid = std::nullopt) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      if (uid.has_value() && (::setgid(*uid) != 0 || ::setuid(*uid) != 0)) ::_exit(126);
      std::vector<char*> argv = {const_cast<char*>(PRODOPS_STATE_TEST_HELPER)};
      for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Helper() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  // The next byte the child printed, or -1 once it closed stdout (exited).
  int ReadByte() {
    char c;
    ssize_t n;
    do n = ::read(out_, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? static_cast<unsigned char>(c) : -1;
  }
  std::string ReadAll() {
    std::string out;
    for (int c; (c = ReadByte()) >= 0;) out.push_back(static_cast<char>(c));
    return out;
  }
  // Kills with SIGKILL (if `kill`) and reaps; returns the wait status.
  int Wait(bool kill) {
    if (kill) ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

TEST(RocksStoreTest, RefusesADirectoryOpenByAnotherProcess) {
  TempDir tmp;
  Helper holder({"write", tmp.path(), "0"});
  ASSERT_EQ(holder.ReadByte(), 'R');
  absl::StatusOr<std::unique_ptr<RocksStore>> second =
      RocksStore::Open(RocksStoreOptions{.dir = tmp.path()});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  // RocksDB's reason: "IO error: While lock file: DIR/LOCK: Resource
  // temporarily unavailable".
  EXPECT_EQ(std::string(second.status().message()),
            absl::StrCat("cannot open state directory ", tmp.path(),
                         ": IO error: While lock file: ", tmp.path(),
                         "/LOCK: Resource temporarily unavailable"));
}

TEST(RocksStoreTest, RefusesAReadOnlyDirectory) {
  TempDir tmp;
  const std::string dir = tmp.Sub("readonly");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0500), 0);
  const std::string expected_prefix =
      absl::StrCat("cannot open state directory ", dir, ": ");

  if (::geteuid() != 0) {
    absl::StatusOr<std::unique_ptr<RocksStore>> store =
        RocksStore::Open(RocksStoreOptions{.dir = dir});
    ASSERT_FALSE(store.ok());
    EXPECT_THAT(std::string(store.status().message()), StartsWith(expected_prefix));
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("Permission denied"));
    return;
  }
  // Root ignores the mode bits, so try as "nobody" in a child process, which
  // owns the directory (and may traverse /tmp/...) but has only r-x on it.
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0711), 0);
  ASSERT_EQ(::chown(dir.c_str(), kNobody, kNobody), 0);
  Helper child({"open", dir}, kNobody);
  const std::string printed = child.ReadAll();
  const int status = child.Wait(/*kill=*/false);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 126) {
    GTEST_SKIP() << "running as root and cannot switch to uid " << kNobody
                 << ", so a 0500 directory does not stop writes";
  }
  EXPECT_EQ(WEXITSTATUS(status), 1) << printed;
  EXPECT_THAT(printed, HasSubstr(expected_prefix));
  EXPECT_THAT(printed, HasSubstr("Permission denied"));
}

// Kills a writer at a random moment and checks that every WriteSet is either
// wholly present or wholly absent, and that every acknowledged one is present.
class RocksStoreCrashTest : public ::testing::TestWithParam<int> {};

TEST_P(RocksStoreCrashTest, KillDuringWritesLosesNoAcknowledgedWriteAndSplitsNone) {
  constexpr int kWrites = 200;
  TempDir tmp;
  const unsigned seed = std::random_device()();
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937 rng(seed);
  // A sync write takes ~0.2 ms here, so the extra delay lets the writer run
  // about two more writes: the kill lands mid-stream, at any point of a write.
  const int kill_after = std::uniform_int_distribution<int>(1, kWrites - 20)(rng);
  const int extra_delay_us = std::uniform_int_distribution<int>(0, 500)(rng);

  int acknowledged = 0;
  {
    Helper writer({"write", tmp.path(), absl::StrCat(kWrites)});
    ASSERT_EQ(writer.ReadByte(), 'R');
    while (acknowledged < kill_after) {
      ASSERT_EQ(writer.ReadByte(), 'W') << "writer died after " << acknowledged;
      ++acknowledged;
    }
    ::usleep(extra_delay_us);
    const int status = writer.Wait(/*kill=*/true);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    // Writes acknowledged between our last read and the kill.
    while (writer.ReadByte() == 'W') ++acknowledged;
  }

  auto store = OpenOrDie(tmp.path());
  ASSERT_NE(store, nullptr);
  int present = 0;
  for (int i = 0; i < kWrites; ++i) {
    const bool counter = store->Get(Family::kCounters, absl::StrCat("k", i)).ok();
    const bool offset = store->Get(Family::kOffsets, absl::StrCat("o", i)).ok();
    EXPECT_EQ(counter, offset) << "write " << i << " is split";
    if (i < acknowledged) {
      EXPECT_TRUE(counter) << "acknowledged write " << i << " lost";
    }
    // Writes are sequential, so what survives is a prefix.
    if (counter) {
      EXPECT_EQ(i, present++) << "write " << i << " survived after a gap";
    }
  }
  // At most the one write in flight at the kill may have landed unacknowledged.
  EXPECT_GE(present, acknowledged);
  EXPECT_LE(present, std::min(acknowledged + 1, kWrites));
  std::printf("killed after %d acknowledged writes; %d present after reopen\n",
              acknowledged, present);
}

INSTANTIATE_TEST_SUITE_P(FiveKills, RocksStoreCrashTest, ::testing::Range(0, 5));

}  // namespace
}  // namespace prodops::state
