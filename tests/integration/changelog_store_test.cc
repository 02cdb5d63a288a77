// ChangelogStore on librdkafka's mock cluster, over two RocksDB stores that
// stand for two processes: what one writes for a task, the other restores
// when it acquires the task, and only what it lacks.
#include "daemon/ingest/changelog_store.h"

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "daemon/state/rocks_store.h"
#include "gtest/gtest.h"
#include "tests/integration/mock_kafka.h"
#include "tests/support/temp_dir.h"

namespace prodops {
namespace {

using ingest::ChangelogStore;
using state::Family;
using state::TaskId;
using state::TaskPrefix;
using state::WriteSet;

constexpr char kPrefix[] = "app";
constexpr int kTasks = 2;

// Every entry of `task` in every family that holds tasks.
using Entries = std::map<std::pair<Family, std::string>, std::string>;
Entries TaskEntries(const state::StateStore& store, TaskId task) {
  Entries entries;
  for (Family family : state::kTaskFamilies) {
    EXPECT_TRUE(store
                    .Scan(family, TaskPrefix(task),
                          [&](std::string_view key, std::string_view value) {
                            entries[{family, std::string(key)}] = value;
                            return absl::OkStatus();
                          })
                    .ok());
  }
  return entries;
}

// A process's state: its own RocksDB, with the changelog over it.
struct Process {
  testing::TempDir dir;
  std::unique_ptr<state::RocksStore> local;
  std::unique_ptr<ChangelogStore> store;
};

class ChangelogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::pair<std::string, int>> topics;
    for (const ingest::TopicSpec& spec : ChangelogStore::Topics(kPrefix, kTasks, -1, 0)) {
      topics.emplace_back(spec.name, spec.partitions);
    }
    absl::StatusOr<testing::MockKafka> kafka = testing::StartMockKafka(1, topics);
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
  }

  std::unique_ptr<Process> StartProcess() {
    auto process = std::make_unique<Process>();
    absl::StatusOr<std::unique_ptr<state::RocksStore>> local =
        state::RocksStore::Open({.dir = process->dir.path()});
    EXPECT_TRUE(local.ok()) << local.status();
    process->local = *std::move(local);
    ingest::ChangelogOptions options;
    options.topic_prefix = kPrefix;
    options.bootstrap_servers = kafka_.cluster->bootstrap_servers();
    options.timeout_ms = 10'000;
    absl::StatusOr<std::unique_ptr<ChangelogStore>> store =
        ChangelogStore::Create(options, process->local.get());
    EXPECT_TRUE(store.ok()) << store.status();
    process->store = *std::move(store);
    return process;
  }

  testing::MockKafka kafka_;
};

std::string Key(TaskId task, std::string_view own) {
  return TaskPrefix(task) + std::string(own);
}

TEST_F(ChangelogStoreTest, ATaskWrittenByOneProcessIsRestoredByAnother) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_TRUE(a->store->AcquireTask(1).ok());
  WriteSet first;
  first.Put(Family::kCounters, Key(1, "events"), "7");
  first.Put(Family::kTickets, Key(1, "T-1"), "open");
  first.Put(Family::kTickets, Key(1, "T-2"), "open");
  first.Put(Family::kSignals, Key(1, "member"), "");  // empty, not deleted
  first.Put(Family::kBuckets, Key(1, "b/10"), "x");
  first.Put(Family::kBuckets, Key(1, "b/20"), "y");
  first.Put(Family::kOffsets, Key(1, "usage"), "42");
  first.Put(Family::kMeta, "process-own", "kept local");
  ASSERT_TRUE(a->store->Write(first).ok());
  WriteSet second;
  second.Put(Family::kCounters, Key(1, "events"), "9");
  second.Delete(Family::kTickets, Key(1, "T-1"));
  second.Put(Family::kBuckets, Key(1, "b/15"), "z");  // put, then deleted by the range
  second.DeleteRange(Family::kBuckets, Key(1, "b/"), Key(1, "b/16"));
  ASSERT_TRUE(a->store->Write(second).ok());
  // 7 puts (the meta one stays local), then 2 puts, a delete, and the range
  // delete's 2 tombstones: b/10 from the store, b/15 from the same write.
  EXPECT_EQ(a->store->stats().records_written, 12u);
  // Written to the local store as well.
  const Entries expected = TaskEntries(*a->local, 1);
  EXPECT_EQ(expected.size(), 5u);
  EXPECT_FALSE(expected.contains({Family::kTickets, Key(1, "T-1")}));
  EXPECT_FALSE(expected.contains({Family::kBuckets, Key(1, "b/10")}));

  std::unique_ptr<Process> b = StartProcess();
  ASSERT_TRUE(b->store->AcquireTask(1).ok());
  EXPECT_EQ(TaskEntries(*b->local, 1), expected);
  EXPECT_EQ(b->store->stats().records_restored, 12u);
  EXPECT_EQ(b->store->stats().restores, 1u);
  EXPECT_EQ(b->store->stats().restore_remaining, 0);
  // The process's own state is not handed over.
  EXPECT_TRUE(absl::IsNotFound(b->local->Get(Family::kMeta, "process-own").status()));
}

TEST_F(ChangelogStoreTest, OnlyTheHolderOfATaskWritesIt) {
  std::unique_ptr<Process> a = StartProcess();
  WriteSet change;
  change.Put(Family::kCounters, Key(0, "events"), "1");
  const absl::Status not_held = a->store->Write(change);
  EXPECT_TRUE(absl::IsFailedPrecondition(not_held)) << not_held;
  EXPECT_TRUE(TaskEntries(*a->local, 0).empty()) << "nothing is written locally either";

  ASSERT_TRUE(a->store->AcquireTask(0).ok());
  ASSERT_TRUE(a->store->Write(change).ok());
  a->store->ReleaseTask(0);
  const absl::Status released = a->store->Write(change);
  EXPECT_TRUE(absl::IsFailedPrecondition(released)) << released;
}

TEST_F(ChangelogStoreTest, ACurrentLocalCopyReadsNothingAndAStaleOneOnlyItsTail) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_TRUE(a->store->AcquireTask(1).ok());
  WriteSet first;
  for (int i = 0; i < 100; ++i) {
    first.Put(Family::kDedup, Key(1, "event-" + std::to_string(i)), "t");
  }
  ASSERT_TRUE(a->store->Write(first).ok());
  a->store->ReleaseTask(1);
  ASSERT_TRUE(a->store->AcquireTask(1).ok());
  EXPECT_EQ(a->store->stats().records_restored, 0u) << "its own copy is current";
  a->store->ReleaseTask(1);

  std::unique_ptr<Process> b = StartProcess();
  ASSERT_TRUE(b->store->AcquireTask(1).ok());
  EXPECT_EQ(b->store->stats().records_restored, 100u);
  WriteSet more;
  more.Put(Family::kDedup, Key(1, "event-100"), "t");
  more.Delete(Family::kDedup, Key(1, "event-0"));
  ASSERT_TRUE(b->store->Write(more).ok());
  b->store->ReleaseTask(1);

  ASSERT_TRUE(a->store->AcquireTask(1).ok());
  EXPECT_EQ(a->store->stats().records_restored, 2u) << "only the records b added";
  EXPECT_EQ(TaskEntries(*a->local, 1), TaskEntries(*b->local, 1));
  EXPECT_EQ(TaskEntries(*a->local, 1).size(), 100u);
}

TEST_F(ChangelogStoreTest, AnEmptyChangelogIsSeededWithTheLocalState) {
  // State written before the changelog was turned on.
  std::unique_ptr<Process> a = StartProcess();
  WriteSet before;
  before.Put(Family::kCounters, Key(0, "events"), "5");
  before.Put(Family::kOffsets, Key(0, "usage"), "5");
  ASSERT_TRUE(a->local->Write(before).ok());
  ASSERT_TRUE(a->store->AcquireTask(0).ok());
  EXPECT_EQ(a->store->stats().records_written, 2u);

  std::unique_ptr<Process> b = StartProcess();
  ASSERT_TRUE(b->store->AcquireTask(0).ok());
  EXPECT_EQ(TaskEntries(*b->local, 0), TaskEntries(*a->local, 0));
  EXPECT_EQ(TaskEntries(*b->local, 0).size(), 2u);
}

TEST_F(ChangelogStoreTest, ALocalCopyOfUnknownAgeIsReplacedByTheChangelog) {
  std::unique_ptr<Process> a = StartProcess();
  ASSERT_TRUE(a->store->AcquireTask(1).ok());
  WriteSet change;
  change.Put(Family::kCounters, Key(1, "events"), "3");
  ASSERT_TRUE(a->store->Write(change).ok());

  std::unique_ptr<Process> b = StartProcess();
  WriteSet stale;  // no changelog position: from before the changelog
  stale.Put(Family::kCounters, Key(1, "events"), "1");
  stale.Put(Family::kTickets, Key(1, "T-gone"), "open");
  stale.Put(Family::kCounters, Key(0, "other task"), "1");
  ASSERT_TRUE(b->local->Write(stale).ok());
  ASSERT_TRUE(b->store->AcquireTask(1).ok());
  EXPECT_EQ(TaskEntries(*b->local, 1), TaskEntries(*a->local, 1));
  EXPECT_EQ(TaskEntries(*b->local, 0).size(), 1u) << "another task is left alone";
}

}  // namespace
}  // namespace prodops
